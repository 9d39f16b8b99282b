"""The pure core: a render context in, `{file name: YAML text}` out, checked by parsing it back."""

from __future__ import annotations

import base64
import functools
import re
from pathlib import Path
from typing import Any

import jinja2
import yaml

from generator.context import RenderContext
from generator.errors import GenSecretError
from generator.objects import KubeObject

KUSTOMIZATION = "kustomization.yaml"
_PLAIN = re.compile(r"[A-Za-z0-9._/][A-Za-z0-9._/-]*")
_RESOLVER = yaml.resolver.Resolver()
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def templates_dir() -> Path:
    """Templates ship inside the wheel; in a source checkout they sit at the top level."""
    here = Path(__file__).resolve().parent
    packaged = here / "templates"
    return packaged if packaged.is_dir() else here.parent / "templates"


@functools.cache
def environment() -> jinja2.Environment:
    """One Jinja environment per process, so each template is compiled once."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - the output is YAML, not HTML; `q` does the quoting
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["q"] = yaml_quote
    env.filters["b64"] = lambda raw: base64.b64encode(raw).decode("ascii")
    return env


@functools.lru_cache(maxsize=4096)
def _resolves_to_str(text: str) -> bool:
    tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return bool(tag == "tag:yaml.org,2002:str")


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


def render(context: RenderContext) -> dict[str, str]:
    """Render every file and the kustomization that lists the resources, checking each one."""
    env = environment()
    files: dict[str, str] = {}
    for output in context.files:
        files[output.path] = "---\n".join(_render_object(env, obj) for obj in output.objects)
    files[KUSTOMIZATION] = env.get_template("kustomization.yaml.j2").render(
        resources=context.resources
    )
    _check_kustomization(files[KUSTOMIZATION], context.resources)
    return files


def stream(context: RenderContext, files: dict[str, str]) -> str:
    """The objects as one multi-document stream for `kubectl apply -f -`; never the patches."""
    return "---\n".join(files[name] for name in context.resources)


def _render_object(env: jinja2.Environment, obj: KubeObject) -> str:
    text = env.get_template(obj.TEMPLATE).render(obj=obj)
    # Render, then parse: whatever the input held, the document must be exactly this object.
    if _load(text, obj.TEMPLATE) != [obj.expected()]:
        # Never show the documents: they hold credentials.
        raise GenSecretError(f"internal error: {obj.TEMPLATE} does not read back as intended")
    return text


def _load(text: str, what: str) -> list[Any]:
    try:
        return list(yaml.load_all(text, Loader=_Loader))
    except yaml.YAMLError:
        raise GenSecretError(f"internal error: rendered {what} is not valid YAML") from None


def _check_kustomization(text: str, resources: tuple[str, ...]) -> None:
    documents = _load(text, KUSTOMIZATION)
    if len(documents) != 1 or documents[0].get("resources") != list(resources):
        raise GenSecretError(
            f"internal error: rendered {KUSTOMIZATION} does not read back as intended"
        )
