"""gen-secret check: compare --out DIR with what render would write there; write nothing."""

# No `from __future__ import annotations` here: typer reads every option's annotation at each
# start, and string annotations cost it an eval apiece, 4 ms of a 170 ms run.

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from generator.cli import exitcodes, formats
from generator.cli.cmd_render import RenderArgs, render_inputs, render_request, report_results
from generator.cli.options import (
    AliasOption,
    CaFileOption,
    ClusterfilesArg,
    ClusterOption,
    ClusterStateOption,
    ExcludeNamespaceOption,
    GitOpsOption,
    GitOpsPathOption,
    GitOpsRepoOption,
    GitOpsRevisionOption,
    GitOpsSourceOption,
    KeepPullSecretOption,
    MergeAuthsOption,
    MergeOverrideOption,
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
from generator.cli.shared import say, write_stdout
from generator.defaults import DEFAULT_NAME, DEFAULT_NAMESPACE
from generator.errors import GenSecretError, UsageError

if TYPE_CHECKING:
    from generator.app import pipeline
    from generator.render.drift import Drift

# This module's command; cli/app.py puts it in gen-secret's app.
commands = typer.Typer()


@commands.command(
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
        str, output_option(formats.CHECK_FORMATS, "text (a masked unified diff) or json.")
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
        inputs, request, gitops_spec = render_request(RenderArgs.of({**locals(), "output": "yaml"}))
        results, files = render_inputs(inputs, request, gitops_spec, out)
        report_results(inputs, results)
        found = compare_folder(out, results, files)
    except GenSecretError as exc:
        exc.exit_code = 2  # diff's code for trouble: never taken for "it differs"
        raise
    from generator.cli import report
    from generator.render import drift

    if output_format == "json":
        write_stdout(report.to_json(drift.as_dict(found, out)))
    else:
        write_stdout(drift.report_text(found))
    for line in drift.summary(found, out):
        say("", line)
    if found.differs:
        raise typer.Exit(1)


def compare_folder(
    out: str, results: dict[str, "pipeline.Result | pipeline.Skipped"], files: dict[str, Any]
) -> "Drift":
    """How the folder render wrote differs from what it would write now, by file."""
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
    return drift.compare(
        files,
        tree.files,
        tree.listed,
        fleet=fleet,
        shown_as=shown_as,
        link=LINK,
        sops_identity=identity,
    )
