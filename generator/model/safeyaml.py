"""A bounded, safe YAML loader that remembers the line of every field."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from generator.errors import GenSecretError, Location

# libyaml's parser when present: several times faster than the pure-Python one, same events.
Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 100
# Nodes that aliases may add by reference; a billion-laughs document needs millions.
MAX_ALIAS_NODES = 10_000
# Nodes (keys and documents too) in one stream: a Clusterfile for a thousand hosts has 31,000,
# and 10 MiB of `- a` lines would be 2.6 million, several seconds of parsing.
MAX_NODES = 200_000
# Parts between `---` lines that a stream may have when a YAML error sends it part by part.
MAX_PARTS = 1_000

_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}
_YAML_ORG = "tag:yaml.org,2002:"
# Tags safe loaders refuse, shown by name; any other tag is the user's own text (an unquoted
# `password: !S3cret` is a tag), so it is never echoed.
_NAMED_TAGS = frozenset(
    {
        "binary",
        "omap",
        "pairs",
        "set",
        "value",
        "yaml",
        "python/none",
        "python/bool",
        "python/str",
        "python/unicode",
        "python/bytes",
        "python/int",
        "python/long",
        "python/float",
        "python/complex",
        "python/list",
        "python/tuple",
        "python/dict",
        "python/name",
        "python/module",
        "python/object",
        "python/object/apply",
        "python/object/new",
    }
)
_NUMBER_TAGS = frozenset({"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"})
_TEXT_TAGS = frozenset({"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value"})
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"

Path = tuple[str | int, ...]


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class Document:
    """One YAML document: its plain value and the line where each field path starts."""

    value: Any = field(repr=False)  # holds the passwords of the file
    source: str
    lines: dict[Path, int] = field(repr=False)
    line_offset: int = 0
    # Paths of literal (|) and folded (>) scalars: their text starts on the line after the key.
    block_scalars: frozenset[Path] = frozenset()
    # Keys given twice in one mapping: the last one wins, as in sealer's go-yaml.
    duplicate_keys: tuple[Path, ...] = ()

    def where(self, path: Path) -> Location:
        """The location of a field path, or of its nearest parent that has a line."""
        probe = path
        while probe not in self.lines and probe:
            probe = probe[:-1]
        line = self.lines.get(probe)
        return Location(dotted(path), self.source, line + self.line_offset if line else None)


def dotted(path: Path) -> str:
    """Render a field path the way users write it: spec.hosts[0].ips.

    Kept to one readable line: a key longer than 40 characters is cut, and a path deeper than
    eight shows its first five and last two parts around an ellipsis.
    """
    parts = path if len(path) <= 8 else (*path[:5], "…", *path[-2:])
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        name = part if len(part) <= 40 else f"{part[:40]}…"
        out += f".{name}" if out else name
    return out


def decode(data: bytes, source: str) -> str:
    """Bytes of a YAML file to text: UTF-8 only, no binary, bounded size."""
    if len(data) > MAX_BYTES:
        raise GenSecretError(f"file is larger than {MAX_BYTES // (1024 * 1024)} MiB", source)
    if b"\0" in data:
        line = data.count(b"\n", 0, data.index(b"\0")) + 1
        raise GenSecretError("binary data, not a YAML file", Location("", source, line))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise GenSecretError("not valid UTF-8", Location("", source, line)) from None
    return text.removeprefix("\ufeff")


def load_all(text: str, source: str, line_offset: int = 0) -> list[Document]:
    """Parse every document of a YAML stream into plain values, within the limits above."""
    return _load(text, source, line_offset, [])


def _load(
    text: str, source: str, line_offset: int, opens_part: list[tuple[bool, str]]
) -> list[Document]:
    """load_all, noting for each document whether it starts explicitly, and that line."""
    composed = _composed(text, source, line_offset)
    if composed is not None:
        documents, opened = composed
        opens_part.extend(opened)
        return documents
    try:
        # PyYAML's own reader checks the whole text here, libyaml's while parsing.
        loader = Loader(text)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, source, line_offset) from None
    try:
        return list(_Builder(loader, source, line_offset, text, opens_part).documents())
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, source, line_offset) from None
    finally:
        loader.dispose()


def load_stream(
    text: str, source: str, line_offset: int = 0, *, comment_separators: bool = False
) -> list[Document]:
    """Read a stream as sealer does: split at `---` lines, then the first document of each part.

    sealer's reader (apimachinery's YAMLReader) splits at a line that is `---` and white space;
    go-yaml then reads the first document of each part, so a `...` end marker ends it and what
    follows in that part is never read. With `comment_separators` (sealer 0.9 and later, on a
    newer apimachinery), `--- # comment` splits too, and a `---` line with anything else on it
    is refused; before, such a line did not split, and the document after it went unread.
    """
    if comment_separators:
        for number, line in enumerate(text.split("\n"), 1):
            if line.startswith("---") and not _is_separator(line, comments=True):
                raise GenSecretError(
                    "a line that starts with --- may hold only a comment after it (sealer "
                    "reads it as a document separator)",
                    Location("", source, number + line_offset),
                )
    if text.count("\n---") > MAX_NODES:
        # Each `---` starts a document, and each document counts: refuse before parsing.
        raise GenSecretError(f"more than {MAX_NODES} YAML nodes", source)
    opens_part: list[tuple[bool, str]] = []
    try:
        documents = _load(text, source, line_offset, opens_part)
    except GenSecretError as exc:
        # YAML after a `...` (or a `--- # comment` line) in the same part is never read by
        # sealer, and may not even parse: read part by part, as sealer does, before calling
        # the file broken. Parts cost a parser each, so a file of very many keeps the error.
        if not exc.message.startswith("invalid YAML") or not re.search(_SKIPPED, text, re.M):
            raise
        if text.count("\n---") > MAX_PARTS:
            raise
        return _load_parts(text, source, line_offset, comment_separators)
    kept: list[Document] = []
    taken = False
    for document, (explicit, separator) in zip(documents, opens_part, strict=True):
        opens = explicit and _is_separator(separator, comments=comment_separators)
        if opens:
            taken = False
            if document.value is None:
                # The separator line is gone before go-yaml reads the part: the document it
                # opens here is empty, so the part's first document is the next one.
                continue
        if not taken:
            taken = True
            kept.append(document)
    return kept


def _load_parts(
    text: str, source: str, line_offset: int, comment_separators: bool
) -> list[Document]:
    """The first document of every part between `---` lines, each parsed on its own."""
    documents: list[Document] = []
    lines = text.split("\n")
    start = 0
    split = [i for i, line in enumerate(lines) if _is_separator(line, comments=comment_separators)]
    for end in [*split, len(lines)]:
        if end > start:
            part = "\n".join(lines[start:end])
            try:
                loader = Loader(part)
                first = next(_Builder(loader, source, line_offset + start).documents(), None)
            except yaml.YAMLError as exc:
                raise _yaml_error(exc, part, source, line_offset + start) from None
            if first is not None:
                documents.append(first)
        start = end + 1
    return documents


# Lines after which sealer's reader may skip text: a document end, or a start with more on it.
# Patterns used only on a rare path stay text until then: compiling one costs every start.
_SKIPPED = r"^(?:\.\.\.|---[ \t]*[^\s])"


def _is_separator(line: str, *, comments: bool = False) -> bool:
    rest = line[3:].strip() if line.startswith("---") else "x"
    return not rest or (comments and rest.startswith("#"))


def _yaml_error(exc: yaml.YAMLError, text: str, source: str, offset: int) -> GenSecretError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 + offset if mark else None
        return GenSecretError(f"invalid YAML: {_safe_problem(exc)}", Location("", source, line))
    if isinstance(exc, yaml.reader.ReaderError):
        # Its text names the character, and its position counts characters in one parser and
        # bytes in the other: find the character again for the line, and never show it.
        found = _NON_PRINTABLE.search(text)
        line = text.count("\n", 0, found.start()) + 1 + offset if found else None
        return GenSecretError(
            "invalid YAML: a control character, which YAML does not allow; "
            "write it as an escape in double quotes",
            Location("", source, line),
        )
    return GenSecretError(f"invalid YAML: {type(exc).__name__}", source)


_NON_PRINTABLE: re.Pattern[str] = yaml.reader.Reader.NON_PRINTABLE
# A quoted item in a problem: 'x', or "'" when the item is a single quote.
_QUOTED = r"'([^']*)'|\"([^\"]*)\""  # compiled on first use: errors only
# What the parsers quote from their own grammar ("expected ',' or ']'"), not from the input.
_GRAMMAR = {",", "]", "}", ":", "-", "?", "[", "{", " ", "!", ">", "."}


def _safe_problem(exc: yaml.MarkedYAMLError) -> str:
    # PyYAML quotes input characters in some problems ("found unknown escape character 'q'");
    # input may be a password, so only what the parser expected survives: its grammar and its
    # <token names>, never what it found.
    problem = exc.problem or exc.context or "syntax error"

    def keep(match: re.Match[str]) -> str:
        token = match.group(1) if match.group(1) is not None else match.group(2)
        if len(token) > 2 and token.startswith("<") and token.endswith(">"):
            return match.group(0)
        before = problem[: match.start()]
        expected = before.endswith(("expected ", " or ")) and "found" not in before
        return match.group(0) if expected and token in _GRAMMAR else "'…'"

    # Byte values ("can't decode byte 0xff") are input too.
    return re.sub(r"\b0x[0-9A-Fa-f]+", "…", re.sub(_QUOTED, keep, problem))


class _Frame:
    __slots__ = ("anchor", "container", "key", "key_line", "merges", "path", "start")

    def __init__(self, container: Any, path: Path, anchor: str | None, start: int) -> None:
        self.container = container
        self.path = path
        self.anchor = anchor
        self.start = start
        self.key: Any = _NO_KEY
        self.key_line = 0
        self.merges: list[dict[Any, Any]] = []


_NO_KEY = object()


class _Builder:
    """Builds values from the parser's events; iterative, so depth never hits Python's stack."""

    def __init__(
        self,
        loader: Any,
        source: str,
        line_offset: int,
        text: str = "",
        opens_part: list[tuple[bool, str]] | None = None,
    ) -> None:
        self.loader = loader
        self.text = text
        self.opens_part = [] if opens_part is None else opens_part
        self.source = source
        self.offset = line_offset
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.open_anchors: set[str] = set()
        self.nodes = 0
        self.alias_nodes = 0
        self.blocks: set[Path] = set()
        self.duplicates: list[Path] = []

    def line_at(self, index: int) -> str:
        """The line that starts at `index` (a `---` line opening a document)."""
        end = self.text.find("\n", index)
        return self.text[index : end if end >= 0 else len(self.text)]

    def fail(self, message: str, path: Path, line: int) -> GenSecretError:
        return GenSecretError(message, Location(dotted(path), self.source, line + self.offset))

    def documents(self) -> Iterator[Document]:
        loader = self.loader
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.DocumentStartEvent):
                mark = event.start_mark
                line = self.line_at(mark.index) if event.explicit and mark is not None else None
                self.opens_part.append((line is not None, line or ""))
                self.count((), mark.line + 1 if mark else 0)  # empty documents cost time too
                self.anchors.clear()
                lines: dict[Path, int] = {}
                self.blocks = set()
                self.duplicates = []
                value = self.document(lines)
                yield Document(
                    value,
                    self.source,
                    lines,
                    self.offset,
                    frozenset(self.blocks),
                    tuple(self.duplicates),
                )

    def document(self, lines: dict[Path, int]) -> Any:
        loader = self.loader
        stack: list[_Frame] = []
        result: Any = None
        while True:
            event = loader.get_event()
            if isinstance(event, yaml.DocumentEndEvent):
                return result
            line = event.start_mark.line + 1
            top = stack[-1] if stack else None
            if top is not None and isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                stack.pop()
                value = top.container
                for merged in top.merges:
                    for k, v in merged.items():
                        value.setdefault(k, v)
                if top.anchor is not None:
                    self.open_anchors.discard(top.anchor)
                    self.anchors[top.anchor] = (value, self.nodes - top.start)
                result = self.attach(stack, value, lines, line, done=True)
                continue
            if top is not None and top.key is _NO_KEY and type(top.container) is dict:
                # A mapping key: only scalars (or aliases of scalars) are keys here.
                self.count(top.path, line)
                top.key, top.key_line = self.key(event, top.path, line), line
                continue
            path = self.child_path(top)
            if len(stack) >= MAX_DEPTH:
                raise self.fail(f"nested deeper than {MAX_DEPTH} levels", path, line)
            self.count(path, line)
            if isinstance(event, yaml.AliasEvent):
                value = self.alias(str(event.anchor), path, line)
                result = self.attach(stack, value, lines, line, path)
            elif isinstance(event, yaml.ScalarEvent):
                value = self.scalar(event, path, line)
                if event.style in ("|", ">"):
                    self.blocks.add(path)
                if event.anchor is not None:
                    self.anchors[event.anchor] = (value, 1)
                result = self.attach(stack, value, lines, line, path)
            elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                is_map = isinstance(event, yaml.MappingStartEvent)
                want = _MAP_TAG if is_map else _SEQ_TAG
                if event.tag not in (None, "!", want):
                    raise self.fail(unsupported_tag(event.tag), path, line)
                if event.anchor is not None:
                    self.open_anchors.add(event.anchor)
                if top is not None and top.key is not _NO_KEY:
                    lines.setdefault(path, top.key_line)
                lines.setdefault(path, line)
                stack.append(_Frame({} if is_map else [], path, event.anchor, self.nodes - 1))
            else:  # pragma: no cover - the parser emits nothing else inside a document
                raise self.fail(f"unexpected YAML event {type(event).__name__}", path, line)

    def count(self, path: Path, line: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(f"more than {MAX_NODES} YAML nodes", path, line)

    @staticmethod
    def child_path(top: _Frame | None) -> Path:
        if top is None:
            return ()
        if isinstance(top.container, list):
            return (*top.path, len(top.container))
        if top.key is _NO_KEY:
            return top.path
        key = top.key if isinstance(top.key, str | int) else str(top.key)
        return (*top.path, key)

    def attach(
        self,
        stack: list[_Frame],
        value: Any,
        lines: dict[Path, int],
        line: int,
        path: Path | None = None,
        *,
        done: bool = False,
    ) -> Any:
        """Put a finished value into its parent; `path` is the value's, when already known."""
        if not stack:
            lines.setdefault((), line)  # a document that is one scalar starts here
            return value
        top = stack[-1]
        if type(top.container) is list:
            if not done:
                lines.setdefault(path or (*top.path, len(top.container)), line)
            top.container.append(value)
            return None
        key = top.key
        path = path or self.child_path(top)
        if isinstance(key, _MergeKey):
            merges = value if isinstance(value, list) else [value]
            if not all(isinstance(m, dict) for m in merges):
                raise self.fail(
                    "a merge key (<<) needs a mapping or a list of mappings", path, line
                )
            top.merges.extend(merges)
        else:
            if key in top.container:
                # go-yaml keeps the last value; the reader decides whether to say so.
                self.duplicates.append(path)
                lines[path] = top.key_line
            top.container[key] = value
            lines.setdefault(path, top.key_line)
        top.key = _NO_KEY
        return None

    def key(self, event: Any, path: Path, line: int) -> Any:
        if isinstance(event, yaml.AliasEvent):
            value = self.alias(str(event.anchor), path, line)
        elif isinstance(event, yaml.ScalarEvent):
            if self.resolve(event) == _MERGE_TAG:
                return _MergeKey()
            value = self.scalar(event, path, line)
            if event.anchor is not None:
                self.anchors[event.anchor] = (value, 1)
        else:
            raise self.fail("a mapping key must be a plain value", path, line)
        if isinstance(value, dict | list):
            raise self.fail("a mapping key must be a plain value", path, line)
        return value

    def alias(self, anchor: str, path: Path, line: int) -> Any:
        # Never the anchor's name: an unquoted `password: *S3cret` is an alias.
        if anchor in self.open_anchors:
            raise self.fail("an alias refers to the node that holds it", path, line)
        if anchor not in self.anchors:
            raise self.fail(
                "undefined alias (a value that starts with * must be quoted)", path, line
            )
        value, size = self.anchors[anchor]
        self.alias_nodes += size
        self.nodes += size - 1
        if self.alias_nodes > MAX_ALIAS_NODES:
            raise self.fail(
                f"YAML aliases expand to more than {MAX_ALIAS_NODES} nodes (an alias bomb?)",
                path,
                line,
            )
        return value

    def resolve(self, event: Any) -> str:
        if event.tag not in (None, "!"):
            return str(event.tag)
        if event.tag == "!" or not event.implicit[0]:
            return "tag:yaml.org,2002:str"
        return _resolved_plain(event.value)

    def scalar(self, event: Any, path: Path, line: int) -> Any:
        tag = self.resolve(event)
        if tag not in _SCALAR_TAGS:
            raise self.fail(unsupported_tag(tag), path, line)
        if tag == "tag:yaml.org,2002:str":
            return event.value
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            return self.loader.yaml_constructors[tag](self.loader, node)
        except (ValueError, KeyError, IndexError, AttributeError, yaml.YAMLError):
            # `password: 2024-13-45` looks like a date to YAML but is not one; PyYAML's
            # constructors fail on an explicit tag's bad value (`!!bool maybe`, `!!int ""`,
            # `!!timestamp nope`) with whatever error the parsing meets first.
            kind = tag.rsplit(":", 1)[-1]
            raise self.fail(
                f"not a valid {kind}; put it in quotes if it is text", path, line
            ) from None


@functools.lru_cache(maxsize=4096)
def resolve_plain(value: str) -> str:
    """The tag YAML gives an unquoted scalar: `true` is a bool, `sea.hub` a str."""
    # The same keys and values recur in every document and every cluster of a fleet, and
    # PyYAML's resolver tries a list of patterns each time.
    return str(_RESOLVER.resolve(yaml.ScalarNode, value, (True, False)))  # type: ignore[no-untyped-call]


_RESOLVER = yaml.resolver.Resolver()


def unsupported_tag(tag: str) -> str:
    """The error for a tag the loader refuses, naming it only when it is a standard one."""
    name = tag.removeprefix(_YAML_ORG).split(":", 1)[0] if tag.startswith(_YAML_ORG) else ""
    if name in _NAMED_TAGS:
        return f"unsupported YAML tag !!{name}"
    return "unsupported YAML tag (a value that starts with ! must be quoted)"


class _MergeKey:
    """The YAML merge key (<<) as a mapping key: its value is merged, not stored."""


# A fast path for the common file: libyaml composes the whole tree in C (one Python object a
# node, with this module's tag resolution) and _Walker turns it into the same Document that
# _Builder makes from one Python event at a time, at half the cost or less; reading was what a
# fleet of a thousand Clusterfiles spent most of its time on. It takes only what it can prove it
# reads exactly as _Builder does; anything else, and every error, goes to _Builder, which
# decides and words it (so no message can differ). What it leaves to _Builder:
# - texts over _COMPOSED_MAX characters: the composer holds the whole tree before any limit is
#   counted, and this bounds its size (a few nodes a character at most);
# - line breaks other than \n and byte order marks (libyaml counts lines and columns over them
#   its own way), lines that start with `...` or `%` (document ends and directives, which
#   make documents start other than at `---` lines), the non-specific tag `!` (which the
#   composer resolves like an untagged value), texts with both `&` and `*` (aliases, which
#   the builder counts as it expands them), and merge keys;
# - a tree deeper than MAX_DEPTH, more than MAX_NODES nodes, a collection tag it refuses,
#   a key that is not a scalar, a value its tag cannot construct: _Builder raises the error.
_COMPOSED_MAX = 64 * 1024
_NOT_COMPOSED = ("\r", "\x85", "\u2028", "\u2029", "\ufeff", "\n...", "\n%")
_NON_SPECIFIC_TAG = r"(?:^|[\s\[{,])!(?:[\s,]|$)"
_STR_TAG = "tag:yaml.org,2002:str"
_CParser: Any = getattr(getattr(yaml, "cyaml", None), "CParser", None)
_CONSTRUCTOR = yaml.constructor.SafeConstructor()


class _Fallback(Exception):
    """The composed tree holds something only _Builder reads (or refuses)."""


def _composed(
    text: str, source: str, line_offset: int
) -> tuple[list[Document], list[tuple[bool, str]]] | None:
    """What _Builder would make of `text` (its documents and how each opens), built from
    libyaml's composed tree; None when the text is one for _Builder (see above)."""
    if (
        Loader is not getattr(yaml, "CSafeLoader", None)  # the tests may run the pure parser
        or _CParser is None
        or len(text) > _COMPOSED_MAX
        or ("&" in text and "*" in text)
        or any(mark in text for mark in _NOT_COMPOSED)
        or text.startswith(("...", "%"))
        or ("!" in text and re.search(_NON_SPECIFIC_TAG, text, re.M))
    ):
        return None
    parser = _Composer(text)
    try:
        roots = []
        while parser.check_node():
            roots.append(parser.get_node())
    except yaml.YAMLError:
        return None
    finally:
        parser.dispose()
    # A document starts at `---` at the start of a line, then white space or the line's end;
    # libyaml reads every such line as one, or refuses the text (in a quoted or flow scalar).
    opens = [
        (True, line)
        for line in text.split("\n")
        if line.startswith("---") and line[3:4] in ("", " ", "\t")
    ]
    if len(roots) == len(opens) + 1:
        opens.insert(0, (False, ""))  # the first document has no `---`
    elif len(roots) != len(opens):  # pragma: no cover - to libyaml each such line is a start
        return None
    walker = _Walker()
    documents = []
    try:
        for root in roots:
            walker.nodes += 1  # as _Builder counts an empty document
            walker.lines, walker.blocks, walker.duplicates = {}, set(), []
            value = walker.node(root, (), 0)
            walker.lines.setdefault((), root.start_mark.line + 1)
            documents.append(
                Document(
                    value,
                    source,
                    walker.lines,
                    line_offset,
                    frozenset(walker.blocks),
                    tuple(walker.duplicates),
                )
            )
    except _Fallback:
        return None
    return documents, opens


def _resolve(kind: Any, value: str | None, implicit: Any) -> str:
    """_Builder.resolve for a node without a tag; the tag `!` never gets here (the texts that
    hold it go to _Builder)."""
    if kind is yaml.ScalarNode:
        return _resolved_plain(value) if implicit[0] and value is not None else _STR_TAG
    return _MAP_TAG if kind is yaml.MappingNode else _SEQ_TAG


# Plain scalars only: the same keys and values recur in every cluster of a fleet, and a
# quoted value (a password, a certificate) has nothing to resolve and no place in a cache.
@functools.lru_cache(maxsize=4096)
def _resolved_plain(value: str) -> str:
    """The tag of an untagged plain scalar, as sealer's go-yaml reads it."""
    tag = resolve_plain(value)
    if tag in _NUMBER_TAGS and ":" in value:
        # YAML 1.1 reads `port: 5:00` as 300 (base 60); sealer's go-yaml never did, so to
        # sealer it is text, and so it is here: a wrong port, not a silent 300.
        return _STR_TAG
    if tag in _TEXT_TAGS:
        # go-yaml leaves an unquoted date as text when it reads into a generic value (as
        # sealer's YAML-to-JSON step does), and has no `=` value type.
        return _STR_TAG
    return tag


if _CParser is not None:

    class _Composer(_CParser):  # type: ignore[misc]
        """libyaml's composer, resolving untagged scalars as _Builder.resolve does."""

        def descend_resolver(self, parent: Any, index: Any) -> None:
            pass

        def ascend_resolver(self) -> None:
            pass

        resolve = staticmethod(_resolve)


class _Walker:
    """A composed tree to plain values, with _Builder's lines, block scalars, duplicate keys
    and node count, in _Builder's order."""

    __slots__ = ("blocks", "duplicates", "lines", "nodes")

    def __init__(self) -> None:
        self.nodes = 0
        self.lines: dict[Path, int] = {}
        self.blocks: set[Path] = set()
        self.duplicates: list[Path] = []

    def node(self, node: Any, path: Path, depth: int) -> Any:
        if depth >= MAX_DEPTH:
            raise _Fallback
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _Fallback
        kind = type(node)
        if kind is yaml.ScalarNode:
            if node.style in ("|", ">"):
                self.blocks.add(path)
            return _scalar(node)
        lines = self.lines
        if kind is yaml.MappingNode:
            if node.tag != _MAP_TAG:
                raise _Fallback
            lines.setdefault(path, node.start_mark.line + 1)
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                self.nodes += 1
                if type(key_node) is not yaml.ScalarNode:
                    raise _Fallback
                key = _scalar(key_node)  # a merge key (<<) too: its tag is no scalar's
                key_line = key_node.start_mark.line + 1
                child = (*path, key if isinstance(key, str | int) else str(key))
                if type(value_node) is not yaml.ScalarNode:
                    lines.setdefault(child, key_line)
                value = self.node(value_node, child, depth + 1)
                if key in out:
                    self.duplicates.append(child)
                    lines[child] = key_line
                out[key] = value
                lines.setdefault(child, key_line)
            return out
        if node.tag != _SEQ_TAG:
            raise _Fallback
        lines.setdefault(path, node.start_mark.line + 1)
        items: list[Any] = []
        for item in node.value:
            child = (*path, len(items))
            value = self.node(item, child, depth + 1)
            if type(item) is yaml.ScalarNode:
                lines.setdefault(child, item.start_mark.line + 1)
            items.append(value)
        return items


def _scalar(node: Any) -> Any:
    tag = node.tag
    if tag == _STR_TAG:
        return node.value
    if tag not in _SCALAR_TAGS:
        raise _Fallback
    try:
        return _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, node)
    except Exception:  # whatever it is, _Builder meets it again and says so
        raise _Fallback from None
