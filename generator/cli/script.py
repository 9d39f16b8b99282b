"""The console script's entry: a quiet Ctrl-C from its first moment, then the CLI."""

# The C module under `signal` (no type stubs): `signal` imports enum and functools first,
# 5 ms in which a Ctrl-C would still be a traceback.
import _signal  # type: ignore[import-not-found]
import os


def leave(signum: int, frame: object) -> None:
    """SIGINT outside the CLI's own handling: exit as an interrupted command does."""
    os._exit(130)


def run() -> None:
    """Run the CLI; until it takes over, Ctrl-C ends the process at once with 130.

    Nothing is written before the CLI starts, so there is nothing to undo, and otherwise
    Python would print a traceback from whichever module it was importing at that moment:
    so the handler comes first, before any import (this module imports only what Python has
    loaded as it started).
    """
    if _signal.getsignal(_signal.SIGINT) is not _signal.SIG_IGN:  # a background job keeps ignoring
        _signal.signal(_signal.SIGINT, leave)
    import gc

    # No cyclic garbage collection while modules load and the command is built (cli.app.main
    # turns it back on): what start-up makes lives as long as the process, so collecting
    # found nearly nothing to free (under 500 of 27,000 objects) and took 10-13 ms of a
    # 170 ms render, most of it scanning the modules that typer, Jinja2 and PyYAML load.
    gc.disable()
    from generator.io.nocore import forbid_core_dumps
    from generator.io.streams import setup

    setup()  # first: a closed stdin, stdout or stderr must not be taken by a file opened later
    forbid_core_dumps()  # before any secret is read
    from generator.cli.app import run as run_cli

    run_cli(collector_paused=True)
