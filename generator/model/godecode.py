"""Decode a YAML value into a Go type the way sealer does: sigs.k8s.io/yaml, then encoding/json.

sealer turns each document into JSON and unmarshals it into its Go structs. What that accepts
decides whether sealer reads a Clusterfile at all, so gen-secret checks the same types:
- a field of the wrong kind is an error (a list where a string belongs, text where a number
  belongs), anywhere in a struct sealer decodes, not only in the fields gen-secret uses;
- keys match field names exactly, else ignoring case, and unknown keys are ignored;
- a number or boolean is turned into text where the Go field is a string, except in fields that
  sealer's structs inherit from an embedded struct (sigs.k8s.io/yaml looks up the embedded
  struct, not the field, so no conversion happens: `password: 123` in `localRegistry` fails);
- null is always accepted and leaves the field unset.

The result is a new Document holding only the known fields under their Go names, so the rest
of the reader looks fields up by exact name and still reports the line of the user's key.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Mapping
from typing import Any, cast

from generator.errors import GenSecretError
from generator.model.safeyaml import Document, Path


# Plain classes, not dataclasses: nine frozen dataclasses cost 4 ms of every start, and a type
# here is only ever told apart by its class.
class _GoType:
    __slots__ = ()

    def __repr__(self) -> str:
        names: tuple[str, ...] = self.__slots__
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in names if not n.startswith("_"))
        return f"{type(self).__name__}({shown})"


class Text(_GoType):
    """A Go string. `converts`: whether sigs.k8s.io/yaml turns numbers and booleans into text."""

    __slots__ = ("converts",)

    def __init__(self, converts: bool = True) -> None:
        self.converts = converts


class Number(_GoType):
    """A Go integer."""

    __slots__ = ()


class Boolean(_GoType):
    """A Go bool."""

    __slots__ = ()


class IPAddress(_GoType):
    """A Go net.IP: text that parses as an IPv4 or IPv6 address, or empty."""

    __slots__ = ()


class Timestamp(_GoType):
    """A metav1.Time: RFC 3339 text."""

    __slots__ = ()


class Anything(_GoType):
    """A field whose value sealer never checks (or a type too large to model): kept as given."""

    __slots__ = ()


class ListOf(_GoType):
    __slots__ = ("item",)

    def __init__(self, item: GoType) -> None:
        self.item = item


class MapOf(_GoType):
    __slots__ = ("value",)

    def __init__(self, value: GoType) -> None:
        self.value = value


class Struct(_GoType):
    """A Go struct: JSON field names to their types."""

    __slots__ = ("_folded", "fields")

    def __init__(self, fields: Mapping[str, GoType]) -> None:
        self.fields = fields
        # Each field by its name in lower case; the first of names equal ignoring case.
        self._folded: dict[str, str] = {}
        for name in fields:
            self._folded.setdefault(name.lower(), name)

    def field(self, key: str) -> str | None:
        """The Go field a JSON key sets: an exact match, else the first one equal ignoring case."""
        if key in self.fields:
            return key
        return self._folded.get(key.lower())


GoType = Text | Number | Boolean | IPAddress | Timestamp | Anything | ListOf | MapOf | Struct

STRING = Text()
INHERITED_STRING = Text(converts=False)
NUMBER = Number()
BOOLEAN = Boolean()
ANYTHING = Anything()


def decode_document(document: Document, go_type: GoType) -> Document:
    """The document as sealer's Go decoder sees it, or the first field that decoder rejects."""
    lines: dict[Path, int] = {}
    blocks: set[Path] = set()
    value = _Decoder(document, lines, blocks).decode(document.value, go_type, (), ())
    return Document(
        value,
        document.source,
        lines,
        document.line_offset,
        frozenset(blocks),
        document.duplicate_keys,
    )


class _Decoder:
    def __init__(self, document: Document, lines: dict[Path, int], blocks: set[Path]) -> None:
        self.document = document
        self.lines = lines
        self.blocks = blocks

    def decode(self, value: Any, go_type: GoType, path: Path, original: Path) -> Any:
        # Runs for every node of every document: `type() is` tests first, for speed.
        line = self.document.lines.get(original)
        if line is not None:
            self.lines[path] = line
        if original in self.document.block_scalars:
            self.blocks.add(path)
        kind = type(go_type)
        if value is None or kind is Anything:
            return value
        if kind is Text and type(value) is str:
            return value
        if kind is Struct:
            struct = cast(Struct, go_type)
            if not isinstance(value, dict):
                raise self.wrong(value, "a mapping", original)
            out: dict[str, Any] = {}
            fields = struct.fields
            # encoding/json sees the keys sorted (they went through a Go map); the last one
            # that sets a field wins, so `Domain` then `domain` leaves `domain`.
            for key in sorted(value, key=go_key):
                spelt = go_key(key)
                name = spelt if spelt in fields else struct.field(spelt)
                if name is not None:
                    child = (*path, name)
                    out[name] = self.decode(value[key], fields[name], child, (*original, key))
            return out
        if isinstance(go_type, MapOf):
            if not isinstance(value, dict):
                raise self.wrong(value, "a mapping", original)
            return {
                go_key(k): self.decode(v, go_type.value, (*path, go_key(k)), (*original, k))
                for k, v in value.items()
            }
        if isinstance(go_type, ListOf):
            if not isinstance(value, list):
                raise self.wrong(value, "a list", original)
            return [
                self.decode(item, go_type.item, (*path, i), (*original, i))
                for i, item in enumerate(value)
            ]
        return self.scalar(value, go_type, original)

    def scalar(self, value: Any, go_type: GoType, original: Path) -> Any:
        if isinstance(go_type, Text):
            if isinstance(value, str):
                return value
            if go_type.converts and isinstance(value, bool | int | float):
                return go_text(value)
            raise self.wrong(value, "a string", original, quote=True)
        if isinstance(go_type, Number):
            if isinstance(value, float) and value.is_integer():
                return int(value)  # YAML's 5000.0 reaches Go's JSON decoder as 5000
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            raise self.wrong(value, "a number", original)
        if isinstance(go_type, Boolean):
            if isinstance(value, bool):
                return value
            raise self.wrong(value, "true or false", original)
        if isinstance(go_type, IPAddress):
            if not isinstance(value, str):
                raise self.wrong(value, "an IP address", original)
            if value and not is_go_ip(value):
                raise GenSecretError(ip_problem(value), self.document.where(original))
            return value
        if isinstance(go_type, Timestamp):
            if not isinstance(value, str) or not re.fullmatch(_RFC3339, value):
                raise GenSecretError(
                    "must be a time such as 2006-01-02T15:04:05Z", self.document.where(original)
                )
            return value
        raise AssertionError(f"unknown Go type {go_type!r}")  # pragma: no cover

    def wrong(
        self, value: object, wanted: str, original: Path, *, quote: bool = False
    ) -> GenSecretError:
        hint = "; put it in quotes" if quote else ""
        return GenSecretError(
            f"must be {wanted}, not {describe(value)}{hint}", self.document.where(original)
        )


def go_key(key: object) -> str:
    """A mapping key as sigs.k8s.io/yaml spells it in JSON."""
    if type(key) is str:  # nearly always
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int | float):
        return go_text(key)
    return str(key)


def go_text(value: bool | int | float) -> str:
    """A number or boolean as sigs.k8s.io/yaml writes it into a string field."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    # Go's FormatFloat(v, 'g', -1, 32): the shortest text that reads back as the same float32.
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    text = f"{value:.9g}"
    for digits in range(1, 10):
        candidate = f"{value:.{digits}g}"
        if _float32(float(candidate)) == _float32(value):
            text = candidate
            break
    mantissa, _, exponent = text.partition("e")
    if not exponent:
        return mantissa
    sign, digits_ = exponent[0], exponent[1:].lstrip("0").rjust(2, "0")
    return f"{mantissa}e{sign}{digits_}"


def _float32(value: float) -> float:
    import struct  # only a float in a string field needs it

    result: float = struct.unpack("f", struct.pack("f", value))[0]
    return result


def describe(value: object) -> str:
    """What YAML made of a value, in words, never the value itself."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a number"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, datetime.date):  # a datetime is a date too
        return "a date"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


_IPV4 = re.compile(r"(?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3}")
# Text until a timestamp is checked (rare): compiling a pattern costs every start.
_RFC3339 = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def ip_problem(text: str) -> str:
    if "%" in text:
        # Go's net.ParseIP refuses it, and the kubelet would ignore an auths key holding one.
        return "not an IP address: an IPv6 zone id (the part from '%') is not allowed"
    return "not an IP address"


def is_go_ip(text: str) -> bool:
    """Whether Go's net.ParseIP takes the text: no leading zeros, no IPv6 zone."""
    if _IPV4.fullmatch(text):
        return all(int(part) <= 255 for part in text.split("."))
    if ":" not in text or "%" in text:
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True
