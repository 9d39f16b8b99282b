"""The -o/--output formats of each command, checked with messages that say what to type instead.

kubectl, helm and kubeseal read `-o` as the output format, so gen-secret does too. The values
are checked here rather than by typer, for what typer cannot do: a message for `-o DIR`,
which wrote a folder before `-o` became the format.
"""

from __future__ import annotations

from generator.defaults import RenderFormat
from generator.errors import UsageError

RENDER_FORMATS: tuple[RenderFormat, ...] = ("yaml", "json")


def render_format(value: str) -> RenderFormat:
    """yaml or json; anything else is most likely a folder, written the way -o used to take it."""
    if value not in RENDER_FORMATS:
        # The value is not quoted back: it may be anything typed in the wrong place.
        raise UsageError(
            "-o/--output is the output format now, yaml or json; "
            "write files to a folder with --out DIR or -w DIR"
        )
    return value
