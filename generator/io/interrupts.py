"""Ctrl-C, SIGTERM and SIGHUP held back while files are half-written or worker processes run."""

import contextlib
import signal
import threading
from collections.abc import Iterator

# Held only while their handling is Python's default: a SIGINT ignored by a background job,
# a SIGHUP ignored under nohup, or a handler a caller installed, is left as it is. SIGHUP is a
# closed terminal or a dropped SSH session: as final as SIGTERM, and as untimely.
_DEFAULTS = {
    signal.SIGINT: signal.default_int_handler,
    signal.SIGTERM: signal.SIG_DFL,
    signal.SIGHUP: signal.SIG_DFL,
}


class Held:
    """The first signal that came while held; `check()` acts on it where stopping is safe."""

    def __init__(self) -> None:
        self.pending: int | None = None

    def check(self) -> None:
        """Stop here if a signal came, as it would have stopped the run: Ctrl-C raises
        KeyboardInterrupt (exit 130), SIGTERM and SIGHUP exit 143 and 129 once the caller has
        cleaned up."""
        pending, self.pending = self.pending, None
        if pending == signal.SIGINT:
            raise KeyboardInterrupt
        if pending is not None:
            raise SystemExit(128 + pending)


@contextlib.contextmanager
def held() -> Iterator[Held]:
    """Within this block SIGINT, SIGTERM and SIGHUP only mark themselves; `check()` or the end
    acts.

    Python raises KeyboardInterrupt wherever the main thread happens to be, between any two
    bytecodes: in the middle of a rollback, between creating a file and recording it, or while
    waiting for worker processes to stop; and SIGTERM kills at once. Both left files holding
    passwords, or workers blocked forever. A second signal changes nothing.
    """
    state = Held()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def hold(signum: int, frame: object) -> None:
        state.pending = state.pending or signum

    mine = [s for s, default in _DEFAULTS.items() if signal.getsignal(s) is default]
    previous = {s: signal.signal(s, hold) for s in mine}
    try:
        yield state
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    state.check()  # the block finished, and the user had asked to stop: say so now
