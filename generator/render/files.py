"""Every file of a render: each object by its template, or a fan-out stamped (stamping.py)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Union

from generator.plan.context import RenderContext
from generator.plan.namespaced import PerNamespace
from generator.render.templates import KUSTOMIZATION, kustomization_text, render_each

if TYPE_CHECKING:
    from generator.render.stamping import StampedText

# A rendered file: its text, or, for objects repeated in many namespaces, a text that is
# made piece by piece as it is written (stamping.StampedText).
Text = Union[str, "StampedText"]


def render(context: RenderContext, *, with_kustomization: bool = True) -> dict[str, Text]:
    """Render every file and the kustomization that lists the resources, checking each one.

    Printing to stdout needs no kustomization, and leaving it out spares a template compile.
    Objects repeated in many namespaces come back as a StampedText, made as it is written.
    """
    files: dict[str, Text] = {}
    for output in context.files:
        stamped = None
        if isinstance(output.objects, PerNamespace):
            from generator.render.stamping import stamp  # only fan-out runs load it

            stamped = stamp(output.objects)
        files[output.path] = stamped if stamped is not None else render_each(output.objects)
    if with_kustomization:
        files[KUSTOMIZATION] = kustomization_text(context.resources)
    return files


def stream(context: RenderContext, files: Mapping[str, Text]) -> Iterator[str]:
    """The objects as one multi-document stream for `kubectl apply -f -`, in pieces; never
    the patches."""
    for index, name in enumerate(context.resources):
        if index:
            yield "---\n"
        text = files[name]
        if isinstance(text, str):
            yield text
        else:
            yield from text.chunks()
