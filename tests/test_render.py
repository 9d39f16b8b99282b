"""The quoting filter and the read-back check that guard every rendered document."""

from __future__ import annotations

import pytest
import yaml

from generator.errors import GenSecretError
from generator.render import check_reads_back, yaml_quote

EXPECTED = {"a": "x", "b": ["1", "true"]}


def test_read_back_accepts_the_same_document_in_any_style() -> None:
    check_reads_back('a: x\nb:\n- "1"\n- "true"\n', [EXPECTED])
    check_reads_back("a: 'x'\nb: ['1', 'true']\n", [EXPECTED])


@pytest.mark.parametrize(
    "text",
    [
        'a: x\nb:\n- 1\n- "true"\n',  # a plain 1 is an int, not the string "1"
        'a: x\nb:\n- "1"\n- true\n',  # a plain true is a bool
        'a: x\nb:\n- "1"\n- "true"\nc: y\n',  # an injected key
        'a: x\nb:\n- "1"\n- "true"\n---\na: x\n',  # an injected document
        'a: &q x\nb:\n- "1"\n- "true"\n',  # anchors never appear in our output
        'a: !!str x\nb:\n- "1"\n- "true"\n',  # nor tags
        'a: x\nb: "1"\n',  # a scalar where a list belongs
        "a: [x\n",  # not YAML at all
    ],
)
def test_read_back_rejects_anything_else(text: str) -> None:
    with pytest.raises(GenSecretError, match="internal error"):
        check_reads_back(text, [EXPECTED])


@pytest.mark.parametrize(
    "value",
    [
        "kube-system",
        "true",
        "no",
        "1",
        "0x1f",
        "1e3",
        ".inf",
        "~",
        "null",
        "",
        " ",
        "a: b",
        "- x",
        "#x",
        "x #y",
        "{{ x }}",
        "{% x %}",
        "---",
        "...",
        "'",
        '"',
        "\\",
        "\n",
        "a\nb",
        "\t",
        "\x00",
        "\x85",
        "\u2028",
        "\ufeff",
        "\U0001f600",
        "é",
        "*x",
        "&x",
        "!x",
        "%x",
        "@x",
        "`x",
        "|",
        ">",
        "?",
        ":",
    ],
)
def test_quoted_values_read_back_exactly(value: str) -> None:
    assert yaml.safe_load(f"k: {yaml_quote(value)}\n") == {"k": value}


def test_safe_values_stay_plain() -> None:
    assert yaml_quote("sea.hub") == "sea.hub"
    assert yaml_quote(".dockerconfigjson") == ".dockerconfigjson"
    assert yaml_quote("true") == '"true"'
