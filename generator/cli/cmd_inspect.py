"""gen-secret inspect: what the Secret would hold, with the password masked."""

# No `from __future__ import annotations` here: typer reads every option's annotation at each
# start, and string annotations cost it an eval apiece, 4 ms of a 170 ms run.

import sys
from typing import Annotated

import typer

from generator.cli import exitcodes, formats
from generator.cli.options import (
    AliasOption,
    CaFileOption,
    ClusterfileArg,
    ClusterOption,
    MergeAuthsOption,
    MergeOverrideOption,
    NameOption,
    NamespaceOption,
    PasswordFileOption,
    PasswordStdinOption,
    PreviousPasswordFileOption,
    PreviousPasswordStdinOption,
    PreviousUsernameOption,
    UsernameOption,
    output_option,
)
from generator.cli.shared import RequestArgs, read_request, say, terminal_notes, write_stdout
from generator.defaults import DEFAULT_NAME, DEFAULT_NAMESPACE

# This module's command; cli/app.py puts it in gen-secret's app.
commands = typer.Typer()


@commands.command("inspect", epilog=exitcodes.epilog("inspect"))
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
        output_option(
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
