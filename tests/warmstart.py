"""A warm start for the console script in tests: a fork of a process that already imported it.

Most tests run gen-secret as a user does: a process of its own, with real pipes for its three
streams, its own working directory, environment, exit status and signals. What such a run
costs is mostly Python starting and importing typer, Jinja2 and PyYAML (about 0.15 s, hundreds
of times a suite). So a server, started once per pytest process, imports the console script's
modules and then, for each run, forks: the fork takes the test's pipes as its standard
streams, its argv, environment, working directory and umask, and calls the console script's
entry point, as the installed script does; the server reports its exit status.

What only a fresh interpreter decides (its flags and PYTHON* variables, the locale, the hash
seed, which modules a start loads) is not what these runs test: `run_script` falls back to
executing the script whenever a run asks for a prefix command or an environment that differs
in any such variable, and the tests of start-up, laziness, signals and determinism across
environments start real processes themselves.

Run as a script, this module is the server; imported, it is the client.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# Variables read once, as a process starts or imports, so a fork keeps the server's: the
# interpreter's own, the locale's, the time zone (the time module calls tzset() on import),
# and typer's choice of rich (typer.core).
_START_UP = ("PYTHON", "LC_", "LANG", "TZ", "TYPER_USE_RICH")


def start_up_environment(environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """What of an environment only a fresh interpreter can take in."""
    return tuple(sorted((k, v) for k, v in environ.items() if k.startswith(_START_UP)))


class WarmStart:
    """The client of one server, started on first use with the start-up variables it is given.

    Its forks serve runs whose environment has the same start-up variables; the rest of a
    run's environment is the run's own."""

    def __init__(self, script: str, start_up: tuple[tuple[str, str], ...]) -> None:
        self.script = script
        # Only what a fork cannot change: whatever else the server saw as it imported could
        # differ from what each run's fresh start would see.
        self.environment = dict(start_up)
        self._process: subprocess.Popen[bytes] | None = None
        self._socket: socket.socket | None = None

    def _connect(self) -> socket.socket:
        if self._socket is not None and self._process is not None and self._process.poll() is None:
            return self._socket
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._process = subprocess.Popen(
            [sys.executable, __file__, self.script, str(theirs.fileno())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(theirs.fileno(),),
            env=self.environment,
        )
        theirs.close()
        self._socket = ours
        return ours

    def close(self) -> None:
        """Stop the server (it ends when its socket closes) and reap it."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._process is not None:
            self._process.wait(timeout=60)
            self._process = None

    def run(
        self,
        args: Sequence[str],
        stdin: bytes,
        cwd: Path | None,
        env: Mapping[str, str] | None,
        timeout: float,
    ) -> tuple[int, bytes, bytes]:
        """Run the console script with `args`, as `subprocess.run(capture_output=True)` does."""
        connection = self._connect()
        umask = os.umask(0o022)
        os.umask(umask)
        environment = os.environ if env is None else env
        # As bytes, which the fork decodes as a fresh interpreter would in its locale.
        request = {
            "argv": [_raw(a) for a in (self.script, *args)],
            "cwd": str(cwd) if cwd is not None else os.getcwd(),
            "env": {_raw(k): _raw(v) for k, v in environment.items()},
            "umask": umask,
        }
        in_read, in_write = os.pipe()
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        try:
            socket.send_fds(
                connection, [json.dumps(request).encode()], [in_read, out_write, err_write]
            )
        finally:
            for fd in (in_read, out_write, err_write):
                os.close(fd)
        out: list[bytes] = []
        err: list[bytes] = []
        threads = [
            threading.Thread(target=_feed, args=(in_write, stdin), daemon=True),
            threading.Thread(target=_drain, args=(out_read, out), daemon=True),
            threading.Thread(target=_drain, args=(err_read, err), daemon=True),
        ]
        for thread in threads:
            thread.start()
        pid = json.loads(_message(connection))["pid"]
        connection.settimeout(timeout)
        try:
            status = json.loads(_message(connection))["status"]
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            connection.settimeout(None)
            connection.recv(4096)
            for thread in threads:
                thread.join()
            raise subprocess.TimeoutExpired([self.script, *args], timeout) from None
        connection.settimeout(None)
        for thread in threads:
            thread.join()
        return int(status), b"".join(out), b"".join(err)


def _raw(text: str) -> str:
    """The bytes a process would be given for `text`, carried in JSON one char a byte."""
    return os.fsencode(text).decode("latin-1")


def _decoded(raw: str) -> str:
    return os.fsdecode(raw.encode("latin-1"))


def _message(connection: socket.socket) -> bytes:
    message = connection.recv(4096)
    if not message:
        raise RuntimeError(
            "the warm-start server has gone; GEN_SECRET_TESTS_COLD=1 runs without it"
        )
    return message


def _feed(fd: int, data: bytes) -> None:
    # The suppress outside: closing the file flushes, and that too meets a reader gone.
    with contextlib.suppress(BrokenPipeError), open(fd, "wb", closefd=True) as stream:
        stream.write(data)


def _drain(fd: int, into: list[bytes]) -> None:
    with open(fd, "rb", buffering=0, closefd=True) as stream:
        while chunk := stream.read(65536):
            into.append(chunk)


def _serve(script: str, fd: int) -> None:
    # As the installed script's interpreter has it: its own folder first on the path.
    sys.path[0] = str(Path(script).parent)
    _import_everything()
    from generator.cli.script import run

    # What the imports made stays out of every fork's garbage collections: a collection
    # touching it would copy its pages into each fork.
    gc.freeze()

    connection = socket.socket(fileno=fd)
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(connection, 1 << 22, 3)
        except ConnectionError:
            return
        if not message:  # pytest has gone
            return
        request = json.loads(message)
        pid = os.fork()
        if pid == 0:
            _child(request, fds, run)
        for received in fds:
            os.close(received)
        connection.send(json.dumps({"pid": pid}).encode())
        _, status = os.waitpid(pid, 0)
        connection.send(json.dumps({"status": os.waitstatus_to_exitcode(status)}).encode())


def _import_everything() -> None:
    """Every module of gen-secret, and what their functions import on demand, so that no fork
    pays for an import (that a run loads only what it needs is tested by fresh starts)."""
    import importlib
    import pkgutil

    import generator

    for module in pkgutil.walk_packages(generator.__path__, "generator."):
        if not module.name.endswith(".__main__"):  # which runs the CLI
            importlib.import_module(module.name)
    # Not rich, nor typer's rich_utils: they read the environment as they are imported. The
    # others are what sealing, SOPS, a large write and a command's decorators load on demand.
    for name in (
        "cryptography.x509",
        "pyrage",
        "concurrent.futures.thread",
        "typer._click.decorators",
    ):
        importlib.import_module(name)
    # Each template compiled once, here, not in every fork: Jinja still checks a file's
    # modification time on each use (auto_reload), so a changed template would be compiled again.
    from generator.render.templates import environment, templates_dir

    for template in sorted(templates_dir().glob("*.j2")):
        environment().get_template(template.name)
    # And each command's click object (the root's is made per run: it reads the environment).
    from generator.cli.app import COMMANDS, command_line

    for name in COMMANDS:
        command_line([name])


def _child(request: dict[str, Any], fds: list[int], run: Any) -> None:
    code = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        _standard_streams()
        os.chdir(request["cwd"])
        os.umask(request["umask"])
        os.environ.clear()
        os.environ.update({_decoded(k): _decoded(v) for k, v in request["env"].items()})
        sys.argv = [_decoded(a) for a in request["argv"]]
        code = _exit_code(run)
    finally:
        os._exit(code)


def _standard_streams() -> None:
    """New sys.stdin, stdout and stderr on the run's descriptors, made as the interpreter
    makes them (Python/pylifecycle.c, create_stdio), in the encoding it chose at start-up."""
    import io

    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        old = getattr(sys, name)
        raw = io.FileIO(fd, mode, closefd=False)
        buffered: io.BufferedReader | io.BufferedWriter = (
            io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
        )
        stream = io.TextIOWrapper(
            buffered,
            encoding=old.encoding,
            errors=old.errors,
            newline="\n",
            line_buffering=raw.isatty() or fd == 2,
        )
        stream.mode = mode  # type: ignore[misc]
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def _exit_code(run: Any) -> int:
    """What `sys.exit(run())` would end the interpreter with, its streams flushed."""
    import atexit
    import traceback

    try:
        run()
        code = 0
    except SystemExit as stop:
        if stop.code is None:
            code = 0
        elif isinstance(stop.code, int):
            code = stop.code
        else:
            print(stop.code, file=sys.stderr)
            code = 1
    except KeyboardInterrupt:
        traceback.print_exc()
        sys.stderr.flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        code = 130
    except BaseException:  # what an interpreter does with any other
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # an interpreter's last flush fails with 120
            code = 120
    return code


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]))
