"""Write rendered files into a folder: all or nothing, 0600, never through a planted symlink."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Protocol

from generator.errors import GenSecretError, InternalError
from generator.io import journal, libc
from generator.io.interrupts import Held, held
from generator.io.journal import Journal, Plan, backup_name, temporary_name
from generator.io.outlock import lock_folder

_WRITERS = 8
_PARALLEL_FROM = 64  # files; below that a thread pool costs more than it saves
# Lists what the last render wrote, so that the next one can remove what it no longer writes.
MANIFEST = ".gen-secret-files"
_MANIFEST_HEADER = (
    "# Files written by gen-secret; the next render removes those it no longer writes.\n"
)


class Streamed(Protocol):
    """A file too large to hold whole (a fan-out's pull copies), made as it is written."""

    @property
    def byte_size(self) -> int: ...

    def byte_chunks(self) -> Iterator[bytes]: ...


class Kept:
    """A file the caller found as this run would write it: listed, never touched."""


KEPT = Kept()
Content = str | Streamed | Kept


def write_tree(out_dir: Path, files: Mapping[str, Content]) -> None:
    """Write every file under `out_dir` atomically, then drop files an earlier render left.

    Every file goes to a temporary name first; only when all are written and synced are they
    renamed into place, and a rename that fails puts back the files renamed before it, so a
    failure leaves the folder as it was. A Ctrl-C, SIGTERM or SIGHUP is held until the renames
    begin, and taken there, or after the last one: never half-way through a rollback or the
    renames. Before the first file is made, a journal names them all (see `journal`), so that
    a run killed outright is finished or undone by the next one: `recover`, which runs first.
    """
    with held() as interrupts:
        _write_tree(out_dir, files, interrupts)


def recover(out_dir: Path) -> bool:
    """Finish or undo a write into `out_dir` that was killed; whether there was one.

    Every write does this first; a command that only reads the folder calls it before it looks.
    """
    with held():
        try:
            root_fd = os.open(out_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise GenSecretError(f"cannot open folder: {exc.strerror}", str(out_dir)) from None
        try:
            lock_folder(root_fd, out_dir)
            return _recover(root_fd, out_dir)
        finally:
            os.close(root_fd)  # and the lock goes with it


def _write_tree(out_dir: Path, files: Mapping[str, Content], interrupts: Held) -> None:
    _check_relative(files)
    root_fd, created = _open_out_dir(out_dir)
    try:
        # Before anything is read or written; a folder this run just made may already be
        # another's, so nothing here is removed when the lock is refused.
        lock_folder(root_fd, out_dir)
    except BaseException:
        os.close(root_fd)
        raise
    dir_fds: dict[str, int] = {"": root_fd}
    try:
        try:
            _recover(root_fd, out_dir)
            planned = _plan(root_fd, out_dir, files, dir_fds)
            if planned is not None:
                _apply(root_fd, out_dir, *planned, dir_fds, interrupts)
        except BaseException:
            _remove_empty(created)  # the folders this run made, when it left nothing in them
            raise
    finally:
        for fd in dir_fds.values():
            os.close(fd)


def _plan(
    root_fd: int, out_dir: Path, files: Mapping[str, Content], dir_fds: dict[str, int]
) -> tuple[Plan, dict[str, bytes | Streamed]] | None:
    """Check every target and decide what changes, touching nothing; None when nothing does.

    Every check comes first: a problem found half-way would leave files behind.
    """
    manifest_found = _exists(root_fd, MANIFEST)
    previous = _read_manifest(root_fd)
    missing: dict[str, None] = {}  # folders to make, parents first
    changed: dict[str, bytes | Streamed] = {}
    existed: dict[str, bool] = {}
    for rel, text in files.items():
        if isinstance(text, Kept):  # found as this run would write it (unchanged.py): listed
            continue
        parent, name = _split(rel)
        # A fan-out file is made piece by piece as it is written (stamping.StampedText): it is
        # never held whole, here or when it is compared.
        data = text.encode("utf-8") if isinstance(text, str) else text
        fd = _existing_dir(dir_fds, parent, out_dir, missing)
        # A folder committed to git without its hidden manifest (a fresh clone): the files
        # that say gen-secret wrote them are taken as its own.
        there = fd is not None and _check_target(
            fd, name, rel in previous, out_dir / rel, recognise=not manifest_found
        )
        # A file that already holds these bytes is left alone: no churn for GitOps tools and
        # make, and a re-render of a fleet touches only what changed.
        if fd is None or not there or not _unchanged(fd, name, data):
            changed[rel] = data
            existed[rel] = there
    manifest = (_MANIFEST_HEADER + "".join(f"{r}\n" for r in sorted(files))).encode()
    if not _unchanged(root_fd, MANIFEST, manifest):
        changed[MANIFEST] = manifest
        existed[MANIFEST] = manifest_found
    stale = tuple(sorted(previous - set(files)))
    if not changed and not stale:
        return None
    entries = tuple((rel, existed[rel]) for rel in changed)
    return Plan(secrets.token_hex(6), entries, tuple(missing), stale), changed


def _apply(
    root_fd: int,
    out_dir: Path,
    plan: Plan,
    changed: dict[str, bytes | Streamed],
    dir_fds: dict[str, int],
    interrupts: Held,
) -> None:
    """Journal the plan, stage every file, then rename them all into place, or undo it all."""
    try:
        record = Journal.create(root_fd, plan)
    except OSError as exc:
        raise GenSecretError(f"cannot write files: {exc.strerror}", str(out_dir)) from None
    staged: list[tuple[int, str, str]] = []  # (dir fd, temporary name, final name)
    made: list[tuple[int, str]] = []  # folders this run created, as (parent fd, name)
    try:
        for rel in plan.dirs:
            _make_dir(dir_fds, rel, out_dir, made)
        _stage_all(changed, dir_fds, out_dir, staged, plan.token)
        # Every staged file's bytes reach the disk before any rename makes one visible.
        if not _syncfs(root_fd):
            _fsync_each(staged, out_dir)
        interrupts.check()  # the last moment to stop with nothing changed
        try:
            record.commit()
        except OSError as exc:
            raise GenSecretError(f"cannot write files: {exc.strerror}", str(out_dir)) from None
        _publish(staged, out_dir, plan.token, record)
    except BaseException:
        # _publish has put back what it renamed; what was not renamed waits under its
        # temporary name, as before the commit.
        _discard(staged)
        for parent_fd, name in reversed(made):
            with contextlib.suppress(OSError):
                os.rmdir(name, dir_fd=parent_fd)
        record.remove()
        raise
    try:
        _remove_stale(root_fd, set(plan.stale))
        if not _syncfs(root_fd):  # and so do the renames
            try:
                for fd in dir_fds.values():
                    os.fsync(fd)
            except OSError as exc:
                raise GenSecretError(
                    f"cannot sync --out folder: {exc.strerror}", str(out_dir)
                ) from None
    finally:
        record.remove()  # every file is in place: there is nothing left to finish


def _recover(root_fd: int, out_dir: Path) -> bool:
    """Finish a journalled write that had committed, or undo one that had not; see `recover`."""
    found = journal.read(root_fd)
    if found is None:
        return False
    plan, status = found
    if plan is None:
        journal.remove_unreadable(root_fd)
        return True
    try:
        if status == journal.COMMIT:
            _redo(root_fd, plan)
        else:
            _undo(root_fd, plan, aborted=status == journal.ABORT)
        if not _syncfs(root_fd):
            os.fsync(root_fd)
        os.unlink(journal.JOURNAL, dir_fd=root_fd)
    except OSError as exc:
        raise GenSecretError(
            f"cannot finish the interrupted write found in the folder: {exc.strerror}",
            str(out_dir),
        ) from None
    return True


def _redo(root_fd: int, plan: Plan) -> None:
    """Rename every new file still waiting into place, then drop backups and stale files.

    Safe to repeat: a file already renamed has no temporary name left to rename.
    """
    with _Folders(root_fd) as folders:
        for rel, _ in plan.files:
            fd, name = folders.parent_of(rel)
            if fd is None:
                continue
            temporary = temporary_name(name, plan.token)
            if _is_regular(fd, temporary):
                os.rename(temporary, name, src_dir_fd=fd, dst_dir_fd=fd)
            _unlink_quietly(fd, temporary)  # anything else under that name is not a file of ours
            _unlink_quietly(fd, backup_name(name, plan.token))
    _remove_stale(root_fd, set(plan.stale))


def _undo(root_fd: int, plan: Plan, *, aborted: bool) -> None:
    """Remove every temporary file; after an abort, put back what the renames replaced.

    Before the commit line no rename had happened, so the old files are all in place.
    """
    with _Folders(root_fd) as folders:
        for rel, existed in reversed(plan.files):
            fd, name = folders.parent_of(rel)
            if fd is None:
                continue
            temporary = temporary_name(name, plan.token)
            waiting = _exists(fd, temporary)
            _unlink_quietly(fd, temporary)
            if not aborted:
                continue
            backup = backup_name(name, plan.token)
            if _exists(fd, backup):
                # Backup and file may be one file (the rename had not happened): then this
                # rename does nothing, and the backup name goes below.
                os.rename(backup, name, src_dir_fd=fd, dst_dir_fd=fd)
                _unlink_quietly(fd, backup)
            elif not existed and not waiting:
                _unlink_quietly(fd, name)  # a new file, renamed in before the abort
        for rel in reversed(plan.dirs):
            fd, name = folders.parent_of(rel)
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.rmdir(name, dir_fd=fd)  # only when empty: a user's file keeps it


class _Folders:
    """Descriptors of the folders of a plan's paths, opened without following links."""

    def __init__(self, root_fd: int) -> None:
        self.fds: dict[str, int | None] = {"": root_fd}
        self.root_fd = root_fd

    def __enter__(self) -> _Folders:
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in self.fds.values():
            if fd is not None and fd != self.root_fd:
                os.close(fd)

    def parent_of(self, rel: str) -> tuple[int | None, str]:
        parent, name = _split(rel)
        return self._open(parent), name

    def _open(self, rel: str) -> int | None:
        if rel not in self.fds:
            parent, name = _split(rel)
            parent_fd = self._open(parent)
            fd = None
            if parent_fd is not None:
                with contextlib.suppress(OSError):
                    fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
            self.fds[rel] = fd
        return self.fds[rel]


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _exists(dir_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _is_regular(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return False


def _unlink_quietly(dir_fd: int, name: str) -> None:
    with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
        os.unlink(name, dir_fd=dir_fd)


def _stage_all(
    files: Mapping[str, bytes | Streamed],
    dir_fds: dict[str, int],
    out_dir: Path,
    staged: list[tuple[int, str, str]],
    token: str,
) -> None:
    """Write every file to its temporary name, a few at a time.

    File creation waits on the disk, not the CPU: on these machines eight writers at once
    staged a 1,000-cluster fleet three times faster than one. Every file that was written
    lands in `staged` before the first failure is raised, so the caller can remove them all.
    """

    def stage(rel: str, data: bytes | Streamed) -> None:
        parent, name = _split(rel)
        fd = dir_fds[parent]
        temporary = _write_temporary(fd, name, data, out_dir, rel, token)
        # Recorded by the writer itself as soon as the file exists, so that whatever fails
        # later, in any thread, the caller finds every file to remove.
        staged.append((fd, temporary, name))

    if len(files) < _PARALLEL_FROM:
        for rel, data in files.items():
            stage(rel, data)
        return
    # Here, not above: the import (concurrent.futures loads logging) took 5 ms of a run.
    from concurrent.futures import Future, ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=_WRITERS) as pool:
        try:
            futures = [pool.submit(stage, rel, data) for rel, data in files.items()]
            errors = [e for e in map(Future.exception, futures) if e is not None]
        except BaseException:  # drop what is queued; what was written is in `staged`
            pool.shutdown(cancel_futures=True)
            raise
    if errors:
        raise errors[0]


def _pieces(data: bytes | Streamed) -> Iterator[bytes]:
    if isinstance(data, bytes):
        yield data
    else:
        yield from data.byte_chunks()


def _unchanged(dir_fd: int, name: str, data: bytes | Streamed) -> bool:
    """Whether `name` is a plain 0600 file of ours, not linked elsewhere, holding `data`."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return False
    try:
        info = os.fstat(fd)
        if (
            not stat.S_ISREG(info.st_mode)
            or stat.S_IMODE(info.st_mode) != 0o600
            or info.st_nlink != 1  # a hard link planted since: replace, never keep
            or info.st_size != (len(data) if isinstance(data, bytes) else data.byte_size)
        ):
            return False
        with os.fdopen(fd, "rb", closefd=False) as handle:
            same = all(handle.read(len(piece)) == piece for piece in _pieces(data))
            return same and not handle.read(1)
    finally:
        os.close(fd)


def _check_target(
    dir_fd: int, name: str, listed: bool, shown: Path, *, recognise: bool = False
) -> bool:
    """Refuse, before anything is written, a file that is not ours or a folder in the way;
    whether there is a file to replace. Ours: `listed` in the manifest, or, to `recognise`
    files without one, a file that says gen-secret wrote it."""
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(mode):
        # The rename would fail half-way through the files.
        raise GenSecretError("a folder is in the way of a file to write", str(shown))
    if not listed and not (recognise and _marked(dir_fd, name)):
        raise GenSecretError(
            "exists and was not written by gen-secret; move it or choose another --out",
            str(shown),
        )
    return True


def _discard(staged: list[tuple[int, str, str]]) -> None:
    for fd, temporary, _ in staged:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=fd)


def _fsync_each(staged: list[tuple[int, str, str]], out_dir: Path) -> None:
    try:
        for fd, temporary, _ in staged:
            _fsync_at(fd, temporary)
    except OSError as exc:
        raise GenSecretError(f"cannot write files: {exc.strerror}", str(out_dir)) from None


def _publish(
    staged: list[tuple[int, str, str]], out_dir: Path, token: str, record: Journal
) -> None:
    """Rename every temporary file into place, all or none.

    Each file it replaces is kept under a second name (a hard link) until all renames are
    done, so that a rename failing half-way can put the earlier files back. The journal
    says so first, so that a run killed while putting them back is undone, not finished.
    """
    done: list[tuple[int, str, str | None]] = []  # (dir fd, final name, backup or None)
    try:
        for fd, temporary, name in staged:
            backup = _backup(fd, name, token)
            # Recorded before the rename: whatever is raised once it has happened, it is
            # undone. Undoing one that did not happen is harmless.
            done.append((fd, name, backup))
            os.rename(temporary, name, src_dir_fd=fd, dst_dir_fd=fd)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            record.abort()
        for fd, name, backup in reversed(done):
            if backup is None:  # there was no file: remove the new one, if it got there
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=fd)
            elif backup != _NO_BACKUP:
                # If the rename never happened, backup and name are one file and this rename
                # does nothing (POSIX), so the backup name goes in any case.
                with contextlib.suppress(OSError):
                    os.rename(backup, name, src_dir_fd=fd, dst_dir_fd=fd)
                with contextlib.suppress(OSError):
                    os.unlink(backup, dir_fd=fd)
        if isinstance(exc, OSError):
            raise GenSecretError(f"cannot write files: {exc.strerror}", str(out_dir)) from None
        raise
    for fd, _, backup in done:
        if backup not in (None, _NO_BACKUP):
            with contextlib.suppress(OSError):
                os.unlink(backup, dir_fd=fd)


# A file is replaced that could not be kept (no hard links here): it cannot be put back.
_NO_BACKUP = ""


def _backup(dir_fd: int, name: str, token: str) -> str | None:
    """A second name for the file about to be replaced; None when there is no such file."""
    backup = backup_name(name, token)
    try:
        # A link, not a rename: the file stays readable under its own name meanwhile.
        os.link(name, backup, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    except OSError:
        return _NO_BACKUP
    return backup


def _syncfs(fd: int) -> bool:
    """syncfs(2) on the file system holding `fd`; False where the platform lacks it.

    One call instead of an fsync per file and folder: a fleet render writes thousands of
    files, and per-file fsync made that ten times slower.
    """
    return libc.call("syncfs", fd) == 0


def _fsync_at(dir_fd: int, name: str) -> None:
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def git_work_tree(path: Path) -> Path | None:
    """The git working tree that `path` is (or would be) inside: the nearest `.git` upwards.

    `.git` is a folder in a clone and a file in a worktree or submodule; either counts.
    """
    for folder in (path.absolute(), *path.absolute().parents):
        if (folder / ".git").exists():
            return folder
    return None


def _check_relative(files: Mapping[str, object]) -> None:
    for rel in files:
        path = PurePosixPath(rel)
        if path.is_absolute() or ".." in path.parts or not path.parts:
            raise InternalError(f"output path {rel!r} escapes the folder")


def _split(rel: str) -> tuple[str, str]:
    path = PurePosixPath(rel)
    return ("/".join(path.parts[:-1]), path.parts[-1])


def _open_out_dir(out_dir: Path) -> tuple[int, list[Path]]:
    """A descriptor of the output folder, and the folders this run made for it, innermost first.

    Every folder it makes is 0700, the missing parents too (`mkdir -p`, and Path.mkdir, give
    them the umask's mode): they lead to files that hold passwords.
    """
    created: list[Path] = []
    try:
        for folder in reversed([out_dir, *out_dir.parents]):
            if not os.path.lexists(folder):
                try:
                    os.mkdir(folder, 0o700)
                except FileExistsError:  # made meanwhile by someone else: not ours
                    continue
                created.insert(0, folder)
    except OSError as exc:
        _remove_empty(created)
        raise GenSecretError(f"cannot create --out folder: {exc.strerror}", str(out_dir)) from None
    try:
        fd = os.open(out_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except (NotADirectoryError, FileNotFoundError):  # a file, or a link to nowhere
        _remove_empty(created)
        raise GenSecretError("--out is not a folder", str(out_dir)) from None
    except OSError as exc:
        _remove_empty(created)
        raise GenSecretError(f"cannot open --out folder: {exc.strerror}", str(out_dir)) from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        os.close(fd)
        _remove_empty(created)
        raise GenSecretError("--out folder is not writable", str(out_dir))
    return fd, created


def _remove_empty(folders: list[Path]) -> None:
    """Remove folders this run made, innermost first, as long as they are empty."""
    for folder in folders:
        try:
            os.rmdir(folder)
        except OSError:
            return


def _existing_dir(
    dir_fds: dict[str, int], rel: str, out_dir: Path, missing: dict[str, None]
) -> int | None:
    """A descriptor for a folder below the output folder, never through a symlink; None when
    it is missing (it goes into `missing`, after its missing parents)."""
    if rel in dir_fds:
        return dir_fds[rel]
    if rel in missing:
        return None
    parent, name = _split(rel)
    parent_fd = _existing_dir(dir_fds, parent, out_dir, missing)
    if parent_fd is None:
        missing[rel] = None
        return None
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except FileNotFoundError:
        missing[rel] = None
        return None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise GenSecretError(
                "refusing to write through a symlink or non-folder", str(out_dir / rel)
            ) from None
        raise GenSecretError(f"cannot open folder: {exc.strerror}", str(out_dir / rel)) from None
    dir_fds[rel] = fd
    return fd


def _make_dir(
    dir_fds: dict[str, int], rel: str, out_dir: Path, made: list[tuple[int, str]]
) -> None:
    """Make a folder the plan names (its parent exists by now) and keep its descriptor.

    It goes into `made` before it exists, so that a failed write removes it whatever is
    raised once it does.
    """
    parent, name = _split(rel)
    parent_fd = dir_fds[parent]
    made.append((parent_fd, name))
    try:
        os.mkdir(name, 0o700, dir_fd=parent_fd)
        dir_fds[rel] = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        if isinstance(exc, FileExistsError):  # made since the plan: not ours to remove
            made.pop()
        raise GenSecretError(f"cannot make folder: {exc.strerror}", str(out_dir / rel)) from None


def _write_temporary(
    dir_fd: int, name: str, data: bytes | Streamed, out_dir: Path, rel: str, token: str
) -> str:
    temporary = temporary_name(name, token)
    try:
        # O_EXCL and O_NOFOLLOW: never open an existing file or a link someone planted.
        fd = os.open(
            temporary,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
            dir_fd=dir_fd,
        )
    except OSError as exc:
        raise GenSecretError(f"cannot write file: {exc.strerror}", str(out_dir / rel)) from None
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        for piece in _pieces(data):
            view = memoryview(piece)
            while view:
                view = view[os.write(fd, view) :]
    except BaseException as exc:  # an interrupt too: never leave a password in a stray file
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=dir_fd)
        if isinstance(exc, OSError):
            raise GenSecretError(f"cannot write file: {exc.strerror}", str(out_dir / rel)) from None
        raise
    finally:
        os.close(fd)
    return temporary


# What every file gen-secret writes says of itself (see templates/): the recommended label on
# each object, or the first line of a kustomization or a patch.
_OWN_LABEL = re.compile(rb"(?m)^ +app\.kubernetes\.io/managed-by: gen-secret\r?$")
_OWN_FIRST_LINES = (
    b"# Written by gen-secret: `kubectl apply -k` on this folder applies every object below.",
    b"# Strategic-merge patch: imagePullSecrets merges by name, so existing entries stay.",
    # A fleet's fingerprints (unchanged.py).
    b"# Keyed hashes (HMAC-SHA256) of each cluster's inputs and files, so that the next run",
)
_MARK_WITHIN = 4096  # bytes: the first object's labels come well before
# O_NONBLOCK: a FIFO planted under the name must not make the run wait.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _marked(dir_fd: int, name: str) -> bool:
    """Whether `name` is a regular file that says gen-secret wrote it."""
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        head = os.read(fd, _MARK_WITHIN)
    except OSError:
        return False
    finally:
        os.close(fd)
    first = head.split(b"\n", 1)[0].removesuffix(b"\r")
    return first in _OWN_FIRST_LINES or _OWN_LABEL.search(head) is not None


def _read_manifest(root_fd: int) -> set[str]:
    try:
        fd = os.open(MANIFEST, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=root_fd)
    except OSError:
        return set()
    with os.fdopen(fd, encoding="utf-8", errors="replace") as handle:
        entries = {line.strip() for line in handle if line.strip() and not line.startswith("#")}
    # Compared with this render's file names, so spelled the same way: `./a` and `a/` are `a`,
    # and `.` is no file at all.
    paths = (PurePosixPath(e) for e in entries)
    return {p.as_posix() for p in paths if p.parts and not p.is_absolute() and ".." not in p.parts}


def _remove_stale(root_fd: int, stale: set[str]) -> None:
    """Unlink files an earlier render wrote and this one did not, then their empty folders."""
    for rel in sorted(stale):
        *parents, name = PurePosixPath(rel).parts
        opened: list[int] = []
        fd = root_fd
        try:
            for part in parents:
                fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                opened.append(fd)
            os.unlink(name, dir_fd=fd)  # unlink removes a link itself, never its target
            for part, parent_fd in zip(reversed(parents), [root_fd, *opened][-2::-1], strict=True):
                os.rmdir(part, dir_fd=parent_fd)  # fails, harmlessly, while not empty
        except OSError:
            pass
        finally:
            for opened_fd in opened:
                os.close(opened_fd)


def read_previous(out_dir: Path, wanted: Callable[[str], bool], limit: int) -> dict[str, bytes]:
    """The files an earlier render wrote into `out_dir` (its manifest lists them) that `wanted`
    picks, by name: regular files only, never through a link, none larger than `limit`."""
    try:
        root_fd = os.open(out_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return {}  # no folder yet: nothing was written before
    found: dict[str, bytes] = {}
    try:
        for rel in sorted(_read_manifest(root_fd)):
            if wanted(rel):
                data = _read_below(root_fd, rel, limit)
                if data is not None:
                    found[rel] = data
    finally:
        os.close(root_fd)
    return found


def _open_parents(fd: int, parents: list[str], opened: list[int]) -> int:
    """The folder that holds a file below `fd`, each step opened without following a link;
    every descriptor opened goes into `opened`, for the caller to close."""
    for part in parents:
        fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        opened.append(fd)
    return fd


def _read_below(root_fd: int, rel: str, limit: int) -> bytes | None:
    *parents, name = PurePosixPath(rel).parts
    opened: list[int] = []
    fd = root_fd
    try:
        fd = _open_parents(fd, parents, opened)
        file_fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
        with os.fdopen(file_fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return None
            data = handle.read(limit + 1)
        return data if len(data) <= limit else None
    except OSError:
        return None  # gone, replaced by a link, unreadable: there is nothing to keep
    finally:
        for opened_fd in opened:
            os.close(opened_fd)


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class Tree:
    """What an --out folder holds of gen-secret's: the manifest's list and those files' bytes.

    `files` maps each path asked about, and each path the manifest lists, to its bytes, or to
    None when there is no such file.
    """

    listed: frozenset[str]
    files: dict[str, bytes | None] = field(repr=False)


# What stands in a file's place when it is a symlink: render would replace it, never follow it.
LINK = b"\0gen-secret: a symlink\0"


def read_tree(out_dir: Path, paths: Iterable[str]) -> Tree:
    """Read the files of `paths` and of the folder's manifest, never following a link.

    For `check`: nothing is written, and files the manifest does not list are not read
    unless asked about. A folder that cannot be read is an error.
    """
    try:
        root_fd = os.open(out_dir, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        raise GenSecretError("--out folder does not exist", str(out_dir)) from None
    except NotADirectoryError:
        raise GenSecretError("--out is not a folder", str(out_dir)) from None
    except OSError as exc:
        raise GenSecretError(f"cannot open --out folder: {exc.strerror}", str(out_dir)) from None
    try:
        listed = _read_manifest(root_fd)
        wanted = sorted(listed | set(paths))
        files = {rel: _read_at(root_fd, rel, out_dir) for rel in wanted}
    finally:
        os.close(root_fd)
    return Tree(frozenset(listed), files)


def _read_at(root_fd: int, rel: str, out_dir: Path) -> bytes | None:
    *parents, name = PurePosixPath(rel).parts
    opened: list[int] = []
    fd = root_fd
    try:
        fd = _open_parents(fd, parents, opened)
        file_fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            return LINK if exc.errno == errno.ELOOP and len(opened) == len(parents) else None
        raise GenSecretError(f"cannot read file: {exc.strerror}", str(out_dir / rel)) from None
    finally:
        for opened_fd in opened:
            os.close(opened_fd)
    try:
        if not stat.S_ISREG(os.fstat(file_fd).st_mode):
            raise GenSecretError("is not a regular file", str(out_dir / rel))
        with os.fdopen(file_fd, "rb", closefd=False) as handle:
            return handle.read()
    except OSError as exc:
        raise GenSecretError(f"cannot read file: {exc.strerror}", str(out_dir / rel)) from None
    finally:
        os.close(file_fd)
