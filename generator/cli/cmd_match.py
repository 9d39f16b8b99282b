"""gen-secret match: which auths keys the kubelet would use for each image, or why none matches."""

# No `from __future__ import annotations` here: typer reads every option's annotation at each
# start, and string annotations cost it an eval apiece, 4 ms of a 170 ms run.

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
from generator.cli.shared import RequestArgs, read_request, say, write_stdout
from generator.defaults import DEFAULT_NAME, DEFAULT_NAMESPACE
from generator.errors import UsageError

# This module's command; cli/app.py puts it in gen-secret's app.
commands = typer.Typer()


@commands.command("match", epilog=exitcodes.epilog("match"))
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
        str, output_option(formats.MATCH_FORMATS, "plain lines (the default) or json.")
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
