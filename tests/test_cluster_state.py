"""--cluster-state and --namespace-selector: namespaces by label, ServiceAccounts that keep
their pull secrets, checked with kubectl kustomize and a strategic merge by kubectl."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from generator.errors import GenSecretError
from generator.plan.clusterstate import read_cluster_state
from tests.conftest import FIXTURES, HERE, Cli, Run, assert_valid
from tests.test_fanout import kubectl

CLUSTERFILE = FIXTURES / "ha-auth-multidoc.yaml"
DUMPS = HERE / "cluster_state"
DUMP = DUMPS / "kubectl-get.yaml"  # `kubectl get namespaces,serviceaccounts -A -o yaml`
DUMP_JSON = DUMPS / "kubectl-get.json"  # the same with -o json


def render(cli: Cli, out: Path, *args: str, stdin: bytes = b"") -> Run:
    result: Run = cli("render", str(CLUSTERFILE), "--out", str(out), *args, stdin=stdin)
    assert result.code == 0, result.err
    return result


def documents(path: Path) -> list[dict[str, object]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def accounts(out: Path) -> dict[str, list[str]]:
    """`namespace/name` of each ServiceAccount written -> its pull secrets, in order."""
    found: dict[str, list[str]] = {}
    for document in documents(out / "pull-secrets.yaml"):
        if document["kind"] == "ServiceAccount":
            metadata = document["metadata"]
            assert isinstance(metadata, dict)
            entries = document["imagePullSecrets"]
            assert isinstance(entries, list)
            found[f"{metadata['namespace']}/{metadata['name']}"] = [e["name"] for e in entries]
    return found


def copies(out: Path) -> list[str]:
    return [
        d["metadata"]["namespace"]  # type: ignore[index]
        for d in documents(out / "pull-secrets.yaml")
        if d["kind"] == "Secret"
    ]


def test_selector_picks_namespaces_and_accounts_keep_their_pull_secrets(
    cli: Cli, tmp_path: Path
) -> None:
    render(
        cli,
        tmp_path,
        "--cluster-state",
        str(DUMP),
        "--namespace-selector",
        "environment=production",
    )
    assert copies(tmp_path) == ["payments", "shop"]
    assert accounts(tmp_path) == {
        "payments/default": ["sealer-registry"],  # lists nothing today
        "shop/default": ["dockerhub-mirror", "quay-robot", "sealer-registry"],
    }
    for document in documents(tmp_path / "pull-secrets.yaml"):
        assert_valid(document)


def test_json_dump_gives_the_same_files(cli: Cli, tmp_path: Path) -> None:
    selector = ("--namespace-selector", "tier in (frontend, backend)")
    render(cli, tmp_path / "yaml", "--cluster-state", str(DUMP), *selector)
    render(cli, tmp_path / "json", "--cluster-state", str(DUMP_JSON), *selector)
    for name in ("pull-secrets.yaml", "kustomization.yaml", "secret.yaml"):
        assert (tmp_path / "yaml" / name).read_bytes() == (tmp_path / "json" / name).read_bytes()


def test_the_secret_keeps_its_place_and_is_listed_once(cli: Cli, tmp_path: Path) -> None:
    render(
        cli,
        tmp_path,
        "--cluster-state",
        str(DUMP),
        "--namespace-selector",
        "partition",
        "--exclude-namespace",
        "*-qa",
        "--service-account",
        "checkout",
        "--service-account",
        "default",
        "--keep-pull-secret",
        "quay-robot",
        "--keep-pull-secret",
        "harbor",
    )
    assert accounts(tmp_path) == {
        # listed the Secret already: it stays where it was, once
        "shop/checkout": [
            "vendor-registry",
            "sealer-registry",
            "ghcr-token",
            "quay-robot",
            "harbor",
        ],
        "shop/default": ["dockerhub-mirror", "quay-robot", "sealer-registry", "harbor"],
    }


def test_selector_and_pull_namespace_add_up_before_exclusion(cli: Cli, tmp_path: Path) -> None:
    render(
        cli,
        tmp_path,
        "--cluster-state",
        str(DUMP),
        "--namespace-selector",
        "environment in (qa, dev)",
        "--pull-namespace",
        "monitoring",  # not in the dump: written as today
        "--exclude-namespace",
        "sandbox",
    )
    assert copies(tmp_path) == ["monitoring", "shop-qa"]
    assert accounts(tmp_path) == {
        "monitoring/default": ["sealer-registry"],
        "shop-qa/default": ["sealer-registry"],
    }


def test_dump_without_selector_still_keeps_pull_secrets(cli: Cli, tmp_path: Path) -> None:
    render(cli, tmp_path, "--cluster-state", str(DUMP), "--pull-namespace", "shop")
    assert accounts(tmp_path) == {
        "shop/default": ["dockerhub-mirror", "quay-robot", "sealer-registry"]
    }


def test_plain_multi_document_yaml_from_stdin(cli: Cli, tmp_path: Path) -> None:
    stream = """\
apiVersion: v1
kind: Namespace
metadata:
  name: web
  labels: {team: web}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: web}
imagePullSecrets: [{name: one}, {}, {name: two}]
---
"""
    render(
        cli,
        tmp_path,
        "--cluster-state",
        "-",
        "--namespace-selector",
        "team=web",
        stdin=stream.encode(),
    )
    # An entry without a name refers to no Secret; it is left out.
    assert accounts(tmp_path) == {"web/default": ["one", "two", "sealer-registry"]}


def test_kept_in_order_after_kubectl_kustomize(cli: Cli, tmp_path: Path) -> None:
    render(cli, tmp_path, "--cluster-state", str(DUMP), "--namespace-selector", "tier")
    built = yaml.safe_load_all(kubectl("kustomize", str(tmp_path)))
    lists = {
        f"{d['metadata']['namespace']}/{d['metadata']['name']}": [
            e["name"] for e in d["imagePullSecrets"]
        ]
        for d in built
        if d["kind"] == "ServiceAccount"
    }
    assert lists["shop/default"] == ["dockerhub-mirror", "quay-robot", "sealer-registry"]
    assert lists["payments/default"] == ["sealer-registry"]


def live_account(namespace: str, name: str) -> dict[str, object]:
    items = yaml.safe_load(DUMP.read_text())["items"]
    (found,) = [
        i
        for i in items
        if i["kind"] == "ServiceAccount"
        and (i["metadata"]["namespace"], i["metadata"]["name"]) == (namespace, name)
    ]
    return dict(found)


def merged(tmp_path: Path, rendered: Path, namespace: str, name: str) -> list[str]:
    """What a strategic merge of the rendered ServiceAccount onto the live one leaves."""
    live = tmp_path / f"live-{namespace}-{name}.json"
    live.write_text(json.dumps(live_account(namespace, name)))
    (patch,) = [
        d
        for d in documents(rendered / "pull-secrets.yaml")
        if d["kind"] == "ServiceAccount"
        and d["metadata"]["namespace"] == namespace  # type: ignore[index]
        and d["metadata"]["name"] == name  # type: ignore[index]
    ]
    patch_file = tmp_path / f"patch-{namespace}-{name}.json"
    patch_file.write_text(json.dumps(patch))
    result = yaml.safe_load(
        kubectl(
            "patch", "--local", "-f", str(live), "--type", "strategic",
            "--patch-file", str(patch_file), "-o", "yaml",
        )
    )  # fmt: skip
    return [entry["name"] for entry in result["imagePullSecrets"]]


def test_kept_in_order_after_a_strategic_merge(cli: Cli, tmp_path: Path) -> None:
    with_dump, without = tmp_path / "with-dump", tmp_path / "without"
    args = ("--pull-namespace", "shop", "--service-account", "checkout")
    render(cli, with_dump, "--cluster-state", str(DUMP), *args)
    render(cli, without, *args)
    assert merged(tmp_path, with_dump, "shop", "checkout") == [
        "vendor-registry",
        "sealer-registry",
        "ghcr-token",
    ]
    # Why the dump matters: the list is atomic, and without it the others are dropped.
    assert merged(tmp_path, without, "shop", "checkout") == ["sealer-registry"]


def test_selector_matching_nothing_warns(cli: Cli, tmp_path: Path) -> None:
    result = render(
        cli,
        tmp_path,
        "--cluster-state",
        str(DUMP),
        "--namespace-selector",
        "environment=staging",
    )
    assert (
        "gen-secret: warning: --namespace-selector 'environment=staging' matches none of the "
        "6 namespaces in the cluster state\n"
    ) in result.err
    assert not (tmp_path / "pull-secrets.yaml").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--namespace-selector", "a=b", "--pull-namespace", "x"),
            "--namespace-selector needs --cluster-state FILE to find namespaces in",
        ),
        (
            ("--cluster-state", str(DUMP)),
            "--service-account, --keep-pull-secret and --cluster-state need a "
            "--pull-namespace, --pull-namespaces-from or --namespace-selector",
        ),
        (
            ("--cluster-state", "-", "--password-stdin", "--pull-namespace", "x"),
            "only one input can come from stdin: --password-stdin and --cluster-state -",
        ),
    ],
)
def test_usage_errors(cli: Cli, args: tuple[str, ...], message: str) -> None:
    result = cli("render", str(CLUSTERFILE), *args)
    assert (result.code, result.err) == (2, f"gen-secret: error: {message}\n")


def test_a_fleet_takes_no_cluster_state(cli: Cli, tmp_path: Path) -> None:
    result = cli(
        "render",
        str(FIXTURES / "ha-auth-multidoc.yaml"),
        str(FIXTURES / "external-registry.yaml"),
        "--out",
        str(tmp_path),
        "--cluster-state",
        str(DUMP),
        "--pull-namespace",
        "shop",
    )
    assert result.code == 2
    assert "--cluster-state describes one cluster" in result.err


BAD_DUMPS = {
    "pod-in-list.yaml": (
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n"
        "- apiVersion: v1\n  kind: Pod\n  metadata: {name: p, namespace: a}\n",
        "expected a v1 Namespace or ServiceAccount, found 'v1/Pod' (items[1].kind at {}:6)",
    ),
    "configmap.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
        "expected a v1 Namespace or ServiceAccount, found 'v1/ConfigMap' (kind at {}:2)",
    ),
    "wrong-version.yaml": (
        "apiVersion: v2\nkind: Namespace\nmetadata: {name: c}\n",
        "expected a v1 Namespace or ServiceAccount, found 'v2/Namespace' (kind at {}:2)",
    ),
    "scalar.yaml": ("just text\n", "expected a Namespace, a ServiceAccount or a List ({}:1)"),
    "items-not-list.yaml": ("kind: List\nitems: {a: b}\n", "must be a list (items at {}:2)"),
    "no-namespace.yaml": (
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: default\n",
        "missing (metadata.namespace at {}:3)",
    ),
    "bad-labels.yaml": (
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels: [x]\n",
        "must be a mapping (metadata.labels at {}:5)",
    ),
    "bad-pull-secrets.yaml": (
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: d, namespace: a}\n"
        "imagePullSecrets: [{name: 5}]\n",
        "must be a string (imagePullSecrets[0].name at {}:4)",
    ),
    "twice.yaml": (
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n"
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
        "Namespace a is in the cluster state twice, also at {}:1 ({}:5)",
    ),
    "invalid-yaml.yaml": ("kind: [List\n", "invalid YAML: "),
}


@pytest.mark.parametrize("name", sorted(BAD_DUMPS))
def test_bad_dumps_get_one_line(cli: Cli, tmp_path: Path, name: str) -> None:
    text, message = BAD_DUMPS[name]
    dump = tmp_path / name
    dump.write_text(text)
    result = cli(
        "render",
        str(CLUSTERFILE),
        "--cluster-state",
        str(dump),
        "--pull-namespace",
        "a",
    )
    assert result.code == 1
    assert result.err.startswith("gen-secret: error: " + message.replace("{}", str(dump)))
    assert result.err.count("\n") == 1
    assert result.out == ""


def test_a_dump_over_the_limit_is_refused(cli: Cli, tmp_path: Path) -> None:
    dump = tmp_path / "huge.yaml"
    with dump.open("wb") as handle:
        handle.write(b"kind: List\nitems: []\n# " + b"x" * (10 * 1024 * 1024) + b"\n")
    result = cli("render", str(CLUSTERFILE), "--cluster-state", str(dump), "--pull-namespace", "a")
    assert (result.code, result.err) == (
        1,
        f"gen-secret: error: file is larger than 10 MiB ({dump})\n",
    )


def test_too_many_nodes_is_refused(tmp_path: Path) -> None:
    items = "".join(
        f"- {{apiVersion: v1, kind: Namespace, metadata: {{name: n{i}, labels: {{a: b}}}}}}\n"
        for i in range(30_000)
    )
    with pytest.raises(GenSecretError, match="more than 200000 YAML nodes"):
        read_cluster_state([("big.yaml", f"kind: List\nitems:\n{items}".encode())])


def test_a_missing_dump_names_itself(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = cli(
        "render", str(CLUSTERFILE), "--cluster-state", str(missing), "--pull-namespace", "a"
    )
    assert result.code == 1
    assert (
        result.err
        == f"gen-secret: error: cannot read file: No such file or directory ({missing})\n"
    )
