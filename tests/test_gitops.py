"""--gitops flux|argocd: the wiring objects, valid against the engines' published CRD schemas,
pointing at folders that kustomize builds.

The CRD schemas are the engines' own files, read from `tests/crds/` or, where the project's
shared data lives, `shared/crds/` beside the repository (`GEN_SECRET_CRD_DIR` overrides both):

- `kustomize.toolkit.fluxcd.io_kustomizations.yaml`: fluxcd/kustomize-controller,
  `config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml`, commit
  186fb3b29138ce82ff61ba1a9370b96a3dd598fe (v1.9.0+36), Apache-2.0.
- `applicationset-crd.yaml`: argoproj/argo-cd, `manifests/crds/applicationset-crd.yaml`,
  commit 37ee0097cf851bc2dd7665fc081bbce61a7e836e, Apache-2.0.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.errors import GenSecretError, UsageError
from generator.gitops import (
    GitOpsSpec,
    argo_normalised,
    gitops_objects,
    render_gitops,
    repository_path,
)
from tests.conftest import FIXTURES, HERE, REQUIRE_TOOLS, ROOT, Cli, Run
from tests.test_fanout import kubectl

FLUX_CRD = "kustomize.toolkit.fluxcd.io_kustomizations.yaml"
ARGO_CRD = "applicationset-crd.yaml"
FLEET = [FIXTURES / "ha-auth-multidoc.yaml", FIXTURES / "external-registry.yaml"]
CLUSTERS = ["prod-east", "uses-harbor"]  # their metadata.name


def crd_file(name: str) -> Path:
    """A published CRD, or a skip (a failure in CI) that says where it is expected."""
    given = os.environ.get("GEN_SECRET_CRD_DIR")
    folders = [Path(given)] if given else [HERE / "crds", ROOT.parent / "shared" / "crds"]
    for folder in folders:
        if (folder / name).is_file():
            return folder / name
    message = f"CRD schema {name} is in none of {', '.join(map(str, folders))}"
    if REQUIRE_TOOLS:
        pytest.fail(f"{message} (GEN_SECRET_REQUIRE_TOOLS=1 turns this skip into a failure)")
    pytest.skip(message)


@functools.cache
def _validator(name: str, version: str) -> Any:
    import jsonschema

    crd = yaml.safe_load(Path(name).read_text())
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema = _strict(served["schema"]["openAPIV3Schema"])
    return jsonschema.Draft7Validator(schema)


def _strict(schema: Any) -> Any:
    """Refuse unknown fields, as the API server's strict field validation does: a typo in a
    field name would otherwise pass, pruned without a word."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {k: _strict(v) for k, v in schema.items()}
    open_ended = schema.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in (
        schema
    )
    if "properties" in schema and not open_ended:
        strict["additionalProperties"] = False
    return strict


def assert_valid_against_crd(document: dict[str, Any], crd: str) -> None:
    version = document["apiVersion"].split("/")[1]
    validator = _validator(str(crd_file(crd)), version)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]


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
    for cluster in CLUSTERS:
        (document,) = yaml.safe_load_all(
            (out / "flux" / cluster / "sealer-registry.yaml").read_text()
        )
        assert_valid_against_crd(document, FLUX_CRD)
        spec = document["spec"]
        assert spec["path"] == f"./clusters/rendered/{cluster}"
        assert spec["prune"] is True
        assert spec["sourceRef"] == {"kind": "GitRepository", "name": "fleet-repo"}
        assert "decryption" not in spec
        assert document["metadata"]["labels"]["app.kubernetes.io/instance"] == cluster
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
    assert_valid_against_crd(document, FLUX_CRD)
    assert document["spec"]["decryption"] == {"provider": "sops", "secretRef": {"name": "sops-age"}}
    plain = GitOpsSpec("flux", "fleet", "sealer-registry", "kube-system")
    (document,) = yaml.safe_load_all(
        render_gitops(plain, ["prod"])["flux/prod/sealer-registry.yaml"]
    )
    assert "decryption" not in document["spec"]


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
    (document,) = yaml.safe_load_all((out / "argocd" / "sealer-registry.yaml").read_text())
    assert_valid_against_crd(document, ARGO_CRD)
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


def test_argocd_owns_the_instance_label(cli: Cli, tmp_path: Path) -> None:
    """Under Argo CD's label tracking, app.kubernetes.io/instance is Argo's to set."""
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
    flux = tmp_path / "flux-out"
    render_fleet(cli, flux, "--gitops", "flux", "--gitops-path", "rendered")
    secret = yaml.safe_load((flux / "prod-east" / "secret.yaml").read_text())
    assert secret["metadata"]["labels"]["app.kubernetes.io/instance"] == "prod-east"


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


def test_crd_check_catches_a_wrong_field() -> None:
    """The schema check can fail: a misspelt field and a wrong enum are both refused."""
    spec = GitOpsSpec("flux", "fleet", "sealer-registry", "kube-system")
    (document,) = yaml.safe_load_all(
        render_gitops(spec, ["prod"])["flux/prod/sealer-registry.yaml"]
    )
    document["spec"]["purne"] = True
    with pytest.raises(AssertionError, match="purne"):
        assert_valid_against_crd(document, FLUX_CRD)
    del document["spec"]["purne"]
    document["spec"]["sourceRef"]["kind"] = "GitRepo"
    with pytest.raises(AssertionError, match="GitRepo"):
        assert_valid_against_crd(document, FLUX_CRD)
