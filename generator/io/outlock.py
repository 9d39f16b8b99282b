"""One writer at a time: an advisory lock on the output folder, and who holds it."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from generator.errors import GenSecretError


def lock_folder(fd: int, shown: Path) -> None:
    """Lock the folder open on `fd` for this run, or say which run holds it.

    flock(2) on the folder itself: no lock file to leave behind, and the kernel releases it
    when the holder's last descriptor closes, so a run that was killed never keeps it. Two
    runs writing one folder at once gave a folder with half of each and a manifest that
    listed only one of them.
    """
    pid = None
    for _ in range(3):  # the holder may let go between the refusal and the look at who it is
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = holder(fd)
            if pid is not None:
                break
            continue
        except OSError:
            # No locks on this file system (ENOLCK on some network mounts): writing unlocked
            # is what every run did before, and refusing would make the folder unusable.
            return
        return
    who = f"pid {pid}" if pid else "another process"
    raise GenSecretError(
        f"another gen-secret run ({who}) is writing to this folder; "
        "wait for it to finish, or choose another --out",
        str(shown),
    )


def holder(fd: int, locks: Path = Path("/proc/locks")) -> int | None:
    """The process that holds a flock(2) lock on the file open on `fd`, where Linux says."""
    info = os.fstat(fd)
    inode = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    try:
        lines = locks.read_text(encoding="ascii", errors="replace").splitlines()
    except OSError:
        return None
    # "1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234 0 EOF"; waiting requests carry "->".
    for line in lines:
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == inode:
            pid = int(fields[4]) if fields[4].isdigit() else 0
            return pid or None  # 0: a process in another pid namespace
    return None
