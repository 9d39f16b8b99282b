"""The write-ahead journal of an `--out` write: its plan, and whether the renames may begin.

A write that is killed outright (SIGKILL, a lost terminal, a power cut) leaves temporary files
that hold the new password, backups that hold the old one, and a folder with some files
renamed and others not. The journal names every one of those before the first is made, so
the next run into the folder can finish the write or undo it: old or new, never mixed.

It holds file names only, never what the files hold.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

JOURNAL = ".gen-secret-journal"
_HEADER = (
    b"# gen-secret: a write in progress; the next render into this folder finishes or undoes it.\n"
)
# The last of these lines decides: none means the renames had not begun.
COMMIT = "commit"
ABORT = "abort"
_TOKEN = re.compile(r"[0-9a-f]{12}")
_MAX_BYTES = 64 * 1024 * 1024  # a fleet's plan; more than this is not ours


def temporary_name(name: str, token: str) -> str:
    """Where a file's new bytes wait until the renames: hidden, and named by the run."""
    return f".{name}.{token}.tmp"


def backup_name(name: str, token: str) -> str:
    """A second name for the file a rename replaces, until every rename is done."""
    return f".{name}.{token}.old"


@dataclass(frozen=True)
class Plan:
    """One write: the run's token, the files it replaces or adds, the folders it makes, and the
    files of the previous render it removes once every new one is in place."""

    token: str
    files: tuple[tuple[str, bool], ...]  # (path in the folder, whether a file was there before)
    dirs: tuple[str, ...] = ()  # parents first
    stale: tuple[str, ...] = ()


class Journal:
    """The journal file of a write in progress, open for its status lines."""

    def __init__(self, root_fd: int, fd: int) -> None:
        self.root_fd = root_fd
        self.fd = fd

    @classmethod
    def create(cls, root_fd: int, plan: Plan) -> Journal:
        """Write the plan and make it durable, before any file it names exists."""
        body = {"token": plan.token, "files": plan.files, "dirs": plan.dirs, "stale": plan.stale}
        data = _HEADER + json.dumps(body, separators=(",", ":")).encode() + b"\n"
        fd = os.open(
            JOURNAL,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
            dir_fd=root_fd,
        )
        journal = cls(root_fd, fd)
        try:
            journal._append(data)
            os.fsync(root_fd)  # and its name: a temporary file must never outlive its journal
        except BaseException:
            journal.remove()
            raise
        return journal

    def commit(self) -> None:
        """Every new file is written and synced: from here on the write is finished, not undone."""
        self._append(f"{COMMIT}\n".encode())

    def abort(self) -> None:
        """A rename failed and the write is being undone: from here on it is undone."""
        self._append(f"{ABORT}\n".encode())

    def remove(self) -> None:
        """The write is whole (or undone): the journal goes."""
        with contextlib.suppress(OSError):
            os.close(self.fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(JOURNAL, dir_fd=self.root_fd)

    def _append(self, data: bytes) -> None:
        # A buffered writer writes all of it, however many calls that takes.
        with open(self.fd, "ab", closefd=False) as handle:
            handle.write(data)
        os.fdatasync(self.fd)


def read(root_fd: int) -> tuple[Plan | None, str] | None:
    """The journal an interrupted write left, as (plan, status); None when there is none.

    A plan that cannot be read is (None, ""): the write died while writing it, before it made
    any file, or the file is not ours; either way it names nothing to act on.
    """
    try:
        fd = os.open(JOURNAL, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=root_fd)
    except FileNotFoundError:
        return None
    except OSError:  # a link or something else planted there: nothing of ours
        return (None, "")
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(_MAX_BYTES + 1)
    lines = data.split(b"\n")
    if len(data) > _MAX_BYTES or len(lines) < 3 or lines[0] + b"\n" != _HEADER:
        return (None, "")
    plan = _plan(lines[1])
    statuses = [line.decode("ascii", "replace") for line in lines[2:]]
    status = next((s for s in reversed(statuses) if s in (COMMIT, ABORT)), "")
    return (plan, status)


def remove_unreadable(root_fd: int) -> None:
    """Remove a journal entry that names nothing (see `read`), whatever kind of file it is."""
    with contextlib.suppress(OSError):
        os.unlink(JOURNAL, dir_fd=root_fd)


def _plan(line: bytes) -> Plan | None:
    try:
        body = json.loads(line)
        token = body["token"]
        files = tuple((str(rel), bool(existed)) for rel, existed in body["files"])
        dirs = tuple(str(rel) for rel in body["dirs"])
        stale = tuple(str(rel) for rel in body["stale"])
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        return None
    # Only paths inside the folder: a journal is read back like the manifest, never trusted.
    paths = [rel for rel, _ in files] + list(dirs) + list(stale)
    if not all(inside(rel) for rel in paths):
        return None
    return Plan(token, files, dirs, stale)


def inside(rel: str) -> bool:
    """A path below the folder, spelled plainly: not absolute, no `..`, `.` or empty part."""
    path = PurePosixPath(rel)
    plain = path.as_posix() == rel and ".." not in path.parts
    return plain and bool(path.parts) and not path.is_absolute()
