"""Render objects repeated in many namespaces once, then stamp each namespace into the text.

A fan-out to 10,000 namespaces is 20,000 objects that differ only in their namespace.
Rendering and reading back each of them took 90% of such a run. Here each group of objects
a namespace gets (its pull copy and ServiceAccounts) is rendered and read back once with a
stand-in namespace; the file is that text with each real namespace written where the
stand-in was, produced a few hundred namespaces at a time and never held whole.

Why one read-back covers every namespace:

1. The text of a group depends on its namespace only through `{{ obj.namespace | q }}`:
   it is fixed text with the quoted namespace in fixed places. The group is rendered with
   two stand-ins, and the second render must equal the first split at the stand-in and
   joined with the second's quoted form. That finds the places, and only them: a stand-in
   that also occurs elsewhere (a `--name` that happens to spell it), or a template that used
   the namespace some other way, fails the comparison, and the file is rendered object by
   object as before.
2. Every namespace is a DNS label (a-z, 0-9 and '-', checked again here), so `q` writes it
   as one of two tokens: the bare label, when YAML reads that as a string
   (`team-a`), or the label in double quotes, when it would not (`"123"`, `"true"`,
   `"2024-01-31"`). Neither can hold a quote, a backslash, ': ', ' #', a space or a line
   break, so neither can end the scalar early, start another, or change how the lines
   around it are read. The stand-ins are one of each (`gen-secret-namespace-stand-in`
   bare, `1234567890` quoted), and both renders are read back: what varies from namespace
   to namespace is a token of a kind that was read back, in a place that was read back.
3. Namespaces are joined with `---` document markers as the object-by-object path joins
   them, and both renders of every group are read back as one stream, so the join is read
   back too.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

from generator.errors import InternalError
from generator.model.names import is_dns_label
from generator.plan.namespaced import PerNamespace
from generator.render.templates import check_reads_back, environment, yaml_quote

STAND_IN = "gen-secret-namespace-stand-in"  # a DNS label `q` leaves bare
QUOTED_STAND_IN = "1234567890"  # a DNS label YAML would read as a number: `q` quotes it
STAMP_FROM = 16  # namespaces; fewer render as fast object by object
_CHUNK = 256  # namespaces per piece of output: large enough to amortise a write
_SEPARATOR = "---\n"

Group = tuple[int, ...]  # which of PerNamespace.objects a namespace takes


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class StampedText:
    """A file's text: for each namespace, its group's text with the namespace stamped in."""

    rows: PerNamespace
    # Each namespace as it is written into the text: the bare label or the label in quotes.
    tokens: tuple[str, ...]
    # Each group's text, split where the namespace goes.
    shapes: Mapping[Group, tuple[str, ...]]

    def chunks(self) -> Iterator[str]:
        """The text in pieces, each ending at the end of a namespace's objects."""
        rows = self.rows
        default = self.shapes[rows.every]
        special = {name: self.shapes[group] for name, group in rows.exceptions.items()}
        pieces: list[str] = []
        lead = ""
        for namespace, token in zip(rows.namespaces, self.tokens, strict=True):
            pieces.append(token.join(special.get(namespace, default)))
            if len(pieces) == _CHUNK:
                yield lead + _SEPARATOR.join(pieces)
                pieces, lead = [], _SEPARATOR
        if pieces:
            yield lead + _SEPARATOR.join(pieces)

    def byte_chunks(self) -> Iterator[bytes]:
        return (chunk.encode("utf-8") for chunk in self.chunks())

    @functools.cached_property
    def byte_size(self) -> int:
        """Its length in UTF-8, without producing it: the tokens are ASCII."""
        fixed = {g: (len("".join(p).encode("utf-8")), len(p) - 1) for g, p in self.shapes.items()}
        rows = self.rows
        total = len(_SEPARATOR) * (len(rows.namespaces) - 1)
        for namespace, token in zip(rows.namespaces, self.tokens, strict=True):
            size, slots = fixed[rows.indexes(namespace)]
            total += size + slots * len(token)
        return total

    def __str__(self) -> str:
        return "".join(self.chunks())


def stamp(rows: PerNamespace) -> StampedText | None:
    """The file's text, from one render per group; None when it must be rendered object by
    object: too few namespaces to gain, or a group whose namespace places were not found."""
    if len(rows.namespaces) < STAMP_FROM:
        return None
    groups = {rows.every, *rows.exceptions.values()}
    shapes: dict[Group, tuple[str, ...]] = {}
    texts: list[str] = []
    expected: list[object] = []
    for group in groups:
        bare, quoted = (_render_group(rows, group, n) for n in (STAND_IN, QUOTED_STAND_IN))
        parts = tuple(bare.split(STAND_IN))
        if yaml_quote(QUOTED_STAND_IN).join(parts) != quoted:
            return None
        shapes[group] = parts
        texts += (bare, quoted)
        expected += [
            replace(rows.objects[i], namespace=n).expected()
            for n in (STAND_IN, QUOTED_STAND_IN)
            for i in group
        ]
    check_reads_back(_SEPARATOR.join(texts), expected)
    return StampedText(rows, tuple(map(namespace_token, rows.namespaces)), shapes)


def namespace_token(namespace: str) -> str:
    """How a namespace is written into the text; only a DNS label gets here, whatever the
    callers checked, since the soundness of the one read-back rests on it."""
    token = yaml_quote(namespace)
    if not is_dns_label(namespace) or token not in (namespace, f'"{namespace}"'):
        raise InternalError("a namespace to fan out to is not a DNS label")
    return token


def _render_group(rows: PerNamespace, group: Group, namespace: str) -> str:
    env = environment()
    objects = (replace(rows.objects[i], namespace=namespace) for i in group)
    return _SEPARATOR.join(env.get_template(o.TEMPLATE).render(obj=o) for o in objects)
