"""The command line: parse options, call the core, report one line per problem."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from generator import __version__
from generator.errors import GenSecretError, UsageError

if TYPE_CHECKING:
    from generator import pipeline

app = typer.Typer(
    name="gen-secret",
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

STDIN = "-"
DEFAULT_SEARCH = (Path("Clusterfile"), Path("~/.sealer/Clusterfile"))
MAX_PASSWORD_BYTES = 64 * 1024
# The defaults of context.RenderOptions, repeated so that --help needs no import of the core.
DEFAULT_NAME = "sealer-registry"
DEFAULT_NAMESPACE = "kube-system"


def say(kind: str, message: str) -> None:
    """One line on stderr: `gen-secret: warning: ...`."""
    print(f"gen-secret: {kind}: {message}" if kind else f"gen-secret: {message}", file=sys.stderr)


def _version(value: bool) -> None:
    if value:
        print(f"gen-secret {__version__}")
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


class OutputFormat(StrEnum):
    """How `inspect` and `match` print: text (a table on a terminal) or JSON for scripts."""

    text = "text"
    json = "json"


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
OutputOption = Annotated[
    OutputFormat,
    typer.Option("--output", help="text (a table on a terminal) or json, for scripts."),
]


@app.command(
    epilog="Example: gen-secret render Clusterfile --out clusters/prod/",
)
def render(
    clusterfile: ClusterfileArg = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write files and a kustomization.yaml to this folder instead of stdout.",
            file_okay=False,
        ),
    ] = None,
    name: NameOption = DEFAULT_NAME,
    namespace: NamespaceOption = DEFAULT_NAMESPACE,
    username: UsernameOption = None,
    password_stdin: PasswordStdinOption = False,
    password_file: PasswordFileOption = None,
    ca_file: CaFileOption = None,
) -> None:
    """Print the registry Secret as YAML, or write it to a folder.

    Example: gen-secret render Clusterfile | kubectl apply -f -
    """
    from generator import pipeline

    source, data, request = read_request(
        clusterfile, name, namespace, username, password_stdin, password_file, ca_file
    )
    result = pipeline.run(data, source, request)
    for line in result.notes:
        say("", line)
    for line in result.warnings:
        say("warning", line)
    if out is not None:
        from generator.output import write_tree

        write_tree(out, result.files)
        say("", f"wrote {len(result.files)} files to {out}")
    else:
        sys.stdout.write(result.stream)
        sys.stdout.flush()


@app.command("inspect")
def inspect_command(
    clusterfile: ClusterfileArg = None,
    name: NameOption = DEFAULT_NAME,
    namespace: NamespaceOption = DEFAULT_NAMESPACE,
    username: UsernameOption = None,
    password_stdin: PasswordStdinOption = False,
    password_file: PasswordFileOption = None,
    ca_file: CaFileOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Show what the Secret would hold, with the password masked.

    Example: gen-secret inspect Clusterfile --output json
    """
    from generator import pipeline, report
    from generator.inspect import summarise

    source, data, request = read_request(
        clusterfile, name, namespace, username, password_stdin, password_file, ca_file
    )
    prepared = pipeline.prepare(data, source, request)
    summary = summarise(
        prepared.cluster, prepared.options, ca_file=request.ca_file, ca_root=request.ca_root
    )
    for line in summary.warnings:
        say("warning", line)
    if output is OutputFormat.json:
        sys.stdout.write(report.to_json(summary.as_dict()))
    elif sys.stdout.isatty():
        report.print_inspect_table(summary, sys.stdout)
    else:
        sys.stdout.write(report.inspect_text(summary))
    sys.stdout.flush()


@app.command("match")
def match_command(
    clusterfile: ClusterfileArg = None,
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
    output: OutputOption = OutputFormat.text,
) -> None:
    """Say which auths key the kubelet would use for each image, or why none matches.

    Exit code 0 when the Secret serves every image, 1 when it does not, 2 for an invalid one.

    Example: gen-secret match Clusterfile --image sea.hub:5000/library/nginx:1.25
    """
    from generator import pipeline, report
    from generator.inspect import secret_auths
    from generator.matching import match, parse_image

    if not images:
        raise UsageError("give at least one --image REF")
    # Invalid references fail first, before the Clusterfile is read: exit code 2.
    references = [parse_image(image) for image in images]
    source, data, request = read_request(
        clusterfile, name, namespace, username, password_stdin, password_file, ca_file
    )
    prepared = pipeline.prepare(data, source, request)
    entries = secret_auths(prepared.cluster, prepared.options)
    results = [match(reference, entries) for reference in references]
    if output is OutputFormat.json:
        document = {
            "secret": {"name": request.name, "namespace": request.namespace},
            "images": [report.match_dict(result, entries) for result in results],
        }
        sys.stdout.write(report.to_json(document))
    else:
        sys.stdout.write(report.match_text(results, entries))
    sys.stdout.flush()
    say(
        "note",
        f"only pods in namespace {request.namespace} can use Secret {request.name}, "
        "and only when they or their ServiceAccount list it in imagePullSecrets",
    )
    if not all(result.served for result in results):
        raise typer.Exit(1)


def read_request(
    clusterfile: str | None,
    name: str,
    namespace: str,
    username: str | None,
    password_stdin: bool,
    password_file: Path | None,
    ca_file: Path | None,
) -> tuple[str, bytes, pipeline.Request]:
    """The Clusterfile's name and bytes, and the options every command shares, checked."""
    from generator import pipeline

    if password_stdin and password_file is not None:
        raise UsageError("--password-stdin and --password-file cannot be used together")
    if password_stdin and clusterfile == STDIN:
        raise UsageError("--password-stdin cannot be used when the Clusterfile comes from stdin")
    source, data = read_input(clusterfile)
    password = None
    if password_stdin:
        password = read_password(sys.stdin.buffer.read(MAX_PASSWORD_BYTES + 1), "stdin")
    elif password_file is not None:
        password = read_password(read_bytes(password_file, MAX_PASSWORD_BYTES), str(password_file))
    request = pipeline.Request(
        name=name, namespace=namespace, username=username, password=password, ca_file=ca_file
    )
    return source, data, request


def read_bytes(path: Path, limit: int) -> bytes:
    """A file's bytes, or a one-line error that names it; never more than `limit` + 1 bytes."""
    try:
        with path.open("rb") as handle:
            return handle.read(limit + 1)
    except IsADirectoryError:
        raise GenSecretError("is a directory, not a file", str(path)) from None
    except OSError as exc:
        raise GenSecretError(f"cannot read file: {exc.strerror}", str(path)) from None


def read_input(clusterfile: str | None) -> tuple[str, bytes]:
    """The Clusterfile's display name and bytes, from the argument, stdin or sealer's places."""
    from generator.safeyaml import MAX_BYTES

    if clusterfile == STDIN:
        return "<stdin>", sys.stdin.buffer.read(MAX_BYTES + 1)
    if clusterfile is not None:
        return clusterfile, read_bytes(Path(clusterfile), MAX_BYTES)
    for candidate in DEFAULT_SEARCH:
        path = candidate.expanduser()
        if path.is_file():
            say("", f"reading {path}")
            return str(path), read_bytes(path, MAX_BYTES)
    raise GenSecretError("no Clusterfile given, and none at ./Clusterfile or ~/.sealer/Clusterfile")


def read_password(data: bytes, source: str) -> str:
    """A password from stdin or a file: one trailing newline stripped, as `docker login` does."""
    if len(data) > MAX_PASSWORD_BYTES:
        raise GenSecretError("password is longer than 64 KiB", source)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise GenSecretError("password is not valid UTF-8", source) from None
    text = text.removesuffix("\n").removesuffix("\r")
    if not text:
        raise GenSecretError("password is empty", source)
    if "\n" in text or "\r" in text:
        raise GenSecretError("password holds a line break", source)
    return text


def main(argv: list[str] | None = None) -> int:
    """Console entry point: every error a user can cause becomes one line and an exit code."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="gen-secret", standalone_mode=False)
    except GenSecretError as exc:
        say("error", str(exc))
        return exc.exit_code
    except typer.TyperException as exc:
        # typer's own usage errors (unknown option, bad value): exit code 2, one line.
        message = " ".join(exc.format_message().split())
        say("error", message or "invalid usage; see --help")
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        say("error", "interrupted")
        return 130
    except BrokenPipeError:
        # `gen-secret render | head`: the reader left; that is not our error.
        sys.stderr.close()
        return 1
    except Exception as exc:
        # A bug, not a user's mistake: name its type only, since its text may quote input.
        say("error", f"internal error ({type(exc).__name__}); please report it")
        return 1
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
