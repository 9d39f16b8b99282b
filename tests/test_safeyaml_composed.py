"""The loader's fast path (libyaml composes the tree in C) reads every text as the event builder
does: the same values, lines, block scalars, duplicate keys and document starts, or it leaves
the text to the event builder, which then decides and words every error."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from generator.errors import GenSecretError
from generator.model import safeyaml
from tests.conftest import FIXTURES

TESTS = Path(__file__).parent
needs_libyaml = pytest.mark.skipif(
    not getattr(yaml, "__with_libyaml__", False), reason="PyYAML is built without libyaml here"
)

# Lines to build texts from: the YAML a Clusterfile holds, and what only the builder reads.
PIECES = [
    "a: 1\n", "b: [1, 2]\n", "---\n", "--- # c\n", "- x\n", "k: |\n  text\n", "k: >\n  t\n",
    "d: 2024-01-01\n", "p: 5:00\n", "n: null\n", "y: yes\n", "1: one\n", "true: t\n",
    "1.5: f\n", "a: 2\n", "m:\n  x: 1\n  x: 2\n", "'q': 'v'\n", '"q": "v\\n"\n', "e:\n",
    "l:\n- 1\n- {a: b}\n", "x: !!str 5\n", "x: !!int '7'\n", "x: !!timestamp 2024-01-01\n",
    "x: !!binary aGk=\n", "x: !foo bar\n", "  bad: indent\n", "x: [a, b\n", "~: z\n",
    "x: 0x1F\n", "x: .inf\n", "x: 1_000\n", "--- x\n", "--- |\n  block\n", "x: 2024-13-45\n",
    "x: !!int abc\n", "? [a]\n: b\n", "x: {a: 1, a: 2}\n", "- - - deep\n", "!!map {a: 1}\n",
    "x: !!seq {a: 1}\n", "<<: {a: 1}\n", "x: -.5\n", "x: 190:20:30\n", "x: ! 5\n", "x: é\n",
    "a: &x 1\n", "b: *x\n", "c: &y {k: v}\n", "# only a comment\n", "--- \t\n", "-\n-\n",
    "0x1F: a\n", "x: 'it''s'\n", "\tx: 1\n", "[a, !b c]\n", "x: {! a: b}\n", "x: [!, a]\n",
    "...\n", "%YAML 1.1\n", "x: 🙂\n", "x: a # c\n", "? a\n", "--- {a: 1}\n", "--- text\n",
    "pw: S3cret!\n", "x: |2\n   two\n", "x: 'multi\n  line'\n", "x: plain\n  continued\n",
    "- a: 1\n  b: 2\n", " ---\n", "----\n", "x: !!null ''\n", "Null: x\n", "x: a\r\n",
]  # fmt: skip


def read(text: str, comment_separators: bool | None) -> str:
    """What the loader makes of `text`, as comparable text: documents, or the error."""
    starts: list[tuple[bool, str]] = []
    try:
        if comment_separators is None:
            documents = safeyaml._load(text, "Clusterfile", 3, starts)
        else:
            documents = safeyaml.load_stream(
                text, "Clusterfile", 3, comment_separators=comment_separators
            )
    except GenSecretError as exc:
        return f"error: {exc}"
    except Exception as exc:  # the same internal error either way
        return f"internal error: {type(exc).__name__}"
    shown = [
        (d.value, list(d.lines.items()), sorted(d.block_scalars), d.duplicate_keys, d.line_offset)
        for d in documents
    ]
    # A merge key's path holds its object (as the builder has always made it): not its address.
    return re.sub(r" at 0x[0-9a-f]+", "", repr((shown, starts)))


def by_builder(text: str, comment_separators: bool | None, monkeypatch: pytest.MonkeyPatch) -> str:
    with monkeypatch.context() as patch:
        patch.setattr(safeyaml, "_CParser", None)
        return read(text, comment_separators)


def texts() -> Iterator[tuple[str, str]]:
    for path in sorted(TESTS.rglob("*")):
        if path.is_file() and path.suffix in (".yaml", ".yml", "") and path.stat().st_size < 65536:
            try:
                text = path.read_bytes().decode().removeprefix("\ufeff")
            except UnicodeDecodeError:
                continue
            yield str(path.relative_to(TESTS)), text
    pick = random.Random(17)
    for i in range(1500):
        yield f"generated {i}", "".join(pick.choice(PIECES) for _ in range(pick.randint(0, 9)))


@needs_libyaml
@pytest.mark.parametrize("comment_separators", [None, False, True])
def test_the_fast_path_reads_every_text_as_the_builder_does(
    comment_separators: bool | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    composed = 0
    for name, text in texts():
        composed += safeyaml._composed(text, "Clusterfile", 3) is not None
        fast = read(text, comment_separators)
        assert fast == by_builder(text, comment_separators, monkeypatch), name
    assert composed > 500  # the comparison is worth something only if the fast path ran


@needs_libyaml
def test_a_clusterfile_takes_the_fast_path() -> None:
    for path in sorted(FIXTURES.glob("*.yaml")):
        assert safeyaml._composed(path.read_text(), path.name, 0) is not None, path.name
    # Document starts it reads itself: `---` then a tab, a comment, or the value.
    for text in ("a: 1\n---\t\nb: 2\n", "--- # c\na: 1\n", "--- {a: 1}\n---\n"):
        assert safeyaml._composed(text, "Clusterfile", 0) is not None, text


@needs_libyaml
@pytest.mark.parametrize(
    "text",
    [
        "a: ! 5\n",  # the non-specific tag: the composer would resolve it as untagged
        "a: &x {b: 1}\nc: *x\n",  # aliases: the builder counts what they add
        "a: {b: 1}\n<<: {c: 2}\n",  # merge keys
        "a: 1\n...\nb: 2\n",  # a document end: documents that start without ---
        "%YAML 1.1\n---\na: 1\n",  # a directive
        "a: 1\r\nb: 2\r\n",  # line breaks libyaml counts its own way
        "a: [1, 2\n",  # every error
        "a: 1\n" * 20_000,  # larger than the fast path holds in memory at once
        "a:\n" + "".join(f"{' ' * (i + 1)}b{i}:\n" for i in range(120)),  # deeper than allowed
    ],
)
def test_what_only_the_builder_reads_goes_to_it(text: str) -> None:
    assert safeyaml._composed(text, "Clusterfile", 0) is None
