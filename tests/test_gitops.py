"""--gitops flux|argocd: the wiring objects, valid against the engines' published schemas,
pointing at folders that kustomize builds.

The schemas come from npm, installed by `make test-deps` into `.npm-test/` (versions pinned in
the Makefile's NPM_TEST_PACKAGES); without them the schema tests skip, and fail in CI:

- `@kubernetes-models/flux-cd` 3.0.1 (MIT, kubernetes-models-ts): models generated from Flux's
  released CRDs; Kustomization v1 from kustomize-controller v1.8.4 (Apache-2.0).
- `@kubernetes-models/argo-cd` 4.0.0 (MIT, kubernetes-models-ts): models generated from Argo CD
  v3.3.9's API types, `pkg/apis/application/v1alpha1` (Apache-2.0).
- `typescript` 5.9.3 (Apache-2.0), which reads the models' declarations.

`tests/k8s_models.mjs` checks each object with its model's JSON-schema validator (types, enums,
required fields, patterns) and, through the TypeScript compiler, against its model's declared
type, which refuses unknown fields as the API server's strict field validation does (kubectl's
default); the validators alone let them through, as a CRD's structural schema alone would.

How faithful (measured once against the upstream CRD files, kustomize-controller v1.9.0+36 and
Argo CD's main branch, made strict; they are not in the repository): of 155 single-field breaks
of the objects gen-secret writes (unknown field in each object, wrong type, empty or odd value,
or removal of each field), the checks agree with the CRDs on all 99 outside the top-level
`metadata` and on 41 of its 56; the other 15 they refuse where the CRDs, which leave `metadata`
open, accept: a number for a name or label, an unknown field, as the API server's ObjectMeta does.
Flux 3.0.1 rather than 4.0.0: 4.0.0 is generated from the Go types and lost the CRD's `interval`
pattern. Fields newer than the models (Flux v1.9's `buildMetadata`, `ignore`) are unknown to them.
"""

from __future__ import annotations

import json
import re
import select
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.errors import GenSecretError, UsageError
from generator.render.gitops import (
    GitOpsSpec,
    argo_normalised,
    gitops_objects,
    render_gitops,
    repository_path,
)
from tests.conftest import FIXTURES, HERE, Cli, Run, require_npm_packages, require_tool
from tests.test_fanout import kubectl

MODEL_PACKAGES = ("@kubernetes-models/flux-cd", "@kubernetes-models/argo-cd", "typescript")
FLEET = [FIXTURES / "ha-auth-multidoc.yaml", FIXTURES / "external-registry.yaml"]
CLUSTERS = ["prod-east", "uses-harbor"]  # their metadata.name


class SchemaChecker:
    """tests/k8s_models.mjs, started once for the module: loading the TypeScript compiler and
    parsing the models' declarations is most of a check's time."""

    def __init__(self) -> None:
        node = require_tool("node", "install Node.js and npm, then run make test-deps")
        prefix = require_npm_packages(*MODEL_PACKAGES)
        # To a file, not a pipe nobody reads while it runs: a full pipe would stop node.
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop() or close()
        self.process = subprocess.Popen(
            [node, str(HERE / "k8s_models.mjs"), str(prefix)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )

    def faults(self, documents: list[dict[str, Any]]) -> list[list[str]]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps(documents) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], 180)
        answer = self.process.stdout.readline() if ready else ""
        if not answer:
            pytest.fail(f"the schema checker stopped, or gave no answer in 180 s: {self.stop()}")
        faults: list[list[str]] = json.loads(answer)
        assert len(faults) == len(documents)
        return faults

    def stop(self) -> str:
        """Kill it; what it wrote on stderr."""
        self.process.kill()
        self.process.wait(timeout=10)
        self.stderr.seek(0)
        said = self.stderr.read().decode(errors="replace")[-2000:]
        self.stderr.close()
        return said

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        code = self.process.wait(timeout=30)
        self.stderr.close()
        assert code == 0, f"the schema checker exited with {code}"


_CHECKERS: list[SchemaChecker] = []


@pytest.fixture(autouse=True, scope="module")
def _stop_the_schema_checker() -> Iterator[None]:
    yield
    while _CHECKERS:
        _CHECKERS.pop().close()


def schema_faults(documents: list[dict[str, Any]]) -> list[list[str]]:
    """Each document's faults against its published model (empty: valid). A checker that
    fails a check is dropped, and the next check starts another: it may still owe an answer."""
    if not _CHECKERS:
        _CHECKERS.append(SchemaChecker())
    try:
        return _CHECKERS[0].faults(documents)
    except BaseException:
        checker = _CHECKERS.pop()
        if not checker.stderr.closed:
            checker.stop()
        raise


def assert_valid_against_schema(*documents: dict[str, Any]) -> None:
    faults = schema_faults(list(documents))
    assert not any(faults), [
        (i, d["kind"], d["metadata"]["name"], f)
        for i, (d, f) in enumerate(zip(documents, faults, strict=True))
        if f
    ]


def wiring_documents(folder: Path) -> list[dict[str, Any]]:
    """Every object in the YAML files under a wiring folder (flux/ or argocd/)."""
    return [
        document
        for path in sorted(folder.rglob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
    ]


def render_fleet(cli: Cli, out: Path, *args: str) -> Run:
    result: Run = cli("render", *map(str, FLEET), "--out", str(out), *args)
    assert result.code == 0, result.err
    return result


def test_flux_kustomizations_are_valid_and_point_at_buildable_folders(
    cli: Cli, tmp_path: Path
) -> None:
    repository = tmp_path / "repo"
    (repository / ".git").mkdir(parents=True)  # a git working tree, as git_work_tree sees it
    out = repository / "clusters" / "rendered"
    render_fleet(cli, out, "--gitops", "flux", "--gitops-source", "fleet-repo")
    assert_valid_against_schema(*wiring_documents(out / "flux"))
    for cluster in CLUSTERS:
        (document,) = yaml.safe_load_all(
            (out / "flux" / cluster / "sealer-registry.yaml").read_text()
        )
        spec = document["spec"]
        assert spec["path"] == f"./clusters/rendered/{cluster}"
        assert spec["prune"] is True
        assert spec["sourceRef"] == {"kind": "GitRepository", "name": "fleet-repo"}
        assert "decryption" not in spec
        assert document["metadata"]["labels"]["sealer.io/cluster"] == cluster
        # What kustomize-controller does with that path: build it.
        built = list(yaml.safe_load_all(kubectl("kustomize", str(repository / spec["path"]))))
        assert [d["kind"] for d in built] == ["Secret"]
    assert sorted(p.name for p in (out / "flux").iterdir()) == CLUSTERS
    kustomization = yaml.safe_load((out / "prod-east" / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["secret.yaml"]


def test_flux_decryption_block_when_sops_is_on() -> None:
    spec = GitOpsSpec("flux", "fleet", "sealer-registry", "kube-system", sops_decryption=True)
    files = render_gitops(spec, ["prod"])
    (document,) = yaml.safe_load_all(files["flux/prod/sealer-registry.yaml"])
    assert document["spec"]["decryption"] == {"provider": "sops", "secretRef": {"name": "sops-age"}}
    plain = GitOpsSpec("flux", "fleet", "sealer-registry", "kube-system")
    (without,) = yaml.safe_load_all(
        render_gitops(plain, ["prod"])["flux/prod/sealer-registry.yaml"]
    )
    assert "decryption" not in without["spec"]
    assert_valid_against_schema(document, without)


def test_argocd_applicationset_is_valid_and_generates_one_app_per_cluster(
    cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "rendered"
    render_fleet(
        cli,
        out,
        "--gitops",
        "argocd",
        "--gitops-repo",
        "https://git.example.com/platform/fleet.git",
        "--gitops-revision",
        "main",
        "--gitops-path",
        "fleet/rendered",
    )
    assert_valid_against_schema(*wiring_documents(out / "argocd"))
    (document,) = yaml.safe_load_all((out / "argocd" / "sealer-registry.yaml").read_text())
    (generator,) = document["spec"]["generators"]
    git = generator["git"]
    assert git["repoURL"] == "https://git.example.com/platform/fleet.git"
    assert git["revision"] == "main"
    include = [d["path"] for d in git["directories"] if not d.get("exclude")]
    exclude = [d["path"] for d in git["directories"] if d.get("exclude")]
    assert include == ["fleet/rendered/*"]
    # The folders the glob matches, less the excluded ones, are exactly the clusters, even
    # with a flux/ folder left over from Flux (its bootstrap files are not gen-secret's).
    (out / "flux" / "prod-east" / "flux-system").mkdir(parents=True)
    matched = {f"fleet/rendered/{p.name}" for p in out.iterdir() if p.is_dir()}
    assert sorted(matched - set(exclude)) == [f"fleet/rendered/{c}" for c in CLUSTERS]
    template = document["spec"]["template"]
    assert template["spec"]["destination"] == {
        "name": "{{path.basename}}",
        "namespace": "kube-system",
    }
    assert template["spec"]["source"]["path"] == "{{path}}"
    assert template["spec"]["source"]["targetRevision"] == "main"
    assert template["metadata"]["name"] == "sealer-registry-{{path.basenameNormalized}}"
    for cluster in CLUSTERS:  # what Argo CD does with each folder: kustomize build
        kinds = [d["kind"] for d in yaml.safe_load_all(kubectl("kustomize", str(out / cluster)))]
        assert kinds == ["Secret"]


def test_no_engine_finds_its_instance_label_taken(cli: Cli, tmp_path: Path) -> None:
    """Under Argo CD's label tracking, app.kubernetes.io/instance is Argo's to set: gen-secret
    never writes it, and names the cluster in sealer.io/cluster for both engines."""
    render_fleet(
        cli,
        tmp_path,
        "--gitops",
        "argocd",
        "--gitops-repo",
        "https://git.example.com/fleet.git",
        "--gitops-path",
        "rendered",
        "--pull-namespace",
        "apps",
    )
    for cluster in CLUSTERS:
        for name in ("secret.yaml", "pull-secrets.yaml"):
            for document in yaml.safe_load_all((tmp_path / cluster / name).read_text()):
                assert "app.kubernetes.io/instance" not in document["metadata"]["labels"]
                assert document["metadata"]["labels"]["sealer.io/cluster"] == cluster
    flux = tmp_path / "flux-out"
    render_fleet(cli, flux, "--gitops", "flux", "--gitops-path", "rendered")
    secret = yaml.safe_load((flux / "prod-east" / "secret.yaml").read_text())
    assert secret["metadata"]["labels"]["sealer.io/cluster"] == "prod-east"


def test_argo_names_follow_argos_normaliser() -> None:
    # applicationset/utils.SanitizeName: lower case, [^-a-z0-9.] to '-', trimmed of '-' and '.'
    assert argo_normalised("Prod_East.1") == "prod-east.1"
    assert argo_normalised("edge_") == "edge"
    spec = GitOpsSpec("argocd", "", "sealer-registry", "kube-system", repo_url="https://x/y.git")
    with pytest.raises(GenSecretError, match="'Prod' and 'prod' would both be Argo CD"):
        gitops_objects(spec, ["Prod", "prod"])


@pytest.mark.parametrize("engine", ["flux", "argocd"])
def test_a_cluster_named_like_a_wiring_folder_is_refused(engine: str) -> None:
    spec = GitOpsSpec(engine, "", "sealer-registry", "kube-system", repo_url="https://x/y.git")  # type: ignore[arg-type]
    with pytest.raises(GenSecretError, match="cluster name 'flux' is the folder --gitops"):
        gitops_objects(spec, ["prod", "flux"])


def test_repository_path(tmp_path: Path) -> None:
    assert repository_path(tmp_path / "a" / "b", tmp_path, None) == "a/b"
    assert repository_path(tmp_path, tmp_path, None) == ""
    assert repository_path(Path("out/fleet/"), None, None) == "out/fleet"
    assert repository_path(tmp_path / "x", tmp_path, "./deploy/fleet/") == "deploy/fleet"
    assert repository_path(Path("/abs"), None, ".") == ""
    for given, message in [
        ("../up", "must stay inside the repository"),
        ("/etc", "must stay inside the repository"),
        ("a b", "use letters, digits"),
        ("a/*", "use letters, digits"),
    ]:
        with pytest.raises(UsageError, match=re.escape(message)):
            repository_path(tmp_path, tmp_path, given)
    with pytest.raises(UsageError, match="is not inside a git working tree"):
        repository_path(Path("/srv/fleet"), None, None)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--gitops", "argocd"), "--gitops argocd needs --gitops-repo URL"),
        (
            ("--gitops", "flux", "--gitops-repo", "https://x/y.git"),
            "--gitops-repo and --gitops-revision are for --gitops argocd",
        ),
        (
            ("--gitops", "argocd", "--gitops-repo", "u", "--gitops-source", "s"),
            "--gitops-source is for --gitops flux",
        ),
        (("--gitops-path", "x"), "the --gitops-* options need --gitops flux or --gitops argocd"),
        (("--gitops", "flux", "--gitops-source", "Bad_Name"), "invalid name 'Bad_Name'"),
        (
            ("--gitops", "argocd", "--gitops-repo", "has space"),
            "--gitops-repo 'has space': must be one word",
        ),
    ],
)
def test_usage_errors(cli: Cli, tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = cli("render", *map(str, FLEET), "--out", str(tmp_path / "o"), *args)
    assert result.code in (1, 2)
    assert result.err.startswith(f"gen-secret: error: {message}"), result.err
    assert not (tmp_path / "o").exists()


def test_gitops_needs_a_fleet_and_out(cli: Cli, tmp_path: Path) -> None:
    single = cli(
        "render", str(FLEET[0]), "--out", str(tmp_path), "--gitops", "flux", "--gitops-path", "x"
    )
    assert (single.code, single.err) == (
        2,
        "gen-secret: error: --gitops wires a fleet: give several Clusterfiles or a folder\n",
    )
    no_out = cli("render", str(FLEET[0]), "--gitops", "flux")
    assert no_out.code == 2
    assert "--gitops writes files for a fleet, so it needs --out DIR" in no_out.err


DELETE = object()


def _broken(document: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of the document with each field (a dotted path) set to a value, or DELETEd."""
    copy: dict[str, Any] = json.loads(json.dumps(document))
    for path, value in changes.items():
        *parents, name = path.split(".")
        node: Any = copy
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is DELETE:
            del node[name]
        else:
            node[name] = value
    return copy


def test_schema_check_refuses_unknown_fields_and_wrong_values() -> None:
    """The check can fail, through both of its parts: each broken copy of a real object is
    refused, with a fault that names what is wrong."""
    flux_spec = GitOpsSpec("flux", "fleet", "sealer-registry", "kube-system", sops_decryption=True)
    (flux,) = yaml.safe_load_all(
        render_gitops(flux_spec, ["prod"])["flux/prod/sealer-registry.yaml"]
    )
    argo_spec = GitOpsSpec(
        "argocd", "fleet", "sealer-registry", "kube-system", repo_url="https://x/y.git"
    )
    (argo,) = yaml.safe_load_all(render_gitops(argo_spec, ["prod"])["argocd/sealer-registry.yaml"])
    cases: list[tuple[dict[str, Any], dict[str, Any], str]] = [
        # Unknown fields: the declared types refuse them (the validators would let them pass).
        (flux, {"spec.purne": True}, "purne"),
        (flux, {"spec.sorceRef": flux["spec"]["sourceRef"], "spec.sourceRef": DELETE}, "sorceRef"),
        (flux, {"spec.decryption.secretRef.nmae": "k"}, "nmae"),
        (argo, {"metadata.lables": {}}, "lables"),
        (argo, {"spec.template.spec.syncPolicy.automated.prnue": True}, "prnue"),
        (argo, {"spec.template.spec.source.targetRevison": "main"}, "targetRevison"),
        # Wrong values and types, missing fields.
        (flux, {"spec.sourceRef.kind": "GitRepo"}, "GitRepo"),
        (flux, {"spec.decryption.provider": "age"}, "provider"),
        (flux, {"spec.interval": "ten minutes"}, "interval"),  # the CRD's pattern: validator only
        (flux, {"spec.prune": "true"}, "prune"),
        (argo, {"spec.generators.0.git.directories.1.exclude": "yes"}, "exclude"),
        (argo, {"spec.generators.0.git.repoURL": DELETE}, "repoURL"),
        (argo, {"spec.template.spec.project": 7}, "project"),
    ]
    faults = schema_faults([flux, argo, *(_broken(d, changes) for d, changes, _ in cases)])
    assert faults[:2] == [[], []]
    missed = [
        (changes, found)
        for (_, changes, expected), found in zip(cases, faults[2:], strict=True)
        if not any(expected in fault for fault in found)
    ]
    assert not missed, missed


def test_a_sops_fleet_gets_flux_kustomizations_that_decrypt(cli: Cli, tmp_path: Path) -> None:
    import pyrage

    recipient = str(pyrage.x25519.Identity.generate().to_public())
    out = tmp_path / "out"
    render_fleet(cli, out, "--gitops", "flux", "--gitops-path", "rendered", "--sops-age", recipient)
    documents = wiring_documents(out / "flux")
    assert_valid_against_schema(*documents)
    assert documents
    for document in documents:
        assert document["spec"]["decryption"] == {
            "provider": "sops",
            "secretRef": {"name": "sops-age"},
        }
