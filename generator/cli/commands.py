"""The command line: parse options, call the core, report one line per problem."""

# No `from __future__ import annotations` here: typer reads every option's annotation at each
# start, and string annotations cost it an eval apiece, 4 ms of a 170 ms run (issue 7).

import contextlib
import io
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from generator import __version__
from generator.cli import exitcodes, formats
from generator.defaults import DEFAULT_NAME, DEFAULT_NAMESPACE, STDIN, Scope
from generator.errors import GenSecretError, InternalError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from generator.app import pipeline
    from generator.io import inputs

_SETTINGS: dict[str, Any] = {
    "name": "gen-secret",
    "no_args_is_help": True,
    "pretty_exceptions_enable": False,
    "context_settings": {"help_option_names": ["-h", "--help"]},
}
app = typer.Typer(add_completion=True, **_SETTINGS)

PROGRESS_MIN = 20  # fewer clusters than this render faster than a bar can draw


def say(kind: str, message: str) -> None:
    """One line on stderr, never on stdout: `gen-secret: warning: ...`.

    Escaped as a whole: a note or warning may quote a file name or a value from the file.
    """
    from generator.io.streams import write_stderr
    from generator.model.names import printable

    line = f"gen-secret: {kind}: {message}" if kind else f"gen-secret: {message}"
    write_stderr(printable(line))


def _version(value: bool) -> None:
    if value:
        write_stdout(f"gen-secret {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Render a sealer cluster's registry Secret from its Clusterfile, and explain it.

    Example: gen-secret render Clusterfile | kubectl apply -f -
    """


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


def _output_option(choices: tuple[str, ...], help_text: str) -> Any:
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


@app.command(
    epilog=exitcodes.epilog(
        "render", "gen-secret render Clusterfile --pull-namespace apps --out prod/"
    ),
)
def render(
    clusterfiles: ClusterfilesArg = None,
    cluster: ClusterOption = None,
    output: Annotated[
        str,
        _output_option(
            formats.RENDER_FORMATS,
            "yaml (the default), or json: a v1 List, and .json files with --out.",
        ),
    ] = "yaml",
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            "-w",
            metavar="DIR",
            help="Write files and a kustomization.yaml to this folder instead of stdout. "
            "(Up to 0.1, -o meant --out; it is now the format.)",
        ),
    ] = None,
    name: NameOption = DEFAULT_NAME,
    namespace: NamespaceOption = DEFAULT_NAMESPACE,
    username: UsernameOption = None,
    password_stdin: PasswordStdinOption = False,
    password_file: PasswordFileOption = None,
    password_for_all: PasswordForAllOption = False,
    ca_file: CaFileOption = None,
    seal_cert: SealCertOption = None,
    seal_scope: SealScopeOption = None,
    sops: SopsOption = False,
    sops_age: SopsAgeOption = None,
    sops_config: SopsConfigOption = None,
    alias: AliasOption = None,
    pull_namespace: PullNamespaceOption = None,
    pull_namespaces_from: PullNamespacesFromOption = None,
    exclude_namespace: ExcludeNamespaceOption = None,
    service_account: ServiceAccountOption = None,
    keep_pull_secret: KeepPullSecretOption = None,
    patch: PatchOption = None,
    previous_username: PreviousUsernameOption = None,
    previous_password_stdin: PreviousPasswordStdinOption = False,
    previous_password_file: PreviousPasswordFileOption = None,
    merge_auths: MergeAuthsOption = None,
    merge_auths_override: MergeOverrideOption = None,
    cluster_state: ClusterStateOption = None,
    namespace_selector: NamespaceSelectorOption = None,
    node_files: NodeFilesOption = False,
    gitops: GitOpsOption = None,
    gitops_source: GitOpsSourceOption = "flux-system",
    gitops_repo: GitOpsRepoOption = None,
    gitops_revision: GitOpsRevisionOption = "HEAD",
    gitops_path: GitOpsPathOption = None,
) -> None:
    """Print the registry Secret as YAML, or write it to a folder.

    Example: gen-secret render Clusterfile | kubectl apply -f -
    """
    from generator.app import pipeline

    started = time.monotonic()
    found, results, files = render_all(RenderArgs.of(locals()), skip_unchanged=True)
    if out is None:
        (single,) = results.values()
        if isinstance(single, pipeline.Result):
            write_stdout(single.pieces())
        return
    from generator.io.output import git_work_tree, write_tree

    use_sops = sops or bool(sops_age) or sops_config is not None
    repository = git_work_tree(Path(out)) if seal_cert is None and not use_sops else None
    if repository is not None:
        say(
            "warning",
            f"writing an unsealed Secret into the git working tree {repository}: anyone who "
            "can read the repository can read its credentials; "
            "use --seal-cert to write SealedSecrets, or --sops-age for SOPS files",
        )
    write_tree(Path(out), files)
    reencrypted = [
        item
        for result in results.values()
        if isinstance(result, pipeline.Result)
        for item in result.reencrypted
    ]
    if reencrypted:
        from generator.render.sops import reencrypted_notes

        for line in reencrypted_notes(reencrypted):
            say("note", line)
    if sys.stderr.isatty():
        clusters = f"{len(results)} clusters, " if found.is_fleet else ""
        count = sum(len(r.files) for r in results.values())
        say("", f"wrote {clusters}{count} files to {out} in {time.monotonic() - started:.1f}s")


@app.command(
    "check",
    epilog=exitcodes.epilog("check", "gen-secret check Clusterfile --out prod/"),
)
def check_command(
    clusterfiles: ClusterfilesArg = None,
    cluster: ClusterOption = None,
    out: Annotated[
        str,
        typer.Option(
            "--out",
            "-w",
            metavar="DIR",
            help="The folder render wrote (or a fleet's top folder) to compare with.",
            show_default=False,
        ),
    ] = "",
    output: Annotated[
        str, _output_option(formats.CHECK_FORMATS, "text (a masked unified diff) or json.")
    ] = "text",
    name: NameOption = DEFAULT_NAME,
    namespace: NamespaceOption = DEFAULT_NAMESPACE,
    username: UsernameOption = None,
    password_stdin: PasswordStdinOption = False,
    password_file: PasswordFileOption = None,
    password_for_all: PasswordForAllOption = False,
    ca_file: CaFileOption = None,
    seal_cert: SealCertOption = None,
    seal_scope: SealScopeOption = None,
    sops: SopsOption = False,
    sops_age: SopsAgeOption = None,
    sops_config: SopsConfigOption = None,
    alias: AliasOption = None,
    pull_namespace: PullNamespaceOption = None,
    pull_namespaces_from: PullNamespacesFromOption = None,
    exclude_namespace: ExcludeNamespaceOption = None,
    service_account: ServiceAccountOption = None,
    keep_pull_secret: KeepPullSecretOption = None,
    patch: PatchOption = None,
    previous_username: PreviousUsernameOption = None,
    previous_password_stdin: PreviousPasswordStdinOption = False,
    previous_password_file: PreviousPasswordFileOption = None,
    merge_auths: MergeAuthsOption = None,
    merge_auths_override: MergeOverrideOption = None,
    cluster_state: ClusterStateOption = None,
    namespace_selector: NamespaceSelectorOption = None,
    node_files: NodeFilesOption = False,
    gitops: GitOpsOption = None,
    gitops_source: GitOpsSourceOption = "flux-system",
    gitops_repo: GitOpsRepoOption = None,
    gitops_revision: GitOpsRevisionOption = "HEAD",
    gitops_path: GitOpsPathOption = None,
) -> None:
    """Compare --out DIR with what render would write there; write nothing.

    The diff masks every secret value, so it is safe in a CI log.

    Example: gen-secret check Clusterfile --out prod/
    """
    output_format = formats.check_format(output)
    if not out:
        raise UsageError("check needs --out DIR, the folder to compare with")
    try:
        # check's -o is how it reports; it compares what render writes by default, YAML.
        _, results, files = render_all(RenderArgs.of({**locals(), "output": "yaml"}))
        from generator.cli import report
        from generator.io.output import LINK, read_tree, recover
        from generator.render import drift

        # A fan-out file is made piece by piece (stamping.StampedText); compared whole here.
        files = {k: v if isinstance(v, str) else "".join(v.chunks()) for k, v in files.items()}
        # A write killed half-way is finished or undone first: compare a whole folder.
        recover(Path(out))
        tree = read_tree(Path(out), files)
        # A fleet render's fingerprints (unchanged.py) are its own bookkeeping, not output.
        from generator.fleet.unchanged import FINGERPRINTS

        tree = replace(
            tree,
            files={k: v for k, v in tree.files.items() if k != FINGERPRINTS},
            listed=tree.listed - {FINGERPRINTS},
        )
        shown_as = out if out.endswith("/") else f"{out}/"
        fleet = len(results) > 1 or "" not in results
        # With the identity, render keeps every SOPS file it could open and that holds the
        # same values: one it wrote anew changed.
        identity = any(os.environ.get(v) for v in ("SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY"))
        found = drift.compare(
            files,
            tree.files,
            tree.listed,
            fleet=fleet,
            shown_as=shown_as,
            link=LINK,
            sops_identity=identity,
        )
    except GenSecretError as exc:
        exc.exit_code = 2  # diff's code for trouble: never taken for "it differs"
        raise
    if output_format == "json":
        write_stdout(report.to_json(drift.as_dict(found, out)))
    else:
        write_stdout(drift.report_text(found))
    for line in drift.summary(found, out):
        say("", line)
    if found.differs:
        raise typer.Exit(1)


@dataclass(frozen=True)
class RenderArgs:
    """The options `render` and `check` share, as the command line gave them."""

    clusterfiles: list[str] | None
    cluster: str | None
    output: str
    out: str | None
    name: str
    namespace: str
    username: str | None
    password_stdin: bool
    password_file: Path | None
    password_for_all: bool
    ca_file: Path | None
    seal_cert: Path | None
    seal_scope: Scope | None
    sops: bool
    sops_age: list[str] | None
    sops_config: Path | None
    alias: list[str] | None
    pull_namespace: list[str] | None
    pull_namespaces_from: str | None
    exclude_namespace: list[str] | None
    service_account: list[str] | None
    keep_pull_secret: list[str] | None
    patch: list[str] | None
    previous_username: str | None
    previous_password_stdin: bool
    previous_password_file: Path | None
    merge_auths: list[str] | None
    merge_auths_override: MergeWinner | None
    cluster_state: list[str] | None
    namespace_selector: str | None
    node_files: bool
    gitops: GitOpsEngine | None
    gitops_source: str
    gitops_repo: str | None
    gitops_revision: str
    gitops_path: str | None

    @classmethod
    def of(cls, values: dict[str, Any]) -> "RenderArgs":
        """From a command's parameters, by name."""
        return cls(**{f.name: values[f.name] for f in fields(cls)})


def render_all(
    args: RenderArgs, *, skip_unchanged: bool = False
) -> tuple["inputs.Inputs", dict[str, "pipeline.Result | pipeline.Skipped"], dict[str, Any]]:
    """Check the options, read every input and render: what `render` writes, `check` compares.

    Returns the inputs, the results by cluster name ("" for one Clusterfile) and the files by
    path under --out; notes and warnings are already on stderr.
    """
    from generator.app import pipeline
    from generator.io import inputs  # imported here: keeps `--help` and `--version` fast

    output_format = formats.render_format(args.output)
    stdin_users = [
        flag
        for flag, used in (
            ("CLUSTERFILE -", STDIN in (args.clusterfiles or ())),
            ("--password-stdin", args.password_stdin),
            ("--previous-password-stdin", args.previous_password_stdin),
            ("--pull-namespaces-from -", args.pull_namespaces_from == STDIN),
            ("--merge-auths -", STDIN in (args.merge_auths or ())),
            ("--cluster-state -", STDIN in (args.cluster_state or ())),
        )
        if used
    ]
    check_stdin(stdin_users, args.password_file)
    if args.seal_scope is not None and args.seal_cert is None:
        raise UsageError("--seal-scope needs --seal-cert")
    use_sops = args.sops or bool(args.sops_age) or args.sops_config is not None
    if use_sops and args.seal_cert is not None:
        raise UsageError("--seal-cert writes SealedSecrets and --sops SOPS files: choose one")
    if args.sops_age and args.sops_config is not None:
        raise UsageError("--sops-age gives the recipients and --sops-config a rule: choose one")
    if args.out == "":
        raise UsageError("--out needs a folder name (use --out . for the current folder)")
    if args.patch and args.out is None:
        raise UsageError("--patch writes patch files, so it needs --out DIR")
    targets = (
        args.pull_namespace or args.pull_namespaces_from or args.namespace_selector is not None
    )
    if (args.service_account or args.keep_pull_secret or args.cluster_state) and not targets:
        raise UsageError(
            "--service-account, --keep-pull-secret and --cluster-state need a --pull-namespace, "
            "--pull-namespaces-from or --namespace-selector"
        )
    if args.node_files and args.out is None:
        raise UsageError("--node-files writes files, so it needs --out DIR")
    gitops_spec = None
    wired = args.gitops or args.gitops_repo or args.gitops_path  # the module loads only if asked
    if wired or (args.gitops_source, args.gitops_revision) != ("flux-system", "HEAD"):
        from generator.io.output import git_work_tree as repository_of
        from generator.render import gitops as wiring

        gitops_spec = wiring.spec_from_options(
            args.gitops.value if args.gitops else None,
            source=args.gitops_source,
            repo_url=args.gitops_repo,
            revision=args.gitops_revision,
            path=args.gitops_path,
            out=args.out,
            work_tree=repository_of(Path(args.out)) if args.gitops and args.out else None,
            name=args.name,
            namespace=args.namespace,
            sops_decryption=use_sops,
        )
    found = inputs.read_clusterfiles(list(args.clusterfiles or ()))
    if found.is_fleet and args.out is None:
        raise UsageError("several Clusterfiles or a folder need --out DIR (one folder per cluster)")
    if found.is_fleet and args.cluster_state:
        raise UsageError("--cluster-state describes one cluster: give one Clusterfile")
    if gitops_spec is not None and not found.is_fleet:
        raise UsageError("--gitops wires a fleet: give several Clusterfiles or a folder")
    check_fleet_password(
        found.is_fleet, args.password_stdin or args.password_file is not None, args.password_for_all
    )
    for line in found.notes:
        say("", line)
    password = read_password_option(args.password_stdin, args.password_file)
    namespace_lists: tuple[tuple[str, str], ...] = ()
    if args.pull_namespaces_from is not None:
        namespace_lists = (inputs.read_text(args.pull_namespaces_from),)
    settings = None
    if use_sops:
        from generator.app.sopsinputs import sops_settings

        settings = sops_settings(args.sops_age or [], args.sops_config, args.out, dict(os.environ))
        for line in settings.warnings:
            say("warning", line)
    request = pipeline.Request(
        name=args.name,
        namespace=args.namespace,
        username=args.username,
        password=password,
        ca_file=args.ca_file,
        seal_cert=args.seal_cert,
        seal_scope=args.seal_scope or "strict",
        sops=settings,
        aliases=tuple(args.alias or ()),
        pull_namespaces=tuple(args.pull_namespace or ()),
        pull_namespace_lists=namespace_lists,
        exclude_namespaces=tuple(args.exclude_namespace or ()),
        service_accounts=tuple(args.service_account or ()),
        keep_pull_secrets=tuple(args.keep_pull_secret or ()),
        patches=tuple(args.patch or ()),
        kustomization=args.out is not None,
        cluster=args.cluster,
        cluster_states=inputs.read_documents(list(args.cluster_state or ())),
        namespace_selector=args.namespace_selector,
        node_files=args.node_files,
        output_format=output_format,
        **rotation_and_merge(
            args.previous_username,
            args.previous_password_stdin,
            args.previous_password_file,
            args.merge_auths,
            args.merge_auths_override,
        ),
    )
    results: dict[str, pipeline.Result | pipeline.Skipped]
    files: dict[str, Any]
    if found.is_fleet:
        with progress(len(found.files)) as advance:
            if skip_unchanged and args.out is not None:
                from generator.fleet.unchanged import (
                    render_fleet,  # skips clusters that did not change
                )
                from generator.io.output import recover

                # The skip reads the folder: a write killed half-way is settled first.
                recover(Path(args.out))
                results, files = render_fleet(found.files, request, Path(args.out), advance)
            else:
                rendered = pipeline.run_fleet(found.files, request, advance)
                results = dict(rendered)
                files = {
                    f"{n}/{rel}": t
                    for n, r in rendered.items()
                    if isinstance(r, pipeline.Result)
                    for rel, t in r.files.items()
                }
        if gitops_spec is not None:
            files.update(wiring.render_gitops(gitops_spec, list(results)))
    else:
        ((source, data),) = found.files
        single = pipeline.run(data, source, request)
        results, files = {"": single}, dict(single.files)
    for result in results.values():
        prefix = f"{result.source}: " if found.is_fleet else ""
        for line in result.notes:
            say("", prefix + line)
        for line in result.warnings:
            say("warning", prefix + line)
    # In a pipeline a fleet stays quiet but for warnings and errors (see the summary below).
    for line in pipeline.fleet_notes(results) if sys.stderr.isatty() else ():
        say("note", line)
    terminal_notes(
        [r.context.terminal_notes for r in results.values() if isinstance(r, pipeline.Result)]
    )
    return found, results, files


def rotation_and_merge(
    previous_username: str | None,
    previous_password_stdin: bool,
    previous_password_file: Path | None,
    merge_auths: list[str] | None,
    merge_auths_override: MergeWinner | None,
) -> dict[str, Any]:
    """The Request fields of --previous-* and --merge-auths*, read from their files."""
    from generator.io import inputs

    if previous_password_stdin and previous_password_file is not None:
        raise UsageError(
            "--previous-password-stdin and --previous-password-file cannot be used together"
        )
    if merge_auths_override is not None and not merge_auths:
        raise UsageError("--merge-auths-override needs --merge-auths")

    merged: tuple[tuple[str, bytes], ...] = ()
    if merge_auths:  # only runs that merge load the module (1.4 ms of a start)
        from generator.model.mergeauths import MAX_MERGE_BYTES

        merged = tuple(inputs.read_small(name, MAX_MERGE_BYTES) for name in merge_auths)
    return {
        "previous_username": previous_username,
        "previous_password": read_password_option(
            previous_password_stdin, previous_password_file, "previous password"
        ),
        "merge_auths": merged,
        "merge_override": merge_auths_override.value if merge_auths_override else None,
    }


@app.command("inspect", epilog=exitcodes.epilog("inspect"))
def inspect_command(
    clusterfile: ClusterfileArg = None,
    cluster: ClusterOption = None,
    name: NameOption = DEFAULT_NAME,
    namespace: NamespaceOption = DEFAULT_NAMESPACE,
    username: UsernameOption = None,
    password_stdin: PasswordStdinOption = False,
    password_file: PasswordFileOption = None,
    ca_file: CaFileOption = None,
    alias: AliasOption = None,
    output: Annotated[
        str | None,
        _output_option(
            formats.INSPECT_FORMATS,
            "table, plain lines, or json (default: a table on a terminal, else plain).",
        ),
    ] = None,
    previous_username: PreviousUsernameOption = None,
    previous_password_stdin: PreviousPasswordStdinOption = False,
    previous_password_file: PreviousPasswordFileOption = None,
    merge_auths: MergeAuthsOption = None,
    merge_auths_override: MergeOverrideOption = None,
) -> None:
    """Show what the Secret would hold, with the password masked.

    Example: gen-secret inspect Clusterfile --output json
    """
    from generator.app import pipeline
    from generator.cli import report
    from generator.plan.summary import summarise

    output_format = formats.inspect_format(output)
    if output_format is None:
        output_format = "table" if sys.stdout.isatty() else "plain"
    source, data, request = read_request(RequestArgs.of(locals()))
    prepared = pipeline.prepare(data, source, request)
    summary = summarise(
        prepared.cluster, prepared.options, ca_file=request.ca_file, ca_root=request.ca_root
    )
    for line in summary.warnings:
        say("warning", line)
    terminal_notes([summary.notes])
    if output_format == "json":
        write_stdout(report.to_json(summary.as_dict()))
    elif output_format == "table":
        report.print_inspect_table(summary, sys.stdout)
    else:
        write_stdout(report.inspect_text(summary))


@app.command("match", epilog=exitcodes.epilog("match"))
def match_command(
    clusterfile: ClusterfileArg = None,
    cluster: ClusterOption = None,
    images: Annotated[
        list[str] | None,
        typer.Option(
            "--image",
            "-i",
            metavar="REF",
            help="Image reference as the pod spec writes it; repeat for several.",
            show_default=False,
        ),
    ] = None,
    name: NameOption = DEFAULT_NAME,
    namespace: NamespaceOption = DEFAULT_NAMESPACE,
    username: UsernameOption = None,
    password_stdin: PasswordStdinOption = False,
    password_file: PasswordFileOption = None,
    ca_file: CaFileOption = None,
    alias: AliasOption = None,
    output: Annotated[
        str, _output_option(formats.MATCH_FORMATS, "plain lines (the default) or json.")
    ] = "plain",
    previous_username: PreviousUsernameOption = None,
    previous_password_stdin: PreviousPasswordStdinOption = False,
    previous_password_file: PreviousPasswordFileOption = None,
    merge_auths: MergeAuthsOption = None,
    merge_auths_override: MergeOverrideOption = None,
) -> None:
    """Say which auths keys the kubelet would use for each image, or why none matches.

    Example: gen-secret match Clusterfile --image sea.hub:5000/library/nginx:1.25
    """
    from generator.app import pipeline
    from generator.cli import report
    from generator.model.matching import match, parse_image
    from generator.plan.context import secret_entries

    output_format = formats.match_format(output)
    if not images:
        raise UsageError("give at least one --image REF")
    # Invalid references fail first, before the Clusterfile is read.
    references = [parse_image(image) for image in images]
    source, data, request = read_request(RequestArgs.of(locals()))
    prepared = pipeline.prepare(data, source, request)
    entries = secret_entries(prepared.cluster, prepared.options)
    results = [match(reference, entries.entries) for reference in references]
    if output_format == "json":
        document = {
            "secret": {"name": request.name, "namespace": request.namespace},
            "images": [report.match_dict(result, entries) for result in results],
        }
        write_stdout(report.to_json(document))
    else:
        write_stdout(report.match_text(results, entries))
    say(
        "note",
        f"only pods in namespace {request.namespace} can use Secret {request.name}, "
        "and only when they or their ServiceAccount list it in imagePullSecrets",
    )
    if not all(result.served for result in results):
        raise typer.Exit(1)


def check_stdin(stdin_users: list[str], password_file: Path | None) -> None:
    """At most one input from stdin, and one source for the password."""
    if len(stdin_users) > 1:
        raise UsageError(f"only one input can come from stdin: {' and '.join(stdin_users)}")
    if "--password-stdin" in stdin_users and password_file is not None:
        raise UsageError("--password-stdin and --password-file cannot be used together")


def check_fleet_password(fleet: bool, given: bool, for_all: bool) -> None:
    """One password for a whole fleet only when the user says so: clusters rarely share one."""
    if for_all and not given:
        raise UsageError("--password-for-all needs --password-stdin or --password-file")
    if fleet and given and not for_all:
        raise UsageError(
            "with several Clusterfiles, --password-stdin and --password-file would give every "
            "cluster the same password; add --password-for-all if that is meant"
        )


def read_password_option(
    password_stdin: bool, password_file: Path | None, what: str = "password"
) -> str | None:
    """The password from --password-stdin or --password-file, if either was given."""
    from generator.io import inputs

    if password_stdin:
        if sys.stdin.isatty():  # a person at a terminal: ask, and do not echo what is typed
            return inputs.prompt_password()
        data = inputs.read_stdin(inputs.MAX_PASSWORD_BYTES)
        return inputs.read_password(data, "stdin", what)
    if password_file is not None:
        data = inputs.read_bytes(password_file, inputs.MAX_PASSWORD_BYTES)
        return inputs.read_password(data, str(password_file), what)
    return None


@dataclass(frozen=True)
class RequestArgs:
    """The options `inspect` and `match` share with `render`, as the command line gave them."""

    clusterfile: str | None
    cluster: str | None
    name: str
    namespace: str
    username: str | None
    password_stdin: bool
    password_file: Path | None
    ca_file: Path | None
    alias: list[str] | None
    previous_username: str | None
    previous_password_stdin: bool
    previous_password_file: Path | None
    merge_auths: list[str] | None
    merge_auths_override: MergeWinner | None

    @classmethod
    def of(cls, values: dict[str, Any]) -> "RequestArgs":
        """From a command's parameters, by name."""
        return cls(**{f.name: values[f.name] for f in fields(cls)})


def read_request(args: RequestArgs) -> tuple[str, bytes, "pipeline.Request"]:
    """One Clusterfile's name and bytes, and the options inspect and match share with render."""
    from generator.app import pipeline
    from generator.io import inputs

    used = [
        ("CLUSTERFILE -", args.clusterfile == STDIN),
        ("--password-stdin", args.password_stdin),
        ("--previous-password-stdin", args.previous_password_stdin),
        ("--merge-auths -", STDIN in (args.merge_auths or ())),
    ]
    check_stdin([flag for flag, on in used if on], args.password_file)
    found = inputs.read_clusterfiles([args.clusterfile] if args.clusterfile is not None else [])
    if found.is_fleet:
        raise UsageError("give one Clusterfile, not a folder")
    for line in found.notes:
        say("", line)
    ((source, data),) = found.files
    request = pipeline.Request(
        name=args.name,
        namespace=args.namespace,
        username=args.username,
        password=read_password_option(args.password_stdin, args.password_file),
        ca_file=args.ca_file,
        aliases=tuple(args.alias or ()),
        cluster=args.cluster,
        **rotation_and_merge(
            args.previous_username,
            args.previous_password_stdin,
            args.previous_password_file,
            args.merge_auths,
            args.merge_auths_override,
        ),
    )
    return source, data, request


def terminal_notes(per_cluster: list[tuple[str, ...]]) -> None:
    """Notes for a person at a terminal, never for a pipeline; a fleet's alike notes once."""
    if not sys.stderr.isatty():
        return
    counts: dict[str, int] = {}
    for notes in per_cluster:
        for line in notes:
            counts[line] = counts.get(line, 0) + 1
    for line, count in counts.items():
        say("note", line if count == 1 else f"{count} clusters: {line}")


def write_stdout(text: str | Iterable[str]) -> None:
    """Print the output, whole or piece by piece; a full disk or a closed stdout is the
    user's to know, in one line."""
    from generator.io.streams import stdout_error

    try:
        for piece in (text,) if isinstance(text, str) else text:
            sys.stdout.write(piece)
        sys.stdout.flush()
    except OSError as exc:  # the console script's stdout raises streams.StdoutError itself
        raise stdout_error(exc) from None


@contextlib.contextmanager
def progress(total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for many clusters, only when a person is watching."""
    if total < PROGRESS_MIN or not sys.stderr.isatty():
        yield lambda done: None
        return
    from rich.progress import Progress

    # Redrawn as clusters finish, not by rich's refresh thread: fleet workers are forked, and
    # a thread holding stderr's lock at the fork would leave the worker's copy locked forever.
    with Progress(transient=True, console=_stderr_console(), auto_refresh=False) as bar:
        task = bar.add_task("rendering", total=total)

        def advance(done: int) -> None:
            bar.advance(task, done)
            bar.refresh()

        yield advance


def _stderr_console() -> "Console":
    from rich.console import Console

    return Console(stderr=True)


def _without_values(message: str) -> str:
    """typer's usage errors quote what was typed; that may be a password put in the wrong place."""
    import re

    message = re.sub(r"(unexpected extra argument(?:s|\(s\))?) \(.*\)", r"\1; see --help", message)
    return re.sub(r"^(Invalid value for '[^']+': )'[^']*'", r"\1the value", message)


def _app_for(argv: list[str]) -> typer.Typer:
    """The app with only the command this run names, when it names one.

    typer builds every option of every command before parsing; one command's worth saves a
    few milliseconds of each start. The root (`--help`, completion) still gets them all.
    """
    wanted = [c for c in app.registered_commands if argv[:1] == [_command_name(c)]]
    if not wanted:
        return app
    single = typer.Typer(add_completion=False, **_SETTINGS)
    single.registered_callback = app.registered_callback
    single.registered_commands = wanted
    return single


def _command_name(command: typer.models.CommandInfo) -> str:
    return command.name or (command.callback.__name__ if command.callback else "")


def main(argv: list[str] | None = None) -> int:
    """Console entry point: every error a user can cause becomes one line and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    from generator.io.streams import ReaderLeft

    try:
        utf8_stdio()
        command = typer.main.get_command(_app_for(args))
        result = command.main(args=argv, prog_name="gen-secret", standalone_mode=False)
    except ReaderLeft:
        return 1  # `| head`: the reader left on purpose; nothing to say about it
    except GenSecretError as exc:
        say("error", str(exc))
        return exitcodes.failure_code(args[0] if args else None, exc.exit_code)
    except typer.TyperException as exc:
        # typer's own usage errors (unknown option, bad value): exit code 2, one line.
        message = _without_values(" ".join(exc.format_message().split()))
        say("error", message or "invalid usage; see --help")
        return exitcodes.failure_code(args[0] if args else None, exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        say("error", "interrupted")
        return 130
    except Exception as exc:
        # A bug, not a user's mistake: name its type only, since its text may quote input.
        if os.environ.get("GEN_SECRET_DEBUG") == "1":
            import traceback

            traceback.print_exc()
        say("error", str(InternalError(type(exc).__name__)))
        return InternalError.exit_code
    if result == 130:  # typer turns a KeyboardInterrupt into exit code 130, silently
        say("error", "interrupted")
    return result if isinstance(result, int) else 0


def utf8_stdio() -> None:
    """UTF-8 on stdout and stderr whatever the locale: YAML and JSON are UTF-8, and a
    non-ASCII name must not crash a C-locale CI job or come out as \\udcXX escapes."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.encoding.lower() != "utf-8":
            # surrogateescape: a file name's undecodable bytes go out as the bytes they were.
            stream.reconfigure(encoding="utf-8", errors="surrogateescape")


def run() -> NoReturn:
    """The console script: main(), then an exit that skips the interpreter's teardown.

    By the time main() returns, every --out file is synced and closed and the fleet's
    processes and threads are joined; what is left is to flush stdout and stderr. Tearing
    down the ~450 loaded modules took 15 ms of a 135 ms run (issue 7), and none is ours.
    """
    from generator.io.interrupts import leave

    # From here Ctrl-C is a KeyboardInterrupt again, which main() reports (and write_tree holds
    # until it is safe); once main() returns there is nothing left to undo. A SIGINT ignored
    # from the start (a background job) stays ignored.
    ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    if not ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code = main()
    except KeyboardInterrupt:  # one that landed as main() returned
        code = 130
    finally:
        if not ignored:
            signal.signal(signal.SIGINT, leave)
    from generator.io.streams import ReaderLeft, stderr_lost, stdout_error

    try:
        sys.stdout.flush()
    except ReaderLeft:
        code = code or 1  # the reader left (`| head`), as in main()
    except (GenSecretError, OSError, ValueError) as exc:  # a full disk, a closed stdout
        if code == 0:  # else main() has reported it, or something before it
            error = stdout_error(exc) if isinstance(exc, OSError) else exc
            say("error", str(error))
            code = 1
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    if stderr_lost() and code == 0:
        code = 1
    os._exit(code)
