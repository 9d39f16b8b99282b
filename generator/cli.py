"""The command line: parse options, call the core, report one line per problem."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from generator import __version__
from generator.errors import GenSecretError, UsageError

app = typer.Typer(
    name="gen-secret",
    help="Render a sealer cluster's registry Secret from its Clusterfile.",
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

STDIN = "-"
DEFAULT_SEARCH = (Path("Clusterfile"), Path("~/.sealer/Clusterfile"))
MAX_PASSWORD_BYTES = 64 * 1024
MAX_LIST_BYTES = 10 * 1024 * 1024
# generator.sealing.Scope, spelled out here so that `--help` needs no import of the core.
Scope = Literal["strict", "namespace-wide", "cluster-wide"]


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
    """Render a sealer cluster's registry Secret from its Clusterfile.

    Example: gen-secret render Clusterfile | kubectl apply -f -
    """


ClusterfileArg = Annotated[
    str | None,
    typer.Argument(
        metavar="[CLUSTERFILE]",
        help="Clusterfile or sealer-clusterfile ConfigMap; '-' reads stdin. "
        "Default: ./Clusterfile, then ~/.sealer/Clusterfile.",
        show_default=False,
    ),
]


@app.command(
    epilog="Example: gen-secret render Clusterfile --pull-namespaces-from ns.txt --out prod/",
)
def render(
    clusterfile: ClusterfileArg = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write files and a kustomization.yaml to this folder instead of stdout.",
        ),
    ] = None,
    name: Annotated[str, typer.Option(help="Name of the Secret.")] = "sealer-registry",
    namespace: Annotated[str, typer.Option(help="Namespace of the Secret.")] = "kube-system",
    username: Annotated[
        str | None, typer.Option(help="Registry username (overrides the Clusterfile).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the registry password from stdin.")
    ] = False,
    password_file: Annotated[
        Path | None, typer.Option(help="Read the registry password from this file.")
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option(help="PEM CA certificate of the registry (default: sealer's own, if found)."),
    ] = None,
    seal_cert: Annotated[
        Path | None,
        typer.Option(
            metavar="CERT",
            help="Write SealedSecrets instead of Secrets, sealed offline with this sealed-secrets "
            "certificate (`kubeseal --fetch-cert`).",
        ),
    ] = None,
    seal_scope: Annotated[
        Scope | None,
        typer.Option(
            help="Where the sealed values may be unsealed: strict (the default: only under "
            "this name and namespace), namespace-wide (any name in it) or cluster-wide.",
            show_default=False,
        ),
    ] = None,
    alias: Annotated[
        list[str] | None,
        typer.Option(
            metavar="HOST[:PORT]",
            help="Another name the registry answers to, as an extra auths key (exact port; "
            "'*' globs a label). Repeatable.",
        ),
    ] = None,
    pull_namespace: Annotated[
        list[str] | None,
        typer.Option(metavar="NS", help="Put a pull copy of the Secret in NS. Repeatable."),
    ] = None,
    pull_namespaces_from: Annotated[
        str | None,
        typer.Option(
            metavar="FILE",
            help="Namespaces one a line ('-' for stdin); `kubectl get ns -o name` output works.",
        ),
    ] = None,
    exclude_namespace: Annotated[
        list[str] | None,
        typer.Option(metavar="GLOB", help="Leave out matching namespaces. Repeatable."),
    ] = None,
    service_account: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME",
            help="ServiceAccount to write in each pull namespace (default: default). Repeatable.",
        ),
    ] = None,
    keep_pull_secret: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME",
            help="Another pull secret those ServiceAccounts must keep listing. Repeatable.",
        ),
    ] = None,
    patch: Annotated[
        list[str] | None,
        typer.Option(
            metavar="[NS/]KIND/NAME",
            help="Write a patch adding the Secret to this workload's pods (needs --out). "
            "Repeatable.",
        ),
    ] = None,
) -> None:
    """Print the registry Secret as YAML, or write it to a folder.

    Example: gen-secret render Clusterfile | kubectl apply -f -
    """
    from generator import pipeline  # imported here: keeps `--help` and `--version` fast

    stdin_users = [
        flag
        for flag, used in (
            ("CLUSTERFILE -", clusterfile == STDIN),
            ("--password-stdin", password_stdin),
            ("--pull-namespaces-from -", pull_namespaces_from == STDIN),
        )
        if used
    ]
    if len(stdin_users) > 1:
        raise UsageError(f"only one input can come from stdin: {' and '.join(stdin_users)}")
    if password_stdin and password_file is not None:
        raise UsageError("--password-stdin and --password-file cannot be used together")
    if seal_scope is not None and seal_cert is None:
        raise UsageError("--seal-scope needs --seal-cert")
    if patch and out is None:
        raise UsageError("--patch writes patch files, so it needs --out DIR")
    if (service_account or keep_pull_secret) and not (pull_namespace or pull_namespaces_from):
        raise UsageError(
            "--service-account and --keep-pull-secret need a --pull-namespace or "
            "--pull-namespaces-from"
        )
    source, data = read_input(clusterfile)
    password = None
    if password_stdin:
        password = read_password(sys.stdin.buffer.read(MAX_PASSWORD_BYTES + 1), "stdin")
    elif password_file is not None:
        password = read_password(read_bytes(password_file, MAX_PASSWORD_BYTES), str(password_file))
    namespace_lists: tuple[tuple[str, str], ...] = ()
    if pull_namespaces_from is not None:
        namespace_lists = (read_text(pull_namespaces_from),)
    result = pipeline.run(
        data,
        source,
        pipeline.Request(
            name=name,
            namespace=namespace,
            username=username,
            password=password,
            ca_file=ca_file,
            seal_cert=seal_cert,
            seal_scope=seal_scope or "strict",
            aliases=tuple(alias or ()),
            pull_namespaces=tuple(pull_namespace or ()),
            pull_namespace_lists=namespace_lists,
            exclude_namespaces=tuple(exclude_namespace or ()),
            service_accounts=tuple(service_account or ()),
            keep_pull_secrets=tuple(keep_pull_secret or ()),
            patches=tuple(patch or ()),
        ),
    )
    for line in result.notes:
        say("", line)
    for line in result.warnings:
        say("warning", line)
    if out is not None:
        from generator.output import git_work_tree, write_tree

        repository = git_work_tree(out) if seal_cert is None else None
        if repository is not None:
            say(
                "warning",
                f"writing an unsealed Secret into the git working tree {repository}: anyone who "
                "can read the repository can read its credentials; "
                "use --seal-cert to write SealedSecrets",
            )
        write_tree(out, result.files)
        say("", f"wrote {len(result.files)} files to {out}")
    else:
        sys.stdout.write(result.stream)
        sys.stdout.flush()


def read_text(name: str) -> tuple[str, str]:
    """A small text input (a namespace list) and its display name; '-' is stdin."""
    if name == STDIN:
        data, source = sys.stdin.buffer.read(MAX_LIST_BYTES + 1), "<stdin>"
    else:
        data, source = read_bytes(Path(name), MAX_LIST_BYTES), name
    if len(data) > MAX_LIST_BYTES:
        raise GenSecretError("file is larger than 10 MiB", source)
    try:
        return data.decode("utf-8"), source
    except UnicodeDecodeError:
        raise GenSecretError("not valid UTF-8", source) from None


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
