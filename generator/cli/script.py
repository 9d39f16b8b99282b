"""The console script's entry: a quiet Ctrl-C from its first moment, then the CLI."""

import signal

from generator.io.interrupts import leave


def run() -> None:
    """Run the CLI; until it takes over, Ctrl-C ends the process at once with 130.

    Nothing is written before the CLI starts, so there is nothing to undo, and otherwise
    Python would print a traceback from whichever library it was importing at that moment.
    """
    from generator.io.nocore import forbid_core_dumps
    from generator.io.streams import setup

    setup()  # first: a closed stdin, stdout or stderr must not be taken by a file opened later
    forbid_core_dumps()  # before any secret is read
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # a background job keeps ignoring
        signal.signal(signal.SIGINT, leave)
    from generator.cli.app import run as run_cli

    run_cli()
