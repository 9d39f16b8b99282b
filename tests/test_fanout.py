"""Pull copies, ServiceAccounts, workload patches and aliases, checked with real kustomize."""

from __future__ import annotations

import base64
import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from generator.app.pipeline import Request, run
from generator.errors import GenSecretError
from generator.plan.fanout import parse_namespace_lines
from tests.conftest import FIXTURES, Cli, Run, assert_valid, decode_data, require_tool

CLUSTERFILE = FIXTURES / "ha-auth-multidoc.yaml"


def kubectl(*args: str, stdin: bytes | None = None) -> str:
    binary = require_tool(
        "kubectl", "kubectl is on the machine image; install it from your distribution"
    )
    proc = subprocess.run(
        [binary, *args], input=stdin, capture_output=True, timeout=60, check=False
    )
    if proc.returncode != 0:
        # kustomize errors name files and fields, never Secret data.
        pytest.fail(f"kubectl {args[0]} failed: {proc.stderr.decode()[:500]}", pytrace=False)
    return proc.stdout.decode()


def render_out(cli: Cli, out: Path, *args: str, stdin: bytes = b"") -> Run:
    result: Run = cli("render", str(CLUSTERFILE), "--out", str(out), *args, stdin=stdin)
    assert result.code == 0, result.err
    return result


def test_pull_namespaces_from_kubectl_output(cli: Cli, tmp_path: Path) -> None:
    listing = (
        b"namespace/default\nnamespace/kube-system\n\n# teams\nnamespace/team-a\nteam-b # inline\n"
    )
    render_out(
        cli, tmp_path, "--pull-namespaces-from", "-", "--exclude-namespace", "kube-*", stdin=listing
    )
    documents = list(yaml.safe_load_all(kubectl("kustomize", str(tmp_path))))
    kinds = sorted(
        (d["kind"], d["metadata"]["namespace"], d["metadata"]["name"]) for d in documents
    )
    assert kinds == [
        ("Secret", "default", "sealer-registry"),
        ("Secret", "kube-system", "sealer-registry"),
        ("Secret", "team-a", "sealer-registry"),
        ("Secret", "team-b", "sealer-registry"),
        ("ServiceAccount", "default", "default"),
        ("ServiceAccount", "team-a", "default"),
        ("ServiceAccount", "team-b", "default"),
    ]
    for document in documents:
        assert_valid(document)


def test_pull_copy_carries_only_the_dockerconfigjson(cli: Cli, tmp_path: Path) -> None:
    render_out(cli, tmp_path, "--pull-namespace", "team-a")
    main, copy, account = (
        d
        for f in ("secret.yaml", "pull-secrets.yaml")
        for d in yaml.safe_load_all((tmp_path / f).read_text())
    )
    assert copy["type"] == "kubernetes.io/dockerconfigjson"
    assert (copy["metadata"]["name"], copy["metadata"]["namespace"]) == (
        "sealer-registry",
        "team-a",
    )
    assert set(copy["data"]) == {".dockerconfigjson"}
    same = copy["data"][".dockerconfigjson"] == main["data"][".dockerconfigjson"]
    assert same, "the pull copy's .dockerconfigjson differs from the main Secret's"
    assert {"username", "password", "url"} <= set(main["data"])
    assert account["imagePullSecrets"] == [{"name": "sealer-registry"}]


def test_service_accounts_keep_listed_pull_secrets(cli: Cli, tmp_path: Path) -> None:
    render_out(
        cli,
        tmp_path,
        "--pull-namespace",
        "apps",
        "--service-account",
        "builder",
        "--service-account",
        "default",
        "--keep-pull-secret",
        "harbor-creds",
        "--name",
        "sea-pull",
    )
    accounts = [
        d
        for d in yaml.safe_load_all((tmp_path / "pull-secrets.yaml").read_text())
        if d["kind"] == "ServiceAccount"
    ]
    assert [a["metadata"]["name"] for a in accounts] == ["builder", "default"]
    for account in accounts:
        assert account["imagePullSecrets"] == [{"name": "sea-pull"}, {"name": "harbor-creds"}]
        assert_valid(account)


def test_stdout_stays_appliable_and_matches_out(cli: Cli, tmp_path: Path) -> None:
    result = cli(
        "render", str(CLUSTERFILE), "--pull-namespace", "team-a", "--pull-namespace", "team-b"
    )
    assert result.code == 0
    render_out(cli, tmp_path, "--pull-namespace", "team-a", "--pull-namespace", "team-b")
    from_out = list(yaml.safe_load_all(kubectl("kustomize", str(tmp_path))))
    key = lambda d: (d["kind"], d["metadata"]["namespace"], d["metadata"]["name"])  # noqa: E731
    assert sorted(yaml.safe_load_all(result.out), key=key) == sorted(from_out, key=key)


WORKLOADS = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: team-a}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      imagePullSecrets: [{name: existing}]
      containers: [{name: web, image: "sea.hub:5000/team-a/web:1"}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: team-a}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          imagePullSecrets: [{name: existing}]
          containers: [{name: job, image: "sea.hub:5000/team-a/job:1"}]
"""


def test_patches_merge_with_existing_entries_in_kustomize(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "generated"
    render_out(cli, out, "--patch", "team-a/deployment/web", "--patch", "team-a/cj/nightly")
    patches = sorted(p.relative_to(out).as_posix() for p in (out / "patches").rglob("*.yaml"))
    assert patches == ["patches/team-a/cronjob-nightly.yaml", "patches/team-a/deployment-web.yaml"]
    # The patched namespace got a pull copy; patches are not listed as resources.
    kustomization = yaml.safe_load((out / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["secret.yaml", "pull-secrets.yaml"]

    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "workloads.yaml").write_text(WORKLOADS)
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": ["workloads.yaml"],
                "patches": [{"path": f"../generated/{p}"} for p in patches],
            }
        )
    )
    documents = {
        d["kind"]: d
        for d in yaml.safe_load_all(
            kubectl("kustomize", str(overlay), "--load-restrictor", "LoadRestrictionsNone")
        )
    }
    deployment_pod = documents["Deployment"]["spec"]["template"]["spec"]
    cronjob_pod = documents["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    for pod in (deployment_pod, cronjob_pod):
        assert sorted(e["name"] for e in pod["imagePullSecrets"]) == ["existing", "sealer-registry"]
        assert all("imagePullSecrets" not in c for c in pod["containers"])
    for document in documents.values():
        assert_valid(document)


def test_patch_file_works_with_kubectl_patch(cli: Cli, tmp_path: Path) -> None:
    render_out(cli, tmp_path, "--patch", "team-a/deployment/web")
    deployment = tmp_path / "deployment.yaml"
    deployment.write_text(WORKLOADS.split("---\n")[0])
    patched = yaml.safe_load(
        kubectl(
            "patch",
            "--local",
            "-f",
            str(deployment),
            "--type",
            "strategic",
            "--patch-file",
            str(tmp_path / "patches/team-a/deployment-web.yaml"),
            "-o",
            "yaml",
        )
    )
    names = [e["name"] for e in patched["spec"]["template"]["spec"]["imagePullSecrets"]]
    assert sorted(names) == ["existing", "sealer-registry"]


def test_patch_without_out_is_a_usage_error(cli: Cli) -> None:
    result = cli("render", str(CLUSTERFILE), "--patch", "deployment/web")
    assert result.code == 2
    assert result.out == ""
    assert len(result.err.splitlines()) == 1
    assert "--out" in result.err


@pytest.mark.parametrize(
    "bad", ["web", "a/b/c/d", "team-a/service/web", "Team/deployment/web", "deployment/Web"]
)
def test_bad_patch_targets_are_rejected(cli: Cli, tmp_path: Path, bad: str) -> None:
    result = cli("render", str(CLUSTERFILE), "--out", str(tmp_path), "--patch", bad)
    assert result.code in (1, 2)
    assert len(result.err.splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_bad_namespace_in_list_names_its_line(cli: Cli, tmp_path: Path) -> None:
    listing = tmp_path / "ns.txt"
    listing.write_text("team-a\n\n# ok\nTeam_B\n")
    result = cli("render", str(CLUSTERFILE), "--pull-namespaces-from", str(listing))
    assert result.code == 1
    assert f"({listing}:4)" in result.err
    assert "Team_B" in result.err


def test_namespace_lines_accept_kubectl_form() -> None:
    assert parse_namespace_lines("namespace/a\nb\n  # c\n\nnamespace/d # e\n", "f") == [
        "a",
        "b",
        "d",
    ]
    with pytest.raises(GenSecretError, match=r"f:2"):
        parse_namespace_lines("ok\nnamespace/not.ok\n", "f")


def test_stale_files_from_an_earlier_render_are_removed(cli: Cli, tmp_path: Path) -> None:
    render_out(
        cli,
        tmp_path,
        "--pull-namespace",
        "team-a",
        "--pull-namespace",
        "team-b",
        "--patch",
        "team-b/deploy/x",
    )
    mine = tmp_path / "notes.txt"
    mine.write_text("the user's own file")
    assert (tmp_path / "patches/team-b/deployment-x.yaml").exists()
    render_out(cli, tmp_path, "--pull-namespace", "team-a")
    assert not (tmp_path / "patches").exists()
    assert mine.read_text() == "the user's own file"
    namespaces = {
        d["metadata"]["namespace"] for d in yaml.safe_load_all(kubectl("kustomize", str(tmp_path)))
    }
    assert namespaces == {"kube-system", "team-a"}
    render_out(cli, tmp_path)  # no namespaces at all: no pull-secrets.yaml to apply by mistake
    assert not (tmp_path / "pull-secrets.yaml").exists()
    assert mine.read_text() == "the user's own file"


def auths_of(stream: str) -> dict[str, dict[str, str]]:
    main = next(yaml.safe_load_all(stream))
    auths: dict[str, dict[str, str]] = json.loads(decode_data(main)[".dockerconfigjson"])["auths"]
    return auths


def test_certificate_sans_and_aliases_become_auths_keys(tmp_path: Path) -> None:
    request = Request(aliases=("*.prod-east.internal:5000", "sea.hub"), ca_root=tmp_path)
    auths = auths_of(run(CLUSTERFILE.read_bytes(), "f", request).stream)
    assert sorted(auths) == [
        "*.prod-east.internal:5000",
        "10.0.0.11:5000",  # cert.subjectAltName.ips, with the registry's port
        "registry.prod-east.internal:5000",  # cert.subjectAltName.dnsNames
        "sea.hub",  # an alias is taken exactly as written: no port means no port
        "sea.hub:5000",
    ]
    assert len({json.dumps(entry, sort_keys=True) for entry in auths.values()}) == 1
    token = base64.b64decode(auths["sea.hub:5000"]["auth"])
    assert token.split(b":", 1)[0] == b"sealer"


@pytest.mark.parametrize(
    "alias", ["https://sea.hub", "sea.hub:0", "sea.hub:70000", "sea hub", "a/b"]
)
def test_bad_aliases_are_rejected(alias: str, tmp_path: Path) -> None:
    with pytest.raises(GenSecretError, match="--alias"):
        run(CLUSTERFILE.read_bytes(), "f", Request(aliases=(alias,), ca_root=tmp_path))


def test_ten_thousand_namespaces_in_one_run(tmp_path: Path) -> None:
    names = "".join(f"namespace/ns-{i:05d}\n" for i in range(10_000))
    result = run(
        CLUSTERFILE.read_bytes(),
        "f",
        Request(pull_namespace_lists=((names, "ns.txt"),), ca_root=tmp_path),
    )
    assert result.context.resources == ("secret.yaml", "pull-secrets.yaml")
    # Every object's namespace, in order, from the text; the first and last 100 documents
    # parsed whole (with libyaml: loading all 20,001 took 2 s, and test_stamping compares the
    # whole stream with the object-by-object render, each object of which is read back).
    stream = result.stream
    namespaces = re.findall(r"^  namespace: (.*)$", stream, re.MULTILINE)
    assert namespaces == ["kube-system"] + [f"ns-{i:05d}" for i in range(10_000) for _ in "ab"]
    documents = stream.split("\n---\n")
    assert len(documents) == 1 + 2 * 10_000
    for i in [*range(100), *range(len(documents) - 100, len(documents))]:
        loaded = yaml.load(documents[i], Loader=yaml.CSafeLoader)
        assert loaded["metadata"]["namespace"] == namespaces[i]
    assert result.stream.count("kind: ServiceAccount\n") == 10_000
    assert result.stream.count("kind: Secret\n") == 10_001


def test_ipv6_keys_are_bracketed_as_image_references_write_them(tmp_path: Path) -> None:
    clusterfile = b"""\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {name: v6}
spec:
  registry:
    localRegistry:
      domain: "fd00::10"
      port: 5000
      cert: {subjectAltName: {ips: ["fd00::11", 10.0.0.1]}}
"""
    request = Request(aliases=("[fd00::12]:5000",), ca_root=tmp_path)
    result = run(clusterfile, "v6", request)
    # `fd00::10:5000` would be unusable: no port can be split off it.
    assert sorted(auths_of(result.stream)) == [
        "10.0.0.1:5000",
        "[fd00::10]:5000",
        "[fd00::11]:5000",
        "[fd00::12]:5000",
    ]
    (secret,) = yaml.safe_load_all(result.stream)
    assert decode_data(secret)["url"] == b"[fd00::10]:5000"


SHOP = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      imagePullSecrets: [{name: existing}]
      containers: [{name: web, image: "sea.hub:5000/shop/web:1"}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: shop}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: job, image: "sea.hub:5000/shop/report:1"}]
"""


def readme_block(starts: str, holding: str = "") -> str:
    """The README's one code block that starts with `starts` and holds `holding`."""
    from tests.conftest import ROOT

    readme = (ROOT / "docs" / "usage.md").read_text(encoding="utf-8")
    blocks = re.findall(rf"```\w*\n({re.escape(starts)}.*?)```", readme, re.DOTALL)
    found = [block for block in blocks if holding in block]
    assert len(found) == 1, f"want one README block starting {starts!r} holding {holding!r}"
    return str(found[0])


def test_the_readme_overlay_works_with_plain_kubectl_kustomize(cli: Cli, tmp_path: Path) -> None:
    # The README's command and overlay, as written there, on workloads of the test's own.
    command = readme_block("gen-secret render Clusterfile --patch", "clusters/prod/registry/")
    args = shlex.split(command.replace("\\\n", " "))[2:]  # after `gen-secret render`
    assert args[0] == "Clusterfile"
    (tmp_path / "apps" / "shop").mkdir(parents=True)
    (tmp_path / "apps" / "shop" / "workloads.yaml").write_text(SHOP)
    (tmp_path / "apps" / "shop" / "kustomization.yaml").write_text("resources: [workloads.yaml]\n")
    args = [
        str(CLUSTERFILE),
        *(str(tmp_path / a) if a.startswith("clusters/") else a for a in args[1:]),  # --out
    ]
    assert cli("render", *args).code == 0
    overlay = readme_block("# clusters/prod/kustomization.yaml")
    (tmp_path / "clusters" / "prod" / "kustomization.yaml").write_text(overlay)
    documents = list(yaml.safe_load_all(kubectl("kustomize", str(tmp_path / "clusters" / "prod"))))
    kinds = {(d["kind"], d["metadata"]["namespace"], d["metadata"]["name"]) for d in documents}
    assert ("Secret", "kube-system", "sealer-registry") in kinds
    assert ("Secret", "shop", "sealer-registry") in kinds  # the patched namespace's pull copy
    by_kind = {d["kind"]: d for d in documents if d["kind"] in ("Deployment", "CronJob")}
    deployment = by_kind["Deployment"]["spec"]["template"]["spec"]
    cronjob = by_kind["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert sorted(e["name"] for e in deployment["imagePullSecrets"]) == [
        "existing",
        "sealer-registry",
    ]
    assert [e["name"] for e in cronjob["imagePullSecrets"]] == ["sealer-registry"]
