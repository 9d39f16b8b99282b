"""The command line: parse options, call the core, report one line per problem."""

# No `from __future__ import annotations` here: typer reads every option's annotation at each
# start, and string annotations cost it an eval apiece, 4 ms of a 170 ms run (issue 7).

import contextlib
import io
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from generator import __version__
from generator.defaults import DEFAULT_NAME, DEFAULT_NAMESPACE, STDIN, Scope
from generator.errors import GenSecretError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from generator import pipeline

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
    from generator.names import printable
    from generator.streams import write_stderr

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
AliasOption = Annotated[
    list[str] | None,
    typer.Option(
        "--alias",
        metavar="HOST[:PORT]",
        help="Another name the registry answers to, as an extra auths key (exact port; "
        "'*' globs a label). Repeatable.",
    ),
]
OutputOption = Annotated[
    OutputFormat,
    typer.Option("--output", help="text (a table on a terminal) or json, for scripts."),
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
    epilog="Example: gen-secret render Clusterfile --pull-namespace apps --out prod/",
)
def render(
    clusterfiles: ClusterfilesArg = None,
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
            help="Write files and a kustomization.yaml to this folder instead of stdout.",
        ),
    ] = None,
    name: NameOption = DEFAULT_NAME,
    namespace: NamespaceOption = DEFAULT_NAMESPACE,
    username: UsernameOption = None,
    password_stdin: PasswordStdinOption = False,
    password_file: PasswordFileOption = None,
    password_for_all: Annotated[
        bool,
        typer.Option(
            "--password-for-all",
            help="With several Clusterfiles: give every cluster the password of "
            "--password-stdin or --password-file.",
        ),
    ] = False,
    ca_file: CaFileOption = None,
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
            metavar="SCOPE",
            help="Where the sealed values may be unsealed: strict (the default: only under "
            "this name and namespace), namespace-wide (any name in it) or cluster-wide.",
            show_default=False,
        ),
    ] = None,
    alias: AliasOption = None,
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
    check_stdin(stdin_users, password_file)
    if seal_scope is not None and seal_cert is None:
        raise UsageError("--seal-scope needs --seal-cert")
    if out == "":
        raise UsageError("--out needs a folder name (use --out . for the current folder)")
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
    check_fleet_password(
        found.is_fleet, password_stdin or password_file is not None, password_for_all
    )
    for line in found.notes:
        say("", line)
    password = read_password_option(password_stdin, password_file)
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
        kustomization=out is not None,
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
    # In a pipeline a fleet stays quiet but for warnings and errors (see the summary below).
    for line in pipeline.fleet_notes(results) if found.is_fleet and sys.stderr.isatty() else ():
        say("", line)
    if out is None:
        write_stdout(results[""].stream)
        return
    from generator.output import git_work_tree, write_tree

    repository = git_work_tree(Path(out)) if seal_cert is None else None
    if repository is not None:
        say(
            "warning",
            f"writing an unsealed Secret into the git working tree {repository}: anyone who "
            "can read the repository can read its credentials; "
            "use --seal-cert to write SealedSecrets",
        )
    write_tree(Path(out), files)
    if sys.stderr.isatty():
        clusters = f"{len(results)} clusters, " if found.is_fleet else ""
        say("", f"wrote {clusters}{len(files)} files to {out} in {time.monotonic() - started:.1f}s")


@app.command("inspect")
def inspect_command(
    clusterfile: ClusterfileArg = None,
    name: NameOption = DEFAULT_NAME,
    namespace: NamespaceOption = DEFAULT_NAMESPACE,
    username: UsernameOption = None,
    password_stdin: PasswordStdinOption = False,
    password_file: PasswordFileOption = None,
    ca_file: CaFileOption = None,
    alias: AliasOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Show what the Secret would hold, with the password masked.

    Example: gen-secret inspect Clusterfile --output json
    """
    from generator import pipeline, report
    from generator.inspect import summarise

    source, data, request = read_request(
        clusterfile, name, namespace, username, password_stdin, password_file, ca_file, alias
    )
    prepared = pipeline.prepare(data, source, request)
    summary = summarise(
        prepared.cluster, prepared.options, ca_file=request.ca_file, ca_root=request.ca_root
    )
    for line in summary.warnings:
        say("warning", line)
    if output is OutputFormat.json:
        write_stdout(report.to_json(summary.as_dict()))
    elif sys.stdout.isatty():
        report.print_inspect_table(summary, sys.stdout)
    else:
        write_stdout(report.inspect_text(summary))


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
    alias: AliasOption = None,
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
        clusterfile, name, namespace, username, password_stdin, password_file, ca_file, alias
    )
    prepared = pipeline.prepare(data, source, request)
    entries = secret_auths(prepared.cluster, prepared.options)
    results = [match(reference, entries) for reference in references]
    if output is OutputFormat.json:
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


def read_password_option(password_stdin: bool, password_file: Path | None) -> str | None:
    """The password from --password-stdin or --password-file, if either was given."""
    from generator import inputs

    if password_stdin:
        if sys.stdin.isatty():  # a person at a terminal: ask, and do not echo what is typed
            return inputs.prompt_password()
        data = inputs.read_stdin(inputs.MAX_PASSWORD_BYTES)
        return inputs.read_password(data, "stdin")
    if password_file is not None:
        data = inputs.read_bytes(password_file, inputs.MAX_PASSWORD_BYTES)
        return inputs.read_password(data, str(password_file))
    return None


def read_request(
    clusterfile: str | None,
    name: str,
    namespace: str,
    username: str | None,
    password_stdin: bool,
    password_file: Path | None,
    ca_file: Path | None,
    aliases: list[str] | None,
) -> tuple[str, bytes, "pipeline.Request"]:
    """One Clusterfile's name and bytes, and the options inspect and match share with render."""
    from generator import inputs, pipeline

    used = [("CLUSTERFILE -", clusterfile == STDIN), ("--password-stdin", password_stdin)]
    check_stdin([flag for flag, on in used if on], password_file)
    found = inputs.read_clusterfiles([clusterfile] if clusterfile is not None else [])
    if found.is_fleet:
        raise UsageError("give one Clusterfile, not a folder")
    for line in found.notes:
        say("", line)
    ((source, data),) = found.files
    request = pipeline.Request(
        name=name,
        namespace=namespace,
        username=username,
        password=read_password_option(password_stdin, password_file),
        ca_file=ca_file,
        aliases=tuple(aliases or ()),
    )
    return source, data, request


def write_stdout(text: str) -> None:
    """Print the output; a full disk or a closed stdout is the user's to know, in one line."""
    from generator.streams import stdout_error

    try:
        sys.stdout.write(text)
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
    from generator.streams import ReaderLeft

    try:
        utf8_stdio()
        command = typer.main.get_command(_app_for(sys.argv[1:] if argv is None else argv))
        result = command.main(args=argv, prog_name="gen-secret", standalone_mode=False)
    except ReaderLeft:
        return 1  # `| head`: the reader left on purpose; nothing to say about it
    except GenSecretError as exc:
        say("error", str(exc))
        return exc.exit_code
    except typer.TyperException as exc:
        # typer's own usage errors (unknown option, bad value): exit code 2, one line.
        message = _without_values(" ".join(exc.format_message().split()))
        say("error", message or "invalid usage; see --help")
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        say("error", "interrupted")
        return 130
    except Exception as exc:
        # A bug, not a user's mistake: name its type only, since its text may quote input.
        say("error", f"internal error ({type(exc).__name__}); please report it")
        return 1
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
    from generator.script import leave

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
    from generator.streams import ReaderLeft, stderr_lost, stdout_error

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


if __name__ == "__main__":
    from generator.script import run as run_script

    run_script()
