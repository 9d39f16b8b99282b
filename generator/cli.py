"""The command line: parse options, call the core, report one line per problem."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from generator import __version__
from generator.errors import GenSecretError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

app = typer.Typer(
    name="gen-secret",
    help="Render a sealer cluster's registry Secret from its Clusterfile.",
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

STDIN = "-"
PROGRESS_MIN = 20  # fewer clusters than this render faster than a bar can draw
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
    epilog="Example: gen-secret render Clusterfile --pull-namespaces-from ns.txt --out prod/",
)
def render(
    clusterfiles: ClusterfilesArg = None,
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
    from generator import inputs, pipeline  # imported here: keeps `--help` and `--version` fast

    stdin_users = [
        flag
        for flag, used in (
            ("CLUSTERFILE -", STDIN in (clusterfiles or ())),
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
    found = inputs.read_clusterfiles(list(clusterfiles or ()))
    if found.is_fleet and out is None:
        raise UsageError("several Clusterfiles or a folder need --out DIR (one folder per cluster)")
    for line in found.notes:
        say("", line)
    password = None
    if password_stdin:
        password = inputs.read_password(
            sys.stdin.buffer.read(inputs.MAX_PASSWORD_BYTES + 1), "stdin"
        )
    elif password_file is not None:
        data = inputs.read_bytes(password_file, inputs.MAX_PASSWORD_BYTES)
        password = inputs.read_password(data, str(password_file))
    namespace_lists: tuple[tuple[str, str], ...] = ()
    if pull_namespaces_from is not None:
        namespace_lists = (inputs.read_text(pull_namespaces_from),)
    request = pipeline.Request(
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
    )
    started = time.monotonic()
    if found.is_fleet:
        with progress(len(found.files)) as advance:
            results = pipeline.run_fleet(found.files, request, advance)
        files = {f"{n}/{rel}": text for n, r in results.items() for rel, text in r.files.items()}
    else:
        ((source, data),) = found.files
        results = {"": pipeline.run(data, source, request)}
        files = results[""].files
    for result in results.values():
        prefix = f"{result.source}: " if found.is_fleet else ""
        for line in result.notes:
            say("", prefix + line)
        for line in result.warnings:
            say("warning", prefix + line)
    if out is None:
        sys.stdout.write(results[""].stream)
        sys.stdout.flush()
        return
    from generator.output import git_work_tree, write_tree

    repository = git_work_tree(out) if seal_cert is None else None
    if repository is not None:
        say(
            "warning",
            f"writing an unsealed Secret into the git working tree {repository}: anyone who "
            "can read the repository can read its credentials; "
            "use --seal-cert to write SealedSecrets",
        )
    write_tree(out, files)
    if sys.stderr.isatty():
        clusters = f"{len(results)} clusters, " if found.is_fleet else ""
        say("", f"wrote {clusters}{len(files)} files to {out} in {time.monotonic() - started:.1f}s")


@contextlib.contextmanager
def progress(total: int) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr for many clusters, only when a person is watching."""
    if total < PROGRESS_MIN or not sys.stderr.isatty():
        yield lambda: None
        return
    from rich.progress import Progress

    with Progress(transient=True, console=_stderr_console()) as bar:
        task = bar.add_task("rendering", total=total)
        yield lambda: bar.advance(task)


def _stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


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
