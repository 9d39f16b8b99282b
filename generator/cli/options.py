"""The options and arguments of the commands, declared once so their names and help never drift.

No `from __future__ import annotations` in the command modules that use these: typer reads every
option's annotation at each start, and a string annotation costs it an eval apiece.
"""

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from generator.defaults import Scope


class GitOpsEngine(StrEnum):
    """Which GitOps engine --gitops wires a fleet's folders for."""

    flux = "flux"
    argocd = "argocd"


# Options that every command shares, defined once so their names and help never drift apart.
ClusterfileArg = Annotated[
    str | None,
    typer.Argument(
        metavar="[CLUSTERFILE]",
        help="Clusterfile or sealer-clusterfile ConfigMap; '-' reads stdin. "
        "Default: ./Clusterfile, then ~/.sealer/Clusterfile.",
        show_default=False,
    ),
]
NameOption = Annotated[str, typer.Option("--name", help="Name of the Secret.")]
NamespaceOption = Annotated[str, typer.Option("--namespace", help="Namespace of the Secret.")]
UsernameOption = Annotated[
    str | None, typer.Option("--username", help="Registry username (overrides the Clusterfile).")
]
PasswordStdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="Read the registry password from stdin.")
]
PasswordFileOption = Annotated[
    Path | None,
    typer.Option(
        "--password-file", help="Read the registry password from this file.", dir_okay=False
    ),
]
CaFileOption = Annotated[
    Path | None,
    typer.Option(
        "--ca-file",
        help="PEM CA certificate of the registry (default: sealer's own file, if found).",
    ),
]
AliasOption = Annotated[
    list[str] | None,
    typer.Option(
        "--alias",
        metavar="HOST[:PORT]",
        help="Another name the registry answers to, as an extra auths key (exact port; "
        "'*' globs a label). Repeatable.",
    ),
]
ClusterOption = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        metavar="NAME",
        help="The Cluster document to use when the Clusterfile holds several (by metadata.name).",
        show_default=False,
    ),
]


def output_option(choices: tuple[str, ...], help_text: str) -> Any:
    """-o/--output, as kubectl and kubeseal spell it; formats.py checks the value."""
    return typer.Option(
        "--output",
        "-o",
        metavar="|".join(choices),
        help=help_text,
        show_default=False,
        autocompletion=lambda: list(choices),
    )


ROTATION = "Rotating the registry password"
MERGING = "Other registries in the same Secret"
PreviousUsernameOption = Annotated[
    str | None,
    typer.Option(
        "--previous-username",
        metavar="NAME",
        help="Username of the login being rotated out (default: the current username).",
        show_default=False,
        rich_help_panel=ROTATION,
    ),
]
PreviousPasswordStdinOption = Annotated[
    bool,
    typer.Option(
        "--previous-password-stdin",
        help="Read the password being rotated out from stdin; it stays valid under "
        "https://<registry> until you render without it.",
        rich_help_panel=ROTATION,
    ),
]
PreviousPasswordFileOption = Annotated[
    Path | None,
    typer.Option(
        "--previous-password-file",
        metavar="FILE",
        help="Read the password being rotated out from this file (see --previous-password-stdin).",
        dir_okay=False,
        rich_help_panel=ROTATION,
    ),
]
MergeAuthsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--merge-auths",
        metavar="FILE",
        help="Add the auths entries of a docker config.json or a dockerconfigjson Secret "
        "(kubectl get secret -o yaml/json); '-' reads stdin. Repeatable.",
        rich_help_panel=MERGING,
    ),
]


class MergeWinner(StrEnum):
    """Which entry wins when a merged auths key is one the Clusterfile also produces."""

    clusterfile = "clusterfile"
    merged = "merged"


MergeOverrideOption = Annotated[
    MergeWinner | None,
    typer.Option(
        "--merge-auths-override",
        metavar="WINNER",
        help="When a merged auths key is one the Clusterfile also writes: keep the "
        "'clusterfile' entry or take the 'merged' one (default: an error).",
        show_default=False,
        rich_help_panel=MERGING,
    ),
]
SealCertOption = Annotated[
    Path | None,
    typer.Option(
        "--seal-cert",
        metavar="CERT",
        help="Write SealedSecrets instead of Secrets, sealed offline with this sealed-secrets "
        "certificate (`kubeseal --fetch-cert`), or with CERT/<cluster name>.pem if CERT is "
        "a folder.",
    ),
]
SopsOption = Annotated[
    bool,
    typer.Option(
        "--sops",
        help="Write every Secret as a SOPS file encrypted for age recipients: those of "
        "--sops-age, else those the creation_rules of .sops.yaml (found from the output "
        "folder upward) choose for each file.",
    ),
]
SopsAgeOption = Annotated[
    list[str] | None,
    typer.Option(
        metavar="RECIPIENT",
        help="An age public key (age1...) to encrypt for; implies --sops. Repeatable.",
    ),
]
SopsConfigOption = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE",
        help="The .sops.yaml whose creation_rules choose the recipients; implies --sops.",
        dir_okay=False,
    ),
]
PasswordForAllOption = Annotated[
    bool,
    typer.Option(
        "--password-for-all",
        help="With several Clusterfiles: give every cluster the password of "
        "--password-stdin or --password-file.",
    ),
]
ClusterStateOption = Annotated[
    list[str] | None,
    typer.Option(
        metavar="FILE",
        help="`kubectl get namespaces,serviceaccounts -A -o yaml` (or json) output, '-' "
        "for stdin: ServiceAccounts keep the pull secrets they list. Repeatable.",
    ),
]
NamespaceSelectorOption = Annotated[
    str | None,
    typer.Option(
        metavar="SELECTOR",
        help="Pull namespaces by label, from --cluster-state (kubectl's -l grammar).",
    ),
]
NodeFilesOption = Annotated[
    bool,
    typer.Option(
        "--node-files",
        help="Also write containerd's certs.d files and the kubelet's config.json under "
        "nodes/ (needs --out).",
    ),
]
GitOpsOption = Annotated[
    GitOpsEngine | None,
    typer.Option(
        metavar="ENGINE",
        help="Also write Flux (flux) or Argo CD (argocd) objects that deliver each "
        "cluster's folder (a fleet with --out).",
        show_default=False,
    ),
]
GitOpsSourceOption = Annotated[
    str, typer.Option(metavar="NAME", help="Flux GitRepository that holds --out.")
]
GitOpsRepoOption = Annotated[
    str | None, typer.Option(metavar="URL", help="Argo CD: the repository that holds --out.")
]
GitOpsRevisionOption = Annotated[
    str, typer.Option(metavar="REV", help="Argo CD: the branch, tag or commit to deliver.")
]
GitOpsPathOption = Annotated[
    str | None,
    typer.Option(
        metavar="PATH",
        help="--out's path inside the repository (default: from its git working tree).",
    ),
]
SealScopeOption = Annotated[
    Scope | None,
    typer.Option(
        "--seal-scope",
        metavar="SCOPE",
        help="Where the sealed values may be unsealed: strict (the default: only under "
        "this name and namespace), namespace-wide (any name in it) or cluster-wide.",
        show_default=False,
    ),
]
PullNamespaceOption = Annotated[
    list[str] | None,
    typer.Option(
        "--pull-namespace", metavar="NS", help="Put a pull copy of the Secret in NS. Repeatable."
    ),
]
PullNamespacesFromOption = Annotated[
    str | None,
    typer.Option(
        "--pull-namespaces-from",
        metavar="FILE",
        help="Namespaces one a line ('-' for stdin); `kubectl get ns -o name` output works.",
    ),
]
ExcludeNamespaceOption = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude-namespace", metavar="GLOB", help="Leave out matching namespaces. Repeatable."
    ),
]
ServiceAccountOption = Annotated[
    list[str] | None,
    typer.Option(
        "--service-account",
        metavar="NAME",
        help="ServiceAccount to write in each pull namespace (default: default). Repeatable.",
    ),
]
KeepPullSecretOption = Annotated[
    list[str] | None,
    typer.Option(
        "--keep-pull-secret",
        metavar="NAME",
        help="Another pull secret those ServiceAccounts must keep listing. Repeatable.",
    ),
]
PatchOption = Annotated[
    list[str] | None,
    typer.Option(
        "--patch",
        metavar="[NS/]KIND/NAME",
        help="Write a patch adding the Secret to this workload's pods (needs --out). Repeatable.",
    ),
]


ClusterfilesArg = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="[CLUSTERFILE]...",
        help="Clusterfiles or sealer-clusterfile ConfigMaps ('-' reads stdin), or folders to "
        "scan for them. Default: ./Clusterfile, then ~/.sealer/Clusterfile.",
        show_default=False,
    ),
]
