"""Standard streams that are closed, full or gone: one line where one can be written, exit 1.

Started with fd 2 closed, Python sets `sys.stderr` to None, `print(file=None)` prints to
stdout, and the next file the process opens gets descriptor 2: warnings went into the YAML on
stdout, and a closed stdout or stdin ended in a traceback or an "internal error".
"""

from __future__ import annotations

import errno
import io
import os
import sys

from generator.errors import GenSecretError


class _Stderr:
    """Whether a message could not be written to stderr: the run then exits 1, since a
    command whose message was lost must not look as if it had nothing to say (as gnulib's
    close_stdout does for coreutils)."""

    lost = False


class StdoutError(GenSecretError):
    """stdout cannot be written (closed, a full disk): one line on stderr, exit code 1."""


class ReaderLeft(GenSecretError):
    """The reader of stdout went away (`| head`): exit code 1, and nothing to say about it."""


def setup() -> None:
    """Make the three standard streams safe to use, before anything else runs.

    A closed one gets its descriptor back, held by /dev/null opened the wrong way round: no
    file the run opens can land on it, and using it fails with EBADF, as on a closed stream.
    stdout reports a failed write as a `StdoutError` instead of an OSError from anywhere.
    """
    for fd, flags in ((0, os.O_WRONLY), (1, os.O_RDONLY), (2, os.O_RDONLY)):
        try:
            os.fstat(fd)
        except OSError:
            _hold(fd, flags)
    if sys.stdin is None:
        sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)))
    if sys.stderr is None:
        raw = io.BufferedWriter(io.FileIO(2, "w", closefd=False))
        sys.stderr = io.TextIOWrapper(raw, "utf-8", "backslashreplace", line_buffering=True)
    buffer = sys.stdout.buffer if sys.stdout is not None else None
    if buffer is None:
        buffer = io.BufferedWriter(io.FileIO(1, "w", closefd=False))
    # UTF-8 whatever the locale: YAML and JSON are UTF-8; surrogateescape: a file name's
    # undecodable bytes go out as the bytes they were.
    sys.stdout = CheckedStdout(buffer, "utf-8", "surrogateescape", line_buffering=_is_tty(1))


def _hold(fd: int, flags: int) -> None:
    held = os.open(os.devnull, flags)
    if held != fd:
        os.dup2(held, fd, inheritable=True)
        os.close(held)


def _is_tty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


class CheckedStdout(io.TextIOWrapper):
    """stdout whose failures say what failed, wherever the write came from (typer's help too)."""

    def write(self, text: str) -> int:
        try:
            return super().write(text)
        except OSError as exc:
            raise stdout_error(exc) from None

    def flush(self) -> None:
        try:
            super().flush()
        except OSError as exc:
            raise stdout_error(exc) from None


def stdout_error(exc: OSError) -> GenSecretError:
    """The one-line error for a failed write to stdout."""
    if exc.errno == errno.EPIPE:
        return ReaderLeft("the reader of stdout went away")
    return StdoutError(f"cannot write to stdout: {exc.strerror or exc}")


def write_stderr(line: str) -> None:
    """One line on stderr, and never anywhere else; a line that cannot go there is counted."""
    try:
        stream = sys.stderr
        if stream is None:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        stream.write(line + "\n")
        stream.flush()
    except (OSError, ValueError):
        _Stderr.lost = True


def stderr_lost() -> bool:
    """Whether a line meant for stderr could not be written there."""
    return _Stderr.lost
