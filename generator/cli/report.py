"""Show `inspect` and `match` results: plain text, JSON, or rich tables on a terminal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from generator.model.names import printable

# One JSON style for every command: render's, inspect's and match's.
from generator.render.jsonout import to_json as to_json

if TYPE_CHECKING:
    from generator.model.authsources import AuthEntries
    from generator.model.matching import MatchResult
    from generator.plan.summary import CaSummary, Summary


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
        ("Cluster", summary.cluster or "(no metadata.name)"),
        ("Clusterfile", summary.source),
        ("Read as", summary.read_as),
        ("Secret", f"{summary.secret_namespace}/{summary.secret_name}"),
        ("Registry", summary.registry),
        ("Username", summary.username or "(none)"),
        ("Password", _password(summary)),
        ("CA file", _ca(summary.ca)),
        ("auths keys", ", ".join(_with_source(key, summary) for key in summary.auths)),
        ("Data keys", ", ".join(summary.data_keys)),
    ]
    return [(field, printable(value)) for field, value in rows]


def _with_source(key: str, summary: Summary) -> str:
    source = dict(summary.auth_sources).get(key)
    return f"{key} (from {_source(source)})" if source else key


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


def match_dict(result: MatchResult, entries: AuthEntries) -> dict[str, object]:
    """One image's result in the JSON shape of `match --output json`."""
    from generator.model.authsources import is_anonymous

    return {
        "image": result.image.original,
        "normalised": result.image.canonical,
        "lookup": result.image.name,
        "served": result.served,
        "keys": list(result.used),
        "anonymous": [k for k in result.used if is_anonymous(entries.entries.get(k))],
        "dockerHubFallback": result.docker_hub_fallback,
        "credentials": [
            {"key": key, "try": turn, "username": username, "source": source}
            for turn, key, username, source in tries(result, entries)
        ],
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


def tries(result: MatchResult, entries: AuthEntries) -> list[tuple[int, str, str | None, str]]:
    """(turn, key, username, source) of every login the kubelet tries for the image, in order.

    Keys the kubelet files under one registry (`sea.hub:5000`, `https://sea.hub:5000`) share
    a turn: it tries them one after the other, in an order Go's map iteration picks.
    """
    from generator.model.authsources import entry_username

    turns: dict[str | None, int] = {}
    out = []
    for verdict in result.verdicts:
        if not verdict.used:
            continue
        turn = turns.setdefault(verdict.normalised, len(turns) + 1)
        entry = entries.entries.get(verdict.key)
        source = entries.sources.get(verdict.key, "")
        out.append((turn, verdict.key, entry_username(entry), source))
    return out


def match_text(results: Sequence[MatchResult], entries: AuthEntries) -> str:
    """Per image: the key(s) the kubelet uses, or every key with the reasons it does not match.

    When more than one login serves an image, or one that is not the Clusterfile's, every
    login follows in the order the kubelet tries them.
    """
    from generator.model.authsources import CLUSTERFILE

    lines: list[str] = []
    for result in results:
        image = result.image
        head = image.original
        if image.canonical != image.original:
            head += f" ({image.canonical})"
        if result.served:
            used = ", ".join(_used(key, result, entries) for key in result.used)
            lines.append(f"{head}: served by {used}")
            logins = tries(result, entries)
            if len(logins) > 1 or any(source != CLUSTERFILE for *_, source in logins):
                lines.append("  the kubelet tries each login in turn until a pull succeeds:")
                for turn, key, username, source in logins:
                    user = f"user {username}" if username else "no login"
                    lines.append(f"  {turn}. {key}: {user}, from {_source(source)}")
                if len({turn for turn, *_ in logins}) < len(logins):
                    lines.append(
                        "  (one number, one registry to the kubelet: it tries those in either "
                        "order)"
                    )
            continue
        lines.append(
            f"{head}: NOT SERVED, no auths key matches: the kubelet pulls without credentials"
        )
        for verdict in result.verdicts:
            lines.append(f"  {verdict.key}: {'; '.join(verdict.reasons)}")
    return "".join(printable(line) + "\n" for line in lines)


def _source(source: str) -> str:
    from generator.model.authsources import CLUSTERFILE, PREVIOUS

    if source in (CLUSTERFILE, PREVIOUS):
        return f"the {source}"
    return source


def _used(key: str, result: MatchResult, entries: AuthEntries) -> str:
    from generator.model.authsources import is_anonymous

    text = key
    if result.docker_hub_fallback:
        text += " (the kubelet's Docker Hub fallback)"
    if is_anonymous(entries.entries.get(key)):
        text += " (no credentials: an anonymous pull)"
    return text
