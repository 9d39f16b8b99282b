"""Render the objects as JSON for `render --output json`: a v1 List on stdout, .json files."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # inspect and match use to_json without loading the render side
    from generator.plan.context import RenderContext
    from generator.plan.objects import KubeObject, OutputFile

YAML_SUFFIX = ".yaml"
JSON_SUFFIX = ".json"


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


def object_list(objects: Iterable[KubeObject]) -> str:
    """The objects as one `v1` `List`, the shape `kubectl get -o json` prints for several.

    kubectl, `kubectl apply -f` and kustomize all take a List and apply its items. The text
    is what to_json() gives for the whole List, built an item at a time: json.dumps with an
    indent runs in pure Python, and for a fan-out to 10,000 namespaces its one list of small
    pieces held 50 MiB more than the text itself.
    """
    # JSON escapes the newlines inside strings, so every newline in an item is structural.
    items = [
        _INDENT + to_json(obj.expected())[:-1].replace("\n", "\n" + _INDENT) for obj in objects
    ]
    if not items:
        return to_json({"apiVersion": "v1", "items": [], "kind": "List"})
    return _LIST_HEAD + ",\n".join(items) + _LIST_TAIL


_INDENT = " " * 4  # an item's depth in the List
_LIST_HEAD = '{\n  "apiVersion": "v1",\n  "items": [\n'
_LIST_TAIL = '\n  ],\n  "kind": "List"\n}\n'


def json_path(path: str) -> str:
    """`secret.yaml` -> `secret.json`: the same file, written as JSON."""
    return path.removesuffix(YAML_SUFFIX) + JSON_SUFFIX


def render_json(context: RenderContext) -> dict[str, str]:
    """`{file name: JSON text}`: a List per file of objects, the bare object per patch file.

    The documents are the ones the YAML must read back as (`expected()`), so the two formats
    cannot hold different objects. json.dumps escapes every value, so nothing needs the read
    back that guards the YAML templates. A resource file is a List even with one object, so
    its shape never depends on how many namespaces a run fans out to; a patch stays the bare
    patch that `kubectl patch --patch-file` reads.
    """
    return {json_path(f.path): _document(f) for f in context.files}


def _document(output: OutputFile) -> str:
    if output.role == "patch":
        (patch,) = output.objects
        return to_json(patch.expected())
    return object_list(output.objects)


def json_stream(context: RenderContext) -> str:
    """Every object to apply as one List for stdout, in the order of the YAML stream."""
    objects = [obj for f in context.files if f.role == "resource" for obj in f.objects]
    return object_list(objects)


def render_json_files(context: RenderContext) -> dict[str, str]:
    """The JSON files and the kustomization.yaml that lists them, for --out.

    The kustomization stays YAML: kustomize looks for `kustomization.yaml` by that name only.
    """
    from generator.render.templates import KUSTOMIZATION, kustomization_text

    files = render_json(context)
    files[KUSTOMIZATION] = kustomization_text(tuple(json_path(p) for p in context.resources))
    return files
