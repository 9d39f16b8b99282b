"""No core file after a crash: a gen-secret process's memory holds the registry password."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, gen_secret_script

# Core files on: the shell lifts the limit, then becomes the command.
UNLIMITED = ["sh", "-c", 'ulimit -c unlimited && exec "$0" "$@"']


def crash(command: list[str], cwd: Path) -> str:
    """Start `command` with core files allowed, let it block reading stdin, then SIGSEGV it;
    its /proc/PID/limits as it was just before."""
    proc = subprocess.Popen(
        [*UNLIMITED, *command], cwd=cwd, stdin=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    reading_stdin(proc)  # started, the Clusterfile read, waiting for the password on stdin
    limits = Path(f"/proc/{proc.pid}/limits").read_text()
    proc.send_signal(signal.SIGSEGV)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGSEGV
    return limits


def reading_stdin(proc: subprocess.Popen[bytes]) -> None:
    """Wait until `proc` blocks in read(0, ...): its /proc/PID/syscall starts "0 0x0 "."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the process ended before it was signalled"
        try:
            if Path(f"/proc/{proc.pid}/syscall").read_text().startswith("0 0x0 "):
                return
        except OSError:  # not readable yet, or no such file on this kernel
            pass
        time.sleep(0.01)
    pytest.fail("the process never waited to read its stdin")


def test_no_core_file_after_sigsegv(tmp_path: Path) -> None:
    control, run = tmp_path / "control", tmp_path / "gen-secret"
    control.mkdir()
    run.mkdir()
    # Without gen-secret's guard this machine writes a core file, or the test proves nothing.
    crash([sys.executable, "-c", "import sys; sys.stdin.read()"], control)
    time.sleep(0.5)
    if not any(control.iterdir()):
        pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
        pytest.skip(f"no core file even without gen-secret's guard (core_pattern {pattern!r})")
    clusterfile = FIXTURES / "ha-auth-multidoc.yaml"
    limits = crash([gen_secret_script(), "render", str(clusterfile), "--password-stdin"], run)
    time.sleep(0.5)
    assert sorted(p.name for p in run.iterdir()) == [], "a core file was written"
    assert any(
        line.startswith("Max core file size") and line.split()[4:6] == ["0", "0"]
        for line in limits.splitlines()
    )


@pytest.mark.skipif(sys.platform != "linux", reason="prctl is Linux's")
def test_the_process_is_not_dumpable_and_ctypes_stays_unloaded() -> None:
    # "Not dumpable" is what stops a core handed to a pipe (systemd-coredump): PR_GET_DUMPABLE
    # reads it back. ctypes' own import cost 2 ms of a render; its C core does the call.
    probe = (
        "import sys\n"
        "from generator.io.nocore import forbid_core_dumps\n"
        "forbid_core_dumps()\n"
        "loaded = 'ctypes' in sys.modules\n"
        "import ctypes\n"
        "print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0), loaded)\n"  # 3: PR_GET_DUMPABLE
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["0", "False"]
