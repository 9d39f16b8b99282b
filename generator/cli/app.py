"""gen-secret's typer app: the root and --version, the commands in --help's order, the entry."""

# No `from __future__ import annotations` here: typer reads every option's annotation at each
# start, and string annotations cost it an eval apiece, 4 ms of a 170 ms run.

import contextlib
import gc
import importlib
import io
import os
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from generator import __version__
from generator.cli import exitcodes
from generator.cli.shared import say, write_stdout
from generator.errors import GenSecretError, InternalError

if TYPE_CHECKING:
    from typer import _click

# The commands, in the order --help lists them, and the module that holds each: a run that
# names one loads only its module (see typer_app).
COMMANDS = {
    "render": "generator.cli.cmd_render",
    "check": "generator.cli.cmd_check",
    "inspect": "generator.cli.cmd_inspect",
    "match": "generator.cli.cmd_match",
}

_SETTINGS: dict[str, Any] = {
    "name": "gen-secret",
    "no_args_is_help": True,
    "pretty_exceptions_enable": False,
    "context_settings": {"help_option_names": ["-h", "--help"]},
}


def _version(value: bool) -> None:
    if value:
        write_stdout(f"gen-secret {__version__}\n")
        raise typer.Exit(0)


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


def _without_values(message: str) -> str:
    """typer's usage errors quote what was typed; that may be a password put in the wrong place."""
    import re

    message = re.sub(r"(unexpected extra argument(?:s|\(s\))?) \(.*\)", r"\1; see --help", message)
    return re.sub(r"^(Invalid value for '[^']+': )'[^']*'", r"\1the value", message)


def typer_app(argv: Sequence[str] = ()) -> typer.Typer:
    """The app with only the command `argv` names, when it names one; else every command.

    typer builds every option of every command before parsing; one command's worth saves a
    few milliseconds of each start, and the other commands' modules are not even loaded.
    The root (`--help`, completion) still gets them all.
    """
    names = [argv[0]] if argv[:1] and argv[0] in COMMANDS else list(COMMANDS)
    app = typer.Typer(add_completion=len(names) > 1, **_SETTINGS)
    app.callback()(_root)
    for name in names:
        module = importlib.import_module(COMMANDS[name])
        app.registered_commands += module.commands.registered_commands
    return app


# Each command's click object, built once a process: typer takes 3-4 ms to make render's 40
# options. The console script calls main() once; callers that call it many times in one
# process (the tests, a warm-start server, an embedding program) build each command once. Not
# the root's (no command named): its completion options read the environment as they are
# made, and a caller of main() may have changed that since.
_BUILT: dict[str, "_click.Command"] = {}


def command_line(args: Sequence[str]) -> "_click.Command":
    """The click command that parses `args`: the named command's, else the root's."""
    name = args[0] if args[:1] and args[0] in COMMANDS else None
    if name is None:
        return typer.main.get_command(typer_app(args))
    if name not in _BUILT:
        _BUILT[name] = typer.main.get_command(typer_app(args))
    return _BUILT[name]


def main(argv: list[str] | None = None, *, collector_paused: bool = False) -> int:
    """Console entry point: every error a user can cause becomes one line and an exit code.

    `collector_paused`: the caller (the console script) turned the garbage collector off for
    start-up; it comes back on once the command is built. Any other caller's stays as it is.
    """
    args = sys.argv[1:] if argv is None else argv
    from generator.io.streams import ReaderLeft

    try:
        utf8_stdio()
        command = command_line(args)
        if collector_paused:
            collect_garbage_from_here()
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


def collect_garbage_from_here() -> None:
    """Start-up is over: the garbage collector, off since the console script started
    (script.run), comes back on for the command's work (a fleet parses a thousand
    Clusterfiles), and what start-up made is kept out of its collections."""
    # Frozen: never scanned again, here or in a fleet's forked workers, whose pages a
    # collection would otherwise write to. The few hundred unreachable objects start-up left
    # stay too.
    gc.freeze()
    gc.enable()


def utf8_stdio() -> None:
    """UTF-8 on stdout and stderr whatever the locale: YAML and JSON are UTF-8, and a
    non-ASCII name must not crash a C-locale CI job or come out as \\udcXX escapes."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.encoding.lower() != "utf-8":
            # surrogateescape: a file name's undecodable bytes go out as the bytes they were.
            stream.reconfigure(encoding="utf-8", errors="surrogateescape")


def run(*, collector_paused: bool = False) -> NoReturn:
    """The console script: main(), then an exit that skips the interpreter's teardown.

    By the time main() returns, every --out file is synced and closed and the fleet's
    processes and threads are joined; what is left is to flush stdout and stderr. Tearing
    down the ~450 loaded modules took 15 ms of a 135 ms run, and none is ours.
    """
    # From here Ctrl-C is a KeyboardInterrupt again, which main() reports (and write_tree holds
    # until it is safe); once main() returns there is nothing left to undo, and the entry
    # point's quiet exit (script.leave) comes back. A SIGINT ignored from the start (a
    # background job) stays ignored.
    leave = signal.getsignal(signal.SIGINT)
    ignored = leave is signal.SIG_IGN or leave is None  # None: a handler not set from Python
    if not ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code = main(collector_paused=collector_paused)
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
