"""Show `inspect` and `match` results: plain text, JSON, or rich tables on a terminal."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TextIO

from generator.names import printable

if TYPE_CHECKING:
    from generator.clusterfile import Credentials
    from generator.inspect import CaSummary, Summary
    from generator.matching import MatchResult


def to_json(value: object) -> str:
    """Stable JSON: sorted keys, two-space indent, UTF-8 text, one trailing newline.

    A character a terminal would act on (a control or bidirectional-override character) is
    written as a \\u escape: the same string to a JSON reader, inert on a screen.
    """
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return _NOT_ASCII.sub(_json_escape, text)


# Outside strings JSON is printable ASCII and line breaks; json.dumps escapes C0 itself.
_NOT_ASCII = re.compile(r"[^\x20-\x7e\n]")


def _json_escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch.isprintable() or "\udc80" <= ch <= "\udcff":
        return ch
    code = ord(ch)
    if code > 0xFFFF:  # a surrogate pair, as JSON spells a character outside the BMP
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def _password(summary: Summary) -> str:
    if summary.password is None:
        return "(none)"
    return summary.password or "(empty)"


def _ca(ca: CaSummary) -> str:
    if ca.status == "given":
        return f"{ca.file} (--ca-file)"
    if ca.status == "found":
        return f"{ca.file}"
    if ca.status == "insecure":
        return "none: the registry is insecure (no TLS)"
    return "none found; looked in " + ", ".join(ca.searched)


def _on(flag: bool | None) -> str:
    return "-" if flag is None else ("on" if flag else "off")


def inspect_rows(summary: Summary) -> list[tuple[str, str]]:
    """(field, value) pairs, in reading order, every value escaped for a terminal."""
    rows = [
        ("Cluster", summary.cluster),
        ("Clusterfile", summary.source),
        ("Secret", f"{summary.secret_namespace}/{summary.secret_name}"),
        ("Registry", summary.registry),
        ("Username", summary.username or "(none)"),
        ("Password", _password(summary)),
        ("CA file", _ca(summary.ca)),
        ("auths keys", ", ".join(summary.auths)),
        ("Data keys", ", ".join(summary.data_keys)),
    ]
    return [(field, printable(value)) for field, value in rows]


def registry_rows(summary: Summary) -> list[tuple[str, str, str, str, str]]:
    """(role, url, TLS, HA, place in the Secret) for every registry of the cluster."""
    rows = []
    for r in summary.registries:
        if r.main:
            place = "the Secret's registry"
        elif r.in_auths:
            place = "in auths"
        else:
            place = "not in the Secret (no credentials)"
        rows.append((r.role, printable(r.url), _on(r.tls), _on(r.ha), place))
    return rows


def inspect_text(summary: Summary) -> str:
    """Aligned `field: value` lines, then one line per registry: for grep and logs."""
    rows = inspect_rows(summary)
    width = max(len(field) for field, _ in rows) + 1
    lines = [f"{field + ':':<{width}} {value}" for field, value in rows]
    lines.append("Registries:")
    for role, url, tls, ha, place in registry_rows(summary):
        lines.append(f"  {role:<8} {url}  TLS {tls}  HA {ha}  {place}")
    return "\n".join(lines) + "\n"


def print_inspect_table(summary: Summary, file: TextIO) -> None:
    """The summary as two rich tables, for a terminal."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=file, highlight=False)
    table = Table(
        title=Text(f"Secret {summary.secret_namespace}/{summary.secret_name}"), show_header=False
    )
    table.add_column("Field", style="bold")
    table.add_column("Value", overflow="fold")
    # Text, not markup: a value holding `[bold]` or `[link=...]` is shown as it is.
    for field, value in inspect_rows(summary):
        table.add_row(field, Text(value))
    console.print(table)
    registries = Table(title="Registries")
    for header in ("Role", "URL", "TLS", "HA", "In the Secret"):
        registries.add_column(header)
    for row in registry_rows(summary):
        registries.add_row(*(Text(cell) for cell in row))
    console.print(registries)


def match_dict(result: MatchResult, entries: Mapping[str, Credentials | None]) -> dict[str, object]:
    """One image's result in the JSON shape of `match --output json`."""
    return {
        "image": result.image.original,
        "normalised": result.image.canonical,
        "lookup": result.image.name,
        "served": result.served,
        "keys": list(result.used),
        "anonymous": [k for k in result.used if entries.get(k) is None],
        "dockerHubFallback": result.docker_hub_fallback,
        "verdicts": [
            {
                "key": v.key,
                "normalised": v.normalised,
                "used": v.used,
                "reasons": list(v.reasons),
                "note": v.note,
            }
            for v in result.verdicts
        ],
    }


def match_text(results: Sequence[MatchResult], entries: Mapping[str, Credentials | None]) -> str:
    """Per image: the key(s) the kubelet uses, or every key with the reasons it does not match."""
    lines: list[str] = []
    for result in results:
        image = result.image
        head = image.original
        if image.canonical != image.original:
            head += f" ({image.canonical})"
        if result.served:
            used = ", ".join(_used(key, result, entries) for key in result.used)
            lines.append(f"{head}: served by {used}")
            continue
        lines.append(
            f"{head}: NOT SERVED, no auths key matches: the kubelet pulls without credentials"
        )
        for verdict in result.verdicts:
            lines.append(f"  {verdict.key}: {'; '.join(verdict.reasons)}")
    return "".join(printable(line) + "\n" for line in lines)


def _used(key: str, result: MatchResult, entries: Mapping[str, Credentials | None]) -> str:
    text = key
    if result.docker_hub_fallback:
        text += " (the kubelet's Docker Hub fallback)"
    if entries.get(key) is None:
        text += " (no credentials: an anonymous pull)"
    return text
