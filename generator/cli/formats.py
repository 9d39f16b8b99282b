"""The -o/--output formats of each command, checked with messages that say what to type instead.

kubectl, helm and kubeseal read `-o` as the output format, so gen-secret does too. The values
are checked here rather than by typer, for two things typer cannot do: a hidden alias (the old
`text` of inspect and match, kept so existing scripts still run) and a message for `-o DIR`,
which wrote a folder before `-o` became the format.
"""

from __future__ import annotations

from typing import Literal, cast

from generator.defaults import RenderFormat
from generator.errors import UsageError

InspectFormat = Literal["table", "plain", "json"]
MatchFormat = Literal["plain", "json"]
CheckFormat = Literal["text", "json"]

RENDER_FORMATS: tuple[RenderFormat, ...] = ("yaml", "json")
INSPECT_FORMATS: tuple[InspectFormat, ...] = ("table", "plain", "json")
MATCH_FORMATS: tuple[MatchFormat, ...] = ("plain", "json")
CHECK_FORMATS: tuple[CheckFormat, ...] = ("text", "json")
# `text` was inspect's and match's only non-JSON format: a table on a terminal, plain lines
# elsewhere, which is what inspect does without -o; match only ever printed plain lines.
LEGACY_TEXT = "text"


def render_format(value: str) -> RenderFormat:
    """yaml or json; anything else is most likely a folder, written the way -o used to take it."""
    if value not in RENDER_FORMATS:
        # The value is not quoted back: it may be anything typed in the wrong place.
        raise UsageError(
            "-o/--output is the output format now, yaml or json; "
            "write files to a folder with --out DIR or -w DIR"
        )
    return value


def inspect_format(value: str | None) -> InspectFormat | None:
    """table, plain or json; None (no -o, or the old `text`) picks by where stdout goes."""
    if value is None or value == LEGACY_TEXT:
        return None
    return cast(InspectFormat, _choose(value, INSPECT_FORMATS))


def match_format(value: str) -> MatchFormat:
    """plain or json; the old `text` is plain."""
    if value == LEGACY_TEXT:
        return "plain"
    return cast(MatchFormat, _choose(value, MATCH_FORMATS))


def check_format(value: str) -> CheckFormat:
    """text (a masked unified diff) or json."""
    return cast(CheckFormat, _choose(value, CHECK_FORMATS))


def _choose(value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise UsageError(f"-o/--output must be {', '.join(choices[:-1])} or {choices[-1]}")
    return value
