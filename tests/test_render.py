"""The quoting filter and the read-back check that guard every rendered document."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.errors import GenSecretError
from generator.render.gitops import GitOpsSpec, gitops_objects
from generator.render.nodefiles import RegistryHost
from generator.render.templates import check_reads_back, yaml_quote
from tests.conftest import FIXTURES, Cli, decode_data

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


def test_compiled_templates_render_the_same_bytes_and_need_the_same_jinja(tmp_path: Path) -> None:
    import jinja2

    from generator.app import pipeline
    from generator.render import templates as render

    package = tmp_path / "package"
    render.compile_templates(package / render.COMPILED)
    loader = render.template_loader(package)
    assert isinstance(loader, jinja2.ChoiceLoader)
    compiled = render._environment(loader)
    files = render._environment(jinja2.FileSystemLoader(render.templates_dir()))
    names = sorted(p.name for p in render.templates_dir().glob("*.j2"))
    for name in names:
        module = Path(compiled.get_template(name).filename or "")
        assert module.parent == package / render.COMPILED, f"{name} was compiled from its file"
    # Every template but sealing's, filled from a fan-out render of every object kind, plain,
    # as SOPS files, and as SOPS files kept from an earlier render.
    import pyrage

    from generator.app.sopsinputs import sops_settings

    identity = pyrage.x25519.Identity.generate()
    sops = sops_settings([str(identity.to_public())], None, None, {})
    request = pipeline.Request(
        pull_namespaces=("apps",), service_accounts=("default",), patches=("deploy/web",)
    )
    source = (FIXTURES / "ha-auth-multidoc.yaml").read_bytes()
    encrypted = pipeline.run(source, "ha.yaml", replace(request, sops=sops))
    earlier = {name: text.encode() for name, text in encrypted.files.items()}
    kept = replace(sops, previous=earlier, identities=(str(identity),))
    objects: list[Any] = [
        obj
        for result in (
            pipeline.run(source, "ha.yaml", request),
            encrypted,
            pipeline.run(source, "ha.yaml", replace(request, sops=kept)),
        )
        for output in result.context.files
        for obj in output.objects
    ]
    # The GitOps wiring and the node files, built from their own options.
    spec = GitOpsSpec("argocd", "fleet", "sealer-registry", "kube-system", repo_url="https://x/y")
    objects += gitops_objects(spec, ["prod"]).values()
    objects += gitops_objects(replace(spec, engine="flux", repo_url=None), ["prod"]).values()
    objects.append(RegistryHost("sea.hub:5000", insecure=False, ca=True))
    assert {obj.TEMPLATE for obj in objects} == set(names) - {
        "kustomization.yaml.j2",
        "sealedsecret.yaml.j2",
    }
    for obj in objects:
        expected = files.get_template(obj.TEMPLATE).render(obj=obj)
        assert compiled.get_template(obj.TEMPLATE).render(obj=obj) == expected

    # Compiled code calls into the Jinja that compiled it: another version reads the files.
    (package / render.COMPILED / "jinja-version").write_text("2.11.3")
    assert isinstance(render.template_loader(package), jinja2.FileSystemLoader)
    assert isinstance(render.template_loader(tmp_path / "checkout"), jinja2.FileSystemLoader)


def test_a_failed_read_back_names_the_object_the_field_and_both_values_masked() -> None:
    from generator.errors import InternalError

    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}
    with pytest.raises(InternalError) as caught:
        check_reads_back(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\ndata:\n  password: QUJD\n",
            [{**secret, "data": {"password": "WFla"}}],
        )
    assert "Secret 'x', data.password: wanted ********, read ********" in str(caught.value)
    assert "QUJD" not in str(caught.value)
    assert "WFla" not in str(caught.value)
    account = {"apiVersion": "v1", "kind": "ServiceAccount"}
    with pytest.raises(InternalError) as caught:
        check_reads_back(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  namespace: yes\n",
            [{**account, "metadata": {"namespace": "yes"}}],
        )
    assert "metadata.namespace: wanted 'yes', read True" in str(caught.value)


def test_base64_that_spells_a_number_is_quoted_and_reads_back(cli: Cli) -> None:
    # base64 of "Ӎ4" is 0400, which YAML would read as the number 256 unquoted.
    assert base64.b64encode("Ӎ4".encode()) == b"0400"
    result = cli(
        "render", str(FIXTURES / "ha-auth-multidoc.yaml"), "--password-stdin", stdin="Ӎ4\n".encode()
    )
    assert result.code == 0, result.err
    (secret,) = yaml.safe_load_all(result.out)
    assert '  password: "0400"\n' in result.out
    assert decode_data(secret)["password"] == "Ӎ4".encode()
