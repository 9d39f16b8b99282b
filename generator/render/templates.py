"""The pure core: a render context in, `{file name: YAML text}` out, checked by parsing it back."""

from __future__ import annotations

import base64
import functools
import itertools
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import jinja2
import yaml

from generator.errors import InternalError
from generator.model.safeyaml import Loader, resolve_plain

if TYPE_CHECKING:
    from generator.plan.objects import KubeObject


KUSTOMIZATION = "kustomization.yaml"
_CHECK_BATCH = 500  # objects read back per parse
_PLAIN = re.compile(r"[A-Za-z0-9._/][A-Za-z0-9._/-]*")


def templates_dir() -> Path:
    """Templates ship inside the wheel; in a source checkout they sit at the top level."""
    package = Path(__file__).resolve().parent.parent  # generator/
    packaged = package / "templates"
    return packaged if packaged.is_dir() else package.parent / "templates"


# Where a wheel keeps its templates compiled to Python (see hatch_build.py), and the Jinja
# version that compiled them: the compiled code calls into that version's runtime.
COMPILED = "compiled_templates"
_COMPILED_BY = "jinja-version"


def template_loader(package: Path) -> jinja2.BaseLoader:
    """The wheel's compiled templates when this Jinja can run them, else the template files.

    Compiling a template took 4 ms of every start; a compiled one loads from the
    bytecode pip wrote at install. A source checkout has no compiled templates.
    """
    files = jinja2.FileSystemLoader(templates_dir())
    compiled = package / COMPILED
    try:
        compiled_by = (compiled / _COMPILED_BY).read_text(encoding="utf-8")
    except OSError:
        return files
    if compiled_by != jinja2.__version__:
        return files
    return jinja2.ChoiceLoader([jinja2.ModuleLoader(compiled), files])


def compile_templates(target: Path) -> None:
    """Compile every template into a module under `target`; the wheel build calls this."""
    source = _environment(jinja2.FileSystemLoader(templates_dir()))
    source.compile_templates(target, zip=None, ignore_errors=False)
    (target / _COMPILED_BY).write_text(jinja2.__version__, encoding="utf-8")


@functools.cache
def environment() -> jinja2.Environment:
    """One Jinja environment per process, so each template is compiled (or loaded) once."""
    return _environment(template_loader(Path(__file__).resolve().parent.parent))


def _environment(loader: jinja2.BaseLoader) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - the output is YAML, not HTML; `q` does the quoting
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["q"] = yaml_quote
    env.filters["sv"] = sops_value
    env.filters["toml"] = toml_quote
    # Empty bytes must render as "", not as nothing: `password:` alone would read back as null.
    # Base64 can spell what YAML reads as a number (`0400`, `1e10`): such a value is quoted.
    env.filters["b64"] = _base64_scalar
    return env


def _base64_scalar(raw: bytes) -> str:
    """Base64 as a plain scalar, quoted only when YAML would read it as something else: `""`
    for empty bytes, `"0400"` where the letters happen to spell a number."""
    text = base64.b64encode(raw).decode("ascii")
    return text if text and _resolves_to_str(text) else f'"{text}"'


def _resolves_to_str(text: str) -> bool:
    return resolve_plain(text) == "tag:yaml.org,2002:str"


def yaml_quote(value: object) -> str:
    """A YAML scalar that reads back as exactly this string, whatever it holds.

    Plain when that is unambiguous (`kube-system`), double-quoted with escapes otherwise
    (`"true"`, `"a: b"`, `"{{ x }}"`), so no value can change the document's structure.
    """
    if not isinstance(value, str):
        raise TypeError(f"yaml_quote takes a string, not {type(value).__name__}")
    if _PLAIN.fullmatch(value) and _resolves_to_str(value):
        return value
    return '"' + "".join(_escape(ch) for ch in value) + '"'


# A sops ENC[...] value: a fixed alphabet that YAML reads as a plain string. Compiled on first
# use (re caches it): only SOPS runs need it.
_SOPS_ENC = (
    r"ENC\[AES256_GCM,data:[A-Za-z0-9+/=]*,iv:[A-Za-z0-9+/=]+,tag:[A-Za-z0-9+/=]+,type:[a-z]+\]"
)


def sops_value(value: object) -> str:
    """An encrypted value plain, as sops writes it; anything else quoted by `yaml_quote`."""
    if isinstance(value, str) and re.fullmatch(_SOPS_ENC, value):
        return value
    return yaml_quote(value)


def toml_quote(value: object) -> str:
    """A TOML basic string that reads back as exactly this string."""
    if not isinstance(value, str):
        raise TypeError(f"toml_quote takes a string, not {type(value).__name__}")
    out = []
    for ch in value:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _escape(ch: str) -> str:
    code = ord(ch)
    if ch == "\\" or ch == '"':
        return "\\" + ch
    # YAML's printable set, minus the BOM; everything else is escaped.
    if (
        0x20 <= code <= 0x7E
        or (0xA0 <= code <= 0xFFFD and code != 0xFEFF and not 0xD800 <= code <= 0xDFFF)
        or code > 0xFFFF
    ):
        return ch
    if ch == "\n":
        return "\\n"
    if ch == "\t":
        return "\\t"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


@functools.lru_cache(maxsize=16)
def kustomization_text(resources: tuple[str, ...]) -> str:
    """Rendered and read back once per list of files: every cluster of a fleet has the same,
    and rendering it again for each took a twentieth of a fleet's rendering."""
    text = environment().get_template("kustomization.yaml.j2").render(resources=resources)
    check_reads_back(text, [kustomization(resources)])
    return text


class Renderable(Protocol):
    """An object with a template, and the document its rendered text must read back as."""

    TEMPLATE: ClassVar[str]

    def expected(self) -> dict[str, Any]: ...


def render_objects(objects: Sequence[Renderable]) -> str:
    """One file's objects as YAML documents, each rendered by its template, then read back."""
    env = environment()
    texts = [env.get_template(obj.TEMPLATE).render(obj=obj) for obj in objects]
    # Render, then parse: whatever the input held, the text must read back as exactly
    # these objects. In batches: a parser per object would be slow, one parse of a
    # 10,000-namespace file would hold it in memory twice.
    for start in range(0, len(texts), _CHECK_BATCH):
        batch = slice(start, start + _CHECK_BATCH)
        expected = [obj.expected() for obj in objects[batch]]
        check_reads_back("---\n".join(texts[batch]), expected)
    return "---\n".join(texts)


def render_each(objects: Iterable[KubeObject]) -> str:
    """Objects rendered one by one and read back, in batches: a parser per object would be
    slow, one parse of a 10,000-namespace file would hold it in memory twice."""
    env = environment()
    texts: list[str] = []
    remaining = iter(objects)
    while batch := list(itertools.islice(remaining, _CHECK_BATCH)):
        rendered = [env.get_template(obj.TEMPLATE).render(obj=obj) for obj in batch]
        # Render, then parse: whatever the input held, the text must read back as exactly
        # these objects.
        check_reads_back("---\n".join(rendered), [obj.expected() for obj in batch])
        texts += rendered
    return "---\n".join(texts)


def kustomization(resources: tuple[str, ...]) -> dict[str, Any]:
    """The document kustomization.yaml.j2 must read back as."""
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": list(resources),
    }


# Markers for structure in a flattened document; scalars stand for themselves.
_DOC, _END_DOC, _MAP, _END_MAP, _SEQ, _END_SEQ, _OTHER = (object() for _ in range(7))
_STRUCTURE = {
    yaml.DocumentStartEvent: _DOC,
    yaml.DocumentEndEvent: _END_DOC,
    yaml.MappingStartEvent: _MAP,
    yaml.MappingEndEvent: _END_MAP,
    yaml.SequenceStartEvent: _SEQ,
    yaml.SequenceEndEvent: _END_SEQ,
}


_OPENERS = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
# The only typed leaves a template writes; every other leaf must read back as a string.
_BOOLEANS = {"true": True, "false": False}


def check_reads_back(text: str, documents: list[Any]) -> None:
    """Fail unless `text` parses to exactly `documents`, whose leaves are strings (or bools,
    written as plain `true`/`false`).

    Compares the parser's events with the expected structure instead of building objects:
    the same verdict as loading and comparing, at a third of the cost. A plain scalar counts
    as its text only if YAML would read it as a string (`true` or `1` would not).
    """
    expected: list[object] = []
    for document in documents:
        expected.append(_DOC)
        _flatten(document, expected)
        expected.append(_END_DOC)
    actual: list[object] = []
    append = actual.append
    loader = Loader(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            kind = type(event)
            if kind is yaml.ScalarEvent:
                value = event.value
                tagged = event.tag is not None or event.anchor is not None
                typed = event.implicit[0] and not _resolves_to_str(value)
                if typed and not tagged and value in _BOOLEANS:
                    append(_BOOLEANS[value])  # `prune: true` in GitOps objects
                else:
                    append(_OTHER if tagged or typed else value)
            elif kind is yaml.AliasEvent:
                append(_OTHER)
            elif kind in _STRUCTURE:
                marker = _STRUCTURE[kind]
                if kind in _OPENERS and (event.anchor is not None or event.tag is not None):
                    marker = _OTHER
                append(marker)
    except yaml.YAMLError:
        raise InternalError("rendered output is not valid YAML") from None
    finally:
        loader.dispose()
    if actual != expected:
        raise InternalError(
            f"rendered output does not read back as intended: {_first_difference(text, documents)}"
        )


# Where a value may be a credential: shown as ******** in a read-back failure.
_SECRET_PARTS = frozenset({"data", "stringData", "encryptedData", "sops", "password", "auth"})


def _first_difference(text: str, documents: list[Any]) -> str:
    """The object, field and two values where the rendered text and its objects first part ways;
    a bug report's one line, so every value that may be a credential is masked."""
    read = [d for d in yaml.load_all(text, Loader=Loader) if d is not None]  # our own output
    for index, want in enumerate(documents):
        got = read[index] if index < len(read) else None
        found = _differ(want, got, ())
        if found is not None:
            path, want_value, got_value = found
            meta = want.get("metadata") if isinstance(want, dict) else None
            name = meta.get("name", "") if isinstance(meta, dict) else ""
            kind = want.get("kind", "document") if isinstance(want, dict) else "document"
            field = ".".join(map(str, path)) or "(the document)"
            secret = any(str(part) in _SECRET_PARTS for part in path)
            shown = ("********", "********") if secret else (_short(want_value), _short(got_value))
            return f"{kind} {name!r}, {field}: wanted {shown[0]}, read {shown[1]}"
    return f"{len(read)} documents read back, {len(documents)} rendered"


def _differ(
    want: Any, got: Any, path: tuple[object, ...]
) -> tuple[tuple[object, ...], Any, Any] | None:
    if isinstance(want, dict) and isinstance(got, dict):
        for key in [*want, *(k for k in got if k not in want)]:
            found = _differ(want.get(key), got.get(key), (*path, key))
            if found is not None:
                return found
        return None
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        for i, (w, g) in enumerate(zip(want, got, strict=True)):
            found = _differ(w, g, (*path, i))
            if found is not None:
                return found
        return None
    return None if want == got else (path, want, got)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:60]}…"


def _flatten(value: Any, out: list[object]) -> None:
    if isinstance(value, dict):
        out.append(_MAP)
        for key, item in value.items():
            out.append(key)
            _flatten(item, out)
        out.append(_END_MAP)
    elif isinstance(value, list):
        out.append(_SEQ)
        for item in value:
            _flatten(item, out)
        out.append(_END_SEQ)
    else:
        out.append(value)
