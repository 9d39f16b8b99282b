"""GitOps wiring for a fleet's output folder: what Flux or Argo CD needs to deliver each
cluster's folder, so that `--out DIR` committed to a repository works as it is.

- Flux: one `kustomize.toolkit.fluxcd.io/v1` Kustomization per cluster, in
  `DIR/flux/<cluster>/<name>.yaml`, a folder the cluster's own Flux syncs.
- Argo CD: one `argoproj.io/v1alpha1` ApplicationSet, `DIR/argocd/<name>.yaml`, whose git
  directory generator makes an Application per cluster folder, sent to the Argo CD cluster
  of the same name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Literal, cast

from generator.errors import GenSecretError, UsageError
from generator.model.names import check_object_name, shown
from generator.plan.context import name_labels
from generator.plan.objects import Labels, metadata

Engine = Literal["flux", "argocd"]
FLUX_DIR = "flux"
ARGOCD_DIR = "argocd"
FLUX_NAMESPACE = "flux-system"  # where `flux bootstrap` puts Flux and its GitRepository
ARGOCD_NAMESPACE = "argocd"  # where Argo CD's install manifests put it
DEFAULT_SOURCE = "flux-system"  # the GitRepository `flux bootstrap` creates
DEFAULT_REVISION = "HEAD"
INTERVAL = "10m"
SOPS_SECRET = "sops-age"  # noqa: S105 - the name of the Secret that holds the age keys
_PLAIN_TEXT = re.compile(r"[^\s\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class GitOpsSpec:
    """What the command line says about the wiring; `sops_decryption` turns on Flux's SOPS
    decryption block (set it when the rendered Secrets are SOPS-encrypted)."""

    engine: Engine
    path: str  # the --out folder's path inside the repository; "" for the repository's root
    name: str  # object names (the Secret's --name)
    namespace: str  # where Argo CD puts objects that name none (the Secret's --namespace)
    source: str = DEFAULT_SOURCE
    repo_url: str | None = None
    revision: str = DEFAULT_REVISION
    sops_decryption: bool = False


@dataclass(frozen=True)
class FluxKustomizationObject:
    """A Flux Kustomization that applies one cluster's folder from the GitRepository."""

    TEMPLATE: ClassVar[str] = "flux-kustomization.yaml.j2"

    name: str
    namespace: str
    labels: Labels
    path: str
    source: str
    interval: str = INTERVAL
    decryption: bool = False
    decryption_secret: str = SOPS_SECRET

    def expected(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "interval": self.interval,
            "path": self.path,
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": self.source},
        }
        if self.decryption:
            spec["decryption"] = {
                "provider": "sops",
                "secretRef": {"name": self.decryption_secret},
            }
        return {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": metadata(self.name, self.namespace, self.labels),
            "spec": spec,
        }


@dataclass(frozen=True)
class ApplicationSetObject:
    """An Argo CD ApplicationSet: one Application per cluster folder, to the cluster of the
    folder's name (Argo's `{{path.basename}}`, a fasttemplate parameter)."""

    TEMPLATE: ClassVar[str] = "applicationset.yaml.j2"

    name: str
    namespace: str
    labels: Labels
    repo_url: str
    revision: str
    directories: str  # a glob over the cluster folders
    excludes: tuple[str, ...]  # folders under it that are not clusters
    destination_namespace: str

    @property
    def application_name(self) -> str:
        return f"{self.name}-{{{{path.basenameNormalized}}}}"

    def expected(self) -> dict[str, Any]:
        directories: list[dict[str, Any]] = [{"path": self.directories}]
        directories += [{"path": path, "exclude": True} for path in self.excludes]
        return {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "ApplicationSet",
            "metadata": metadata(self.name, self.namespace, self.labels),
            "spec": {
                "generators": [
                    {
                        "git": {
                            "repoURL": self.repo_url,
                            "revision": self.revision,
                            "directories": directories,
                        }
                    }
                ],
                "template": {
                    "metadata": {"name": self.application_name},
                    "spec": {
                        "project": "default",
                        "source": {
                            "repoURL": self.repo_url,
                            "targetRevision": self.revision,
                            "path": "{{path}}",
                        },
                        "destination": {
                            "name": "{{path.basename}}",
                            "namespace": self.destination_namespace,
                        },
                        "syncPolicy": {"automated": {"prune": True}},
                    },
                },
            },
        }


def check_spec(spec: GitOpsSpec) -> None:
    """Options that cannot work together, or values the engines would refuse: usage errors."""
    if spec.engine == "flux":
        check_object_name(spec.source, "--gitops-source")
        if spec.repo_url is not None or spec.revision != DEFAULT_REVISION:
            raise UsageError(
                "--gitops-repo and --gitops-revision are for --gitops argocd; Flux takes "
                "both from the GitRepository named by --gitops-source"
            )
        return
    if spec.source != DEFAULT_SOURCE:
        raise UsageError("--gitops-source is for --gitops flux; Argo CD takes --gitops-repo")
    if spec.repo_url is None:
        raise UsageError("--gitops argocd needs --gitops-repo URL, the repository of --out")
    for option, value in (("--gitops-repo", spec.repo_url), ("--gitops-revision", spec.revision)):
        if not _PLAIN_TEXT.fullmatch(value):
            raise UsageError(f"{option} {shown(value)}: must be one word, without blanks")


def repository_path(out: Path, work_tree: Path | None, given: str | None) -> str:
    """The --out folder's path inside the repository, as the engines want it: relative,
    `/`-separated, "" for the root. `given` (--gitops-path) wins; else the path from the
    git working tree that holds --out; else --out itself when it is relative."""
    if given is not None:
        return _clean(given, "--gitops-path")
    if work_tree is not None:
        try:
            return _clean(out.absolute().relative_to(work_tree).as_posix(), "--out")
        except ValueError:
            pass
    if out.is_absolute():
        raise UsageError(
            f"--out {shown(str(out))} is not inside a git working tree; "
            "give --gitops-path, its path inside the repository"
        )
    return _clean(str(out), "--out")


def _clean(text: str, option: str) -> str:
    path = PurePosixPath(text.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts:
        raise UsageError(f"{option} {shown(text)}: the path must stay inside the repository")
    clean = path.as_posix()
    clean = "" if clean == "." else clean
    if not re.fullmatch(r"[A-Za-z0-9._/-]*", clean):
        # The engines read it as a path and, in Argo CD, as a glob: keep to plain names.
        raise UsageError(f"{option} {shown(text)}: use letters, digits, '.', '_', '-' and '/' only")
    return clean


def check_clusters(spec: GitOpsSpec, clusters: Sequence[str]) -> None:
    """Cluster folders must not collide with the wiring's own folders, nor, in Argo CD, with
    each other once Argo has normalised them into Application names."""
    for cluster in clusters:
        if cluster in (FLUX_DIR, ARGOCD_DIR):
            raise GenSecretError(
                f"cluster name {cluster!r} is the folder --gitops writes its files to; "
                "rename the cluster"
            )
    if spec.engine != "argocd":
        return
    names: dict[str, str] = {}
    for cluster in clusters:
        normalised = argo_normalised(cluster)
        if normalised in names:
            raise GenSecretError(
                f"clusters {names[normalised]!r} and {cluster!r} would both be Argo CD "
                f"Application {spec.name}-{normalised}"
            )
        names[normalised] = cluster


def argo_normalised(name: str) -> str:
    """Argo CD's `path.basenameNormalized` (applicationset/utils SanitizeName)."""
    return re.sub(r"[^-a-z0-9.]", "-", name.lower())[:253].strip("-.")


def gitops_objects(
    spec: GitOpsSpec, clusters: Sequence[str]
) -> dict[str, FluxKustomizationObject | ApplicationSetObject]:
    """The wiring objects by file path (relative to --out)."""
    check_clusters(spec, clusters)
    prefix = f"{spec.path}/" if spec.path else ""
    if spec.engine == "flux":
        return {
            f"{FLUX_DIR}/{cluster}/{spec.name}.yaml": FluxKustomizationObject(
                name=spec.name,
                namespace=FLUX_NAMESPACE,
                labels=name_labels(cluster, "gitops"),
                path=f"./{prefix}{cluster}",
                source=spec.source,
                decryption=spec.sops_decryption,
            )
            for cluster in sorted(clusters)
        }
    if spec.repo_url is None:  # check_spec refuses this; here for the type checker
        raise UsageError("--gitops argocd needs --gitops-repo URL")
    return {
        f"{ARGOCD_DIR}/{spec.name}.yaml": ApplicationSetObject(
            name=spec.name,
            namespace=ARGOCD_NAMESPACE,
            labels=name_labels("", "gitops"),
            repo_url=spec.repo_url,
            revision=spec.revision,
            directories=f"{prefix}*",
            excludes=(f"{prefix}{ARGOCD_DIR}", f"{prefix}{FLUX_DIR}"),
            destination_namespace=spec.namespace,
        )
    }


def render_gitops(spec: GitOpsSpec, clusters: Sequence[str]) -> dict[str, str]:
    """`{path: YAML}` of the wiring, rendered through the templates and read back."""
    from generator.render.templates import render_objects

    return {path: render_objects((obj,)) for path, obj in gitops_objects(spec, clusters).items()}


def spec_from_options(
    engine: str | None,
    *,
    source: str,
    repo_url: str | None,
    revision: str,
    path: str | None,
    out: str | None,
    work_tree: Path | None,
    name: str,
    namespace: str,
    sops_decryption: bool = False,
) -> GitOpsSpec | None:
    """The --gitops options checked into a spec, or None without --gitops."""
    if engine is None:
        given = repo_url is not None or path is not None
        if given or source != DEFAULT_SOURCE or revision != DEFAULT_REVISION:
            raise UsageError("the --gitops-* options need --gitops flux or --gitops argocd")
        return None
    if out is None:
        raise UsageError("--gitops writes files for a fleet, so it needs --out DIR")
    if engine not in ("flux", "argocd"):
        raise UsageError("--gitops takes flux or argocd")
    spec = GitOpsSpec(
        engine=cast(Engine, engine),
        path="",
        name=name,
        namespace=namespace,
        source=source,
        repo_url=repo_url,
        revision=revision,
        sops_decryption=sops_decryption,
    )
    check_spec(spec)
    return replace(spec, path=repository_path(Path(out), work_tree, path))
