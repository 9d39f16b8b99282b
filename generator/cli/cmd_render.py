"""gen-secret render: the Secret as YAML on stdout or files in a folder; what check compares."""

# No `from __future__ import annotations` here: typer reads every option's annotation at each
# start, and string annotations cost it an eval apiece, 4 ms of a 170 ms run.

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import typer

from generator.cli import exitcodes, formats
from generator.cli.options import (
    AliasOption,
    CaFileOption,
    ClusterfilesArg,
    ClusterOption,
    ClusterStateOption,
    ExcludeNamespaceOption,
    GitOpsEngine,
    GitOpsOption,
    GitOpsPathOption,
    GitOpsRepoOption,
    GitOpsRevisionOption,
    GitOpsSourceOption,
    KeepPullSecretOption,
    MergeAuthsOption,
    MergeOverrideOption,
    MergeWinner,
    NameOption,
    NamespaceOption,
    NamespaceSelectorOption,
    NodeFilesOption,
    PasswordFileOption,
    PasswordForAllOption,
    PasswordStdinOption,
    PatchOption,
    PreviousPasswordFileOption,
    PreviousPasswordStdinOption,
    PreviousUsernameOption,
    PullNamespaceOption,
    PullNamespacesFromOption,
    SealCertOption,
    SealScopeOption,
    ServiceAccountOption,
    SopsAgeOption,
    SopsConfigOption,
    SopsOption,
    UsernameOption,
    output_option,
)
from generator.cli.shared import (
    check_stdin,
    read_password_option,
    rotation_and_merge,
    say,
    terminal_notes,
    write_stdout,
)
from generator.defaults import DEFAULT_NAME, DEFAULT_NAMESPACE, STDIN, Scope
from generator.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from generator.app import pipeline
    from generator.io import inputs
    from generator.render.gitops import GitOpsSpec

# This module's command; cli/app.py puts it in gen-secret's app.
commands = typer.Typer()

PROGRESS_MIN = 20  # fewer clusters than this render faster than a bar can draw


@commands.command(
    epilog=exitcodes.epilog(
        "render", "gen-secret render Clusterfile --pull-namespace apps --out prod/"
    ),
)
def render(
    clusterfiles: ClusterfilesArg = None,
    cluster: ClusterOption = None,
    output: Annotated[
        str,
        output_option(
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
    args = RenderArgs.of(locals())
    found, request, gitops_spec = render_request(args)
    results, files = render_inputs(found, request, gitops_spec, out, skip_unchanged=True)
    report_results(found, results)
    if out is None:
        (single,) = results.values()
        if isinstance(single, pipeline.Result):
            write_stdout(single.pieces())
        return
    from generator.io.output import git_work_tree, write_tree

    repository = git_work_tree(Path(out)) if seal_cert is None and not args.use_sops else None
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


class RenderArgs(NamedTuple):
    """The options `render` and `check` share, as the command line gave them.

    A NamedTuple, not a frozen dataclass: as immutable, and made at each start, where a
    dataclass of 36 fields compiles six methods with `exec` (3-4 ms of a render).
    """

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
        return cls(**{name: values[name] for name in cls._fields})

    @property
    def use_sops(self) -> bool:
        """Secrets as SOPS files: --sops, or what implies it."""
        return self.sops or bool(self.sops_age) or self.sops_config is not None


def render_request(
    args: RenderArgs,
) -> tuple["inputs.Inputs", "pipeline.Request", "GitOpsSpec | None"]:
    """Check the options and read every input: the Clusterfiles, the request to render them
    with, and the GitOps wiring if asked for; render and check alike."""
    from generator.app import pipeline
    from generator.io import inputs  # imported here: keeps `--help` and `--version` fast

    output_format = formats.render_format(args.output)
    check_render_options(args)
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
            sops_decryption=args.use_sops,
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
    if args.use_sops:
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
    return found, request, gitops_spec


def render_inputs(
    found: "inputs.Inputs",
    request: "pipeline.Request",
    gitops_spec: "GitOpsSpec | None",
    out: str | None,
    *,
    skip_unchanged: bool = False,
) -> tuple[dict[str, "pipeline.Result | pipeline.Skipped"], dict[str, Any]]:
    """Render one Clusterfile, or a fleet: the results by cluster name ("" for one Clusterfile)
    and the files by path under --out. `skip_unchanged`: a fleet's clusters whose inputs and
    files in `out` did not change are not rendered again."""
    from generator.app import pipeline

    results: dict[str, pipeline.Result | pipeline.Skipped]
    files: dict[str, Any]
    if found.is_fleet:
        with progress(len(found.files)) as advance:
            if skip_unchanged and out is not None:
                from generator.fleet.unchanged import (
                    render_fleet,  # skips clusters that did not change
                )
                from generator.io.output import recover

                # The skip reads the folder: a write killed half-way is settled first.
                recover(Path(out))
                results, files = render_fleet(found.files, request, Path(out), advance)
            else:
                from generator.fleet.pool import run_fleet

                rendered = run_fleet(found.files, request, advance)
                results = dict(rendered)
                files = {
                    f"{n}/{rel}": t
                    for n, r in rendered.items()
                    if isinstance(r, pipeline.Result)
                    for rel, t in r.files.items()
                }
        if gitops_spec is not None:
            from generator.render.gitops import render_gitops

            files.update(render_gitops(gitops_spec, list(results)))
    else:
        ((source, data),) = found.files
        single = pipeline.run(data, source, request)
        results, files = {"": single}, dict(single.files)
    return results, files


def report_results(
    found: "inputs.Inputs", results: dict[str, "pipeline.Result | pipeline.Skipped"]
) -> None:
    """Each cluster's notes and warnings on stderr, and what a terminal hears once for all."""
    from generator.app import pipeline

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


def check_render_options(args: RenderArgs) -> None:
    """The options render and check take that cannot go together, or need another."""
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
    if args.use_sops and args.seal_cert is not None:
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


def check_fleet_password(fleet: bool, given: bool, for_all: bool) -> None:
    """One password for a whole fleet only when the user says so: clusters rarely share one."""
    if for_all and not given:
        raise UsageError("--password-for-all needs --password-stdin or --password-file")
    if fleet and given and not for_all:
        raise UsageError(
            "with several Clusterfiles, --password-stdin and --password-file would give every "
            "cluster the same password; add --password-for-all if that is meant"
        )


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
