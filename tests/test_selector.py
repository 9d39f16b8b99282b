"""--namespace-selector: kubectl's label-selector grammar, checked against kubectl itself.

kubectl needs a server to run `get -l`, but `kubectl kustomize` selects objects with the same
apimachinery parser (a patch's `target.labelSelector`), offline: it is the oracle for which
namespaces a selector picks and for its error messages. Where kubectl 1.32's kustomize carries
an older copy of the parser than kubectl 1.32 itself, the expected text is the one in
apimachinery v0.32.0's `pkg/labels/selector.go`, quoted below.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from generator.model.selector import SelectorError, parse_selector
from tests.conftest import Cli, require_tool

# Namespaces and labels in the style of the Kubernetes "Labels and Selectors" page.
NAMESPACES: dict[str, dict[str, str]] = {
    "shop": {"environment": "production", "tier": "frontend", "partition": "customerA"},
    "payments": {"environment": "production", "tier": "backend"},
    "shop-qa": {"environment": "qa", "tier": "frontend", "partition": "customerB"},
    "sandbox": {"environment": "dev"},
    "bare": {},
    "blank": {"tier": ""},
    "odd": {"in": "notin", "replicas": "5", "example.com/team": "web"},
}

# The selectors of the Kubernetes docs ("Labels and Selectors", its kubectl examples) and of
# apimachinery's own grammar comment, plus the corners of the grammar.
DOCUMENTED = [
    "environment = production",
    "tier != frontend",
    "environment=production,tier!=frontend",
    "environment in (production, qa)",
    "tier notin (frontend, backend)",
    "partition",
    "!partition",
    "partition,environment notin (qa)",
    "environment=production,tier=frontend",
    "environment in (production),tier in (frontend)",
    "environment,environment notin (frontend)",
    "x in (foo,,baz),y,z notin ()",
]
CORNERS = [
    "",
    "environment==qa",
    "environment=",
    "environment in ()",
    "tier=",
    "tier in ()",
    "tier notin ()",
    "tier!=",
    "tier in (,frontend)",
    "tier notin (frontend,)",
    "in=notin",
    "in in (in, notin)",
    "example.com/team=web",
    "replicas>3",
    "replicas<3",
    " environment\t=\tproduction ,\n!partition ",
]

# Wrong selectors whose message kubectl's kustomize words as kubectl 1.32 does.
BAD_AS_KUBECTL = [
    "environment in (production",
    "a in (x",
    "!",
    "!!a",
    "a=b c",
    "a=b=c",
    "x==a==b",
    "!x=a",
    "x in (a b)",
    "a notin",
    "a=(b)",
    ",a",
    ")",
    "a=b,",
    "Env_=x",
    "-a",
    "a/b/c",
    "/a",
    "a/",
    "a=-b",
    "x=a||y=b",
    "a" * 64,
    "a=" + "b" * 64,
]
# Where kustomize's older copy differs, apimachinery v0.32.0's words.
BAD_AS_KUBECTL_132 = {
    # binaryOperators joined: Gt and Lt are operators too
    "a b": "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt",
    "a (": "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt",
    # validation.go: RFC 1123 wording
    "A.b/c=d": 'unable to parse requirement: invalid label key "A.b/c": prefix part a '
    "lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    # NewRequirement: Gt and Lt take an integer
    "replicas>x": 'unable to parse requirement: values[0]: Invalid value: "x": '
    "for 'Gt', 'Lt' operators, the value must be an integer",
    "replicas<": 'unable to parse requirement: values[0]: Invalid value: "": '
    "for 'Gt', 'Lt' operators, the value must be an integer",
}


def kubectl_kustomize(selectors: list[str], folder: Path) -> tuple[bool, str | list[list[str]]]:
    """(True, for each selector the names kubectl selects) or (False, kubectl's error message,
    which is about the first selector it refuses): one build, one patch per selector."""
    kubectl = require_tool("kubectl", "kubectl is on the machine image")
    folder.mkdir()
    documents = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            # An annotation to begin with, so that each patch adds its own key to the map.
            "metadata": {"name": name, "labels": labels, "annotations": {"base": "x"}},
        }
        for name, labels in NAMESPACES.items()
    ]
    (folder / "ns.yaml").write_text(yaml.safe_dump_all(documents))
    patches = []
    for index, selector in enumerate(selectors):
        mark = [{"op": "add", "path": f"/metadata/annotations/picked-{index}", "value": "yes"}]
        target = {"kind": "Namespace", "labelSelector": selector}
        patches.append({"target": target, "patch": json.dumps(mark)})
    kustomization = {"resources": ["ns.yaml"], "patches": patches}
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    proc = subprocess.run(
        [kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=60
    )
    if proc.returncode != 0:
        found = re.search(r'err="(.*)"\s*$', proc.stderr.strip(), re.S)
        assert found, f"no error message from kubectl: {proc.stderr[:300]}"
        return False, found.group(1).replace('\\"', '"').replace("\\\\", "\\")
    built = list(yaml.safe_load_all(proc.stdout))
    return True, [
        sorted(
            d["metadata"]["name"] for d in built if f"picked-{i}" in d["metadata"]["annotations"]
        )
        for i in range(len(selectors))
    ]


@pytest.fixture(scope="module")
def kubectl_selections(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """What kubectl selects with each good selector, all in one build."""
    selectors = DOCUMENTED + CORNERS
    ok, picked = kubectl_kustomize(selectors, tmp_path_factory.mktemp("selections") / "build")
    assert ok, f"kubectl refused one of the selectors: {picked}"
    return dict(zip(selectors, picked, strict=True))


def selected(selector: str) -> list[str]:
    parsed = parse_selector(selector)
    return sorted(name for name, labels in NAMESPACES.items() if parsed.matches(labels))


@pytest.mark.parametrize("selector", DOCUMENTED + CORNERS)
def test_selects_what_kubectl_selects(
    selector: str, kubectl_selections: dict[str, list[str]]
) -> None:
    assert selected(selector) == kubectl_selections[selector]


def test_documented_examples_pick_the_expected_namespaces() -> None:
    """Independently of kubectl: what the docs say each selector means."""
    assert selected("environment = production") == ["payments", "shop"]
    assert selected("tier != frontend") == ["bare", "blank", "odd", "payments", "sandbox"]
    assert selected("environment in (production, qa)") == ["payments", "shop", "shop-qa"]
    assert selected("partition,environment notin (qa)") == ["shop"]
    assert selected("!partition") == ["bare", "blank", "odd", "payments", "sandbox"]
    assert selected("tier=") == ["blank"]
    assert selected("") == sorted(NAMESPACES)


@pytest.mark.parametrize("selector", BAD_AS_KUBECTL)
def test_errors_in_kubectls_words(selector: str, tmp_path: Path) -> None:
    ok, message = kubectl_kustomize([selector], tmp_path / "build")
    assert not ok, f"kubectl accepted {selector!r}"
    with pytest.raises(SelectorError) as caught:
        parse_selector(selector)
    assert caught.value.message == message


@pytest.mark.parametrize(("selector", "message"), BAD_AS_KUBECTL_132.items())
def test_errors_in_kubectl_132s_words(selector: str, message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        parse_selector(selector)
    assert caught.value.message == message


def test_a_bad_selector_is_a_usage_error_that_quotes_it(cli: Cli, tmp_path: Path) -> None:
    dump = Path(__file__).parent / "cluster_state" / "kubectl-get.yaml"
    result = cli(
        "render",
        str(Path(__file__).parent / "fixtures" / "seed-clusterfile.yaml"),
        "--cluster-state",
        str(dump),
        "--namespace-selector",
        "tier in (frontend",
    )
    assert result.code == 2
    assert result.err == (
        "gen-secret: error: unable to parse requirement: found '', expected: ',' or ')' "
        "(--namespace-selector 'tier in (frontend')\n"
    )
