"""Label selectors as kubectl takes them (`-l`): parse, then match a namespace's labels.

The grammar, the matching rules and the error texts follow apimachinery's
`pkg/labels/selector.go` (Kubernetes 1.32), so a selector means here what it means to
`kubectl get -l`, and a bad one is reported in kubectl's words.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from generator.errors import UsageError
from generator.model.names import shown

# Tokens with a fixed spelling; anything else between symbols and blanks is an identifier.
_SYMBOLS = frozenset("=!(),><")
_BLANKS = " \t\r\n"
_KEYWORDS = {"in", "notin"}
_OPERATOR_TOKENS = {"=": "=", "==": "==", "!=": "!=", ">": "gt", "<": "lt"}
# How kubectl lists the binary operators when it finds none (selector.go's binaryOperators).
_BINARY = "in, notin, =, ==, !=, gt, lt"

_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_NAME_RE = re.compile(_NAME)
_VALUE_RE = re.compile(f"({_NAME})?")
_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_SUBDOMAIN_RE = re.compile(_SUBDOMAIN)
# Validation messages, as apimachinery's validation package words them.
_NAME_RULE = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    f"validation is '{_NAME}')"
)
_VALUE_RULE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    f"'my_value',  or '12345', regex used for validation is '({_NAME})?')"
)
_SUBDOMAIN_RULE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    f"for validation is '{_SUBDOMAIN}')"
)


class SelectorError(UsageError):
    """A selector that does not parse: kubectl's message, the option and what was typed."""


@dataclass(frozen=True)
class Requirement:
    """One comma-separated part: `key op values`."""

    key: str
    operator: str  # in, notin, =, ==, !=, gt, lt, exists, !
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """selector.go's Requirement.Matches."""
        value = labels.get(self.key)
        if self.operator in ("in", "=", "=="):
            return value is not None and value in self.values
        if self.operator in ("notin", "!="):
            return value is None or value not in self.values
        if self.operator == "exists":
            return value is not None
        if self.operator == "!":
            return value is None
        # gt, lt: both sides must be 64-bit integers, else no match
        label, bound = _int64(value), _int64(self.values[0])
        if label is None or bound is None:
            return False
        return label > bound if self.operator == "gt" else label < bound


@dataclass(frozen=True)
class Selector:
    """Requirements that must all hold; the empty selector matches everything."""

    text: str
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)


def parse_selector(text: str, option: str = "--namespace-selector") -> Selector:
    """A selector in kubectl's grammar, or a SelectorError with kubectl's message."""
    try:
        requirements = _Parser(_scan(text)).parse()
    except _ParseError as exc:
        raise SelectorError(str(exc), f"{option} {shown(text)}") from None
    return Selector(text, tuple(sorted(requirements, key=lambda r: r.key)))


class _ParseError(Exception):
    pass


# Token kinds
_ID, _END, _OPEN, _CLOSE, _COMMA, _NOT, _OP, _IN, _NOTIN, _ERROR = range(10)
_FIXED = {"(": _OPEN, ")": _CLOSE, ",": _COMMA, "!": _NOT, "in": _IN, "notin": _NOTIN}


def _scan(text: str) -> list[tuple[int, str]]:
    """selector.go's Lexer: runs of symbols take the longest operator; blanks separate."""
    tokens: list[tuple[int, str]] = []
    pos, size = 0, len(text)
    while True:
        while pos < size and text[pos] in _BLANKS:
            pos += 1
        if pos >= size:
            tokens.append((_END, ""))
            return tokens
        if text[pos] in _SYMBOLS:
            buffer, last = "", None
            while pos < size and text[pos] in _SYMBOLS:
                buffer += text[pos]
                if buffer in _FIXED or buffer in _OPERATOR_TOKENS:
                    last = buffer
                elif last is not None:
                    break
                pos += 1
            if last is None:
                tokens.append((_ERROR, f"error expected: keyword found '{buffer}'"))
            else:
                tokens.append((_FIXED.get(last, _OP), last))
            continue
        start = pos
        while pos < size and text[pos] not in _SYMBOLS and text[pos] not in _BLANKS:
            pos += 1
        word = text[start:pos]
        tokens.append((_FIXED[word] if word in _KEYWORDS else _ID, word))


class _Parser:
    """selector.go's recursive-descent Parser; `in` and `notin` are identifiers as values."""

    def __init__(self, tokens: list[tuple[int, str]]) -> None:
        self.tokens = tokens
        self.position = 0

    def lookahead(self, as_value: bool = True) -> tuple[int, str]:
        kind, literal = self.tokens[self.position]
        return (_ID if as_value and kind in (_IN, _NOTIN) else kind), literal

    def consume(self, as_value: bool = True) -> tuple[int, str]:
        token = self.lookahead(as_value)
        self.position += 1
        return token

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            kind, literal = self.lookahead()
            if kind == _END:
                return requirements
            if kind not in (_ID, _NOT):
                raise _ParseError(f"found '{literal}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self.requirement())
            except _ParseError as exc:
                raise _ParseError(f"unable to parse requirement: {exc}") from None
            kind, literal = self.consume()
            if kind == _END:
                return requirements
            if kind != _COMMA:
                raise _ParseError(f"found '{literal}', expected: ',' or 'end of string'")
            kind, literal = self.lookahead()
            if kind not in (_ID, _NOT):
                raise _ParseError(f"found '{literal}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        negated = False
        kind, literal = self.consume()
        if kind == _NOT:
            negated = True
            kind, literal = self.consume()
        if kind != _ID:
            raise _ParseError(f"found '{literal}', expected: identifier")
        key = literal
        _check_key(key)
        if negated:  # `!key` is whole; whatever follows is the caller's to judge
            return Requirement(key, "!")
        if self.lookahead()[0] in (_END, _COMMA):
            return Requirement(key, "exists")
        operator = self.operator()
        values = self.value_set() if operator in ("in", "notin") else self.exact_value()
        _check_values(key, operator, values)
        return Requirement(key, operator, values)

    def operator(self) -> str:
        kind, literal = self.consume(as_value=False)
        if kind == _IN:
            return "in"
        if kind == _NOTIN:
            return "notin"
        if kind == _OP:
            return _OPERATOR_TOKENS[literal]
        raise _ParseError(f"found '{literal}', expected: {_BINARY}")

    def value_set(self) -> tuple[str, ...]:
        kind, literal = self.consume()
        if kind != _OPEN:
            raise _ParseError(f"found '{literal}' expected: '('")
        kind, literal = self.lookahead()
        if kind == _CLOSE:  # `()` is the empty string, as kubectl reads it
            self.consume()
            return ("",)
        if kind not in (_ID, _COMMA):
            raise _ParseError(f"found '{literal}', expected: ',', ')' or identifier")
        values = self.identifiers()
        if self.consume()[0] != _CLOSE:
            raise _ParseError(f"found '{literal}', expected: ')'")
        return tuple(sorted(values))

    def identifiers(self) -> set[str]:
        """A comma list where an empty place is the empty string: `(a,,b)`, `(,a)`."""
        values: set[str] = set()
        while True:
            kind, literal = self.consume()
            if kind == _ID:
                values.add(literal)
                next_kind, next_literal = self.lookahead()
                if next_kind == _COMMA:
                    continue
                if next_kind == _CLOSE:
                    return values
                raise _ParseError(f"found '{next_literal}', expected: ',' or ')'")
            if kind == _COMMA:
                if not values:
                    values.add("")
                next_kind = self.lookahead()[0]
                if next_kind == _CLOSE:
                    values.add("")
                    return values
                if next_kind == _COMMA:
                    values.add("")
                continue
            raise _ParseError(f"found '{literal}', expected: ',', or identifier")

    def exact_value(self) -> tuple[str, ...]:
        kind, literal = self.lookahead()
        if kind in (_END, _COMMA):  # `a=` means the empty value
            return ("",)
        kind, literal = self.consume()
        if kind == _ID:
            return (literal,)
        raise _ParseError(f"found '{literal}', expected: identifier")


def _check_key(key: str) -> None:
    """apimachinery's IsQualifiedName: `[prefix/]name`."""
    parts = key.split("/")
    errors: list[str] = []
    if len(parts) > 2:
        errors.append(
            f"a qualified name {_NAME_RULE} with an optional DNS subdomain prefix and '/' "
            "(e.g. 'example.com/MyName')"
        )
    else:
        name = parts[-1]
        if len(parts) == 2:
            prefix = parts[0]
            if not prefix:
                errors.append("prefix part must be non-empty")
            else:
                if len(prefix) > 253:
                    errors.append("prefix part must be no more than 253 characters")
                if not _SUBDOMAIN_RE.fullmatch(prefix):
                    errors.append(f"prefix part {_SUBDOMAIN_RULE}")
        if not name:
            errors.append("name part must be non-empty")
        elif len(name) > 63:
            errors.append("name part must be no more than 63 characters")
        if not _NAME_RE.fullmatch(name):
            errors.append(f"name part {_NAME_RULE}")
    if errors:
        raise _ParseError(f"invalid label key {_go_quote(key)}: {'; '.join(errors)}")


def _check_values(key: str, operator: str, values: tuple[str, ...]) -> None:
    if operator in ("gt", "lt"):
        for value in values:
            if _int64(value) is None:
                raise _ParseError(
                    f"values[0]: Invalid value: {_go_quote(value)}: "
                    "for 'Gt', 'Lt' operators, the value must be an integer"
                )
    for value in values:
        errors = []
        if len(value) > 63:
            errors.append("must be no more than 63 characters")
        if not _VALUE_RE.fullmatch(value):
            errors.append(_VALUE_RULE)
        if errors:
            raise _ParseError(
                f"invalid label value: {_go_quote(value)}: at key: {_go_quote(key)}: "
                + "; ".join(errors)
            )


def _go_quote(text: str) -> str:
    """Go's %q, near enough: double quotes, backslash escapes, printable text as it is."""
    return json.dumps(text, ensure_ascii=False)


def _int64(text: str | None) -> int | None:
    """Go's strconv.ParseInt(text, 10, 64): optional sign, decimal digits, in range."""
    if text is None or not re.fullmatch(r"[+-]?[0-9]+", text):
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None
