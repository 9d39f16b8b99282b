"""Write rendered files into a folder: all or nothing, 0600, never through a planted symlink."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Protocol

from generator.errors import GenSecretError, InternalError
from generator.interrupts import Held, held

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
    failure leaves the folder as it was. A Ctrl-C is held until the renames begin, and taken
    there, or after the last one: never half-way through a rollback or the renames.
    """
    with held() as interrupts:
        _write_tree(out_dir, files, interrupts)


def _write_tree(out_dir: Path, files: Mapping[str, Content], interrupts: Held) -> None:
    _check_relative(files)
    created = not os.path.lexists(out_dir)
    root_fd = _open_out_dir(out_dir)
    staged: list[tuple[int, str, str]] = []  # (dir fd, temporary name, final name)
    dir_fds: dict[str, int] = {"": root_fd}
    made: list[tuple[int, str]] = []  # folders this run created, as (parent fd, name)
    try:
        try:
            previous = _read_manifest(root_fd)
            changed: dict[str, str | Streamed] = {}
            # Every check first: a problem found half-way would leave files behind.
            for rel, text in files.items():
                if isinstance(text, Kept):  # checked by the caller (unchanged.py)
                    continue
                parent, name = _split(rel)
                fd = _subdir(dir_fds, parent, out_dir, made)
                _check_target(fd, name, rel in previous, out_dir / rel)
                # A file that already holds these bytes is left alone: no churn for GitOps
                # tools and make, and a re-render of a fleet touches only what changed.
                if rel not in previous or not _unchanged(fd, name, _encoded(text)):
                    changed[rel] = text
            _stage_all(changed, dir_fds, out_dir, staged)
            manifest = (_MANIFEST_HEADER + "".join(f"{r}\n" for r in sorted(files))).encode()
            if not _unchanged(root_fd, MANIFEST, manifest):
                temporary = _write_temporary(root_fd, MANIFEST, manifest, out_dir, MANIFEST)
                staged.append((root_fd, temporary, MANIFEST))
            # Every staged file's bytes reach the disk before any rename makes one visible.
            if not _syncfs(root_fd):
                _fsync_each(staged, out_dir)
            interrupts.check()  # the last moment to stop with nothing changed
            _publish(staged, out_dir)
        except BaseException:
            _discard(staged)
            for parent_fd, name in reversed(made):
                with contextlib.suppress(OSError):
                    os.rmdir(name, dir_fd=parent_fd)
            if created:  # the folder too, when this run made it
                with contextlib.suppress(OSError):
                    os.rmdir(out_dir)
            raise
        _remove_stale(root_fd, previous - set(files))
        if not _syncfs(root_fd):  # and so do the renames
            try:
                for fd in dir_fds.values():
                    os.fsync(fd)
            except OSError as exc:
                raise GenSecretError(
                    f"cannot sync --out folder: {exc.strerror}", str(out_dir)
                ) from None
    finally:
        for fd in dir_fds.values():
            os.close(fd)


def _stage_all(
    files: Mapping[str, str | Streamed],
    dir_fds: dict[str, int],
    out_dir: Path,
    staged: list[tuple[int, str, str]],
) -> None:
    """Write every file to its temporary name, a few at a time.

    File creation waits on the disk, not the CPU: on these machines eight writers at once
    staged a 1,000-cluster fleet three times faster than one. Every file that was written
    lands in `staged` before the first failure is raised, so the caller can remove them all.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    def stage(rel: str, text: str | Streamed) -> None:
        parent, name = _split(rel)
        fd = dir_fds[parent]
        temporary = _write_temporary(fd, name, _encoded(text), out_dir, rel)
        # Recorded by the writer itself as soon as the file exists, so that whatever fails
        # later, in any thread, the caller finds every file to remove.
        staged.append((fd, temporary, name))

    if len(files) < _PARALLEL_FROM:
        for rel, text in files.items():
            stage(rel, text)
        return
    with ThreadPoolExecutor(max_workers=_WRITERS) as pool:
        try:
            futures = [pool.submit(stage, rel, text) for rel, text in files.items()]
            errors = [e for e in map(Future.exception, futures) if e is not None]
        except BaseException:  # drop what is queued; what was written is in `staged`
            pool.shutdown(cancel_futures=True)
            raise
    if errors:
        raise errors[0]


def _encoded(text: str | Streamed) -> bytes | Streamed:
    return text.encode("utf-8") if isinstance(text, str) else text


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
            return all(handle.read(len(piece)) == piece for piece in _pieces(data)) and not (
                handle.read(1)
            )
    finally:
        os.close(fd)


def _check_target(dir_fd: int, name: str, ours: bool, shown: Path) -> None:
    """Refuse, before anything is written, a file that is not ours or a folder in the way."""
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        # The rename would fail half-way through the files.
        raise GenSecretError("a folder is in the way of a file to write", str(shown))
    if not ours:
        raise GenSecretError(
            "exists and was not written by gen-secret; move it or choose another --out",
            str(shown),
        )


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


def _publish(staged: list[tuple[int, str, str]], out_dir: Path) -> None:
    """Rename every temporary file into place, all or none.

    Each file it replaces is kept under a second name (a hard link) until all renames are
    done, so that a rename failing half-way can put the earlier files back.
    """
    done: list[tuple[int, str, str | None]] = []  # (dir fd, final name, backup or None)
    try:
        for fd, temporary, name in staged:
            backup = _backup(fd, name)
            # Recorded before the rename: whatever is raised once it has happened, it is
            # undone. Undoing one that did not happen is harmless.
            done.append((fd, name, backup))
            os.rename(temporary, name, src_dir_fd=fd, dst_dir_fd=fd)
    except BaseException as exc:
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


def _backup(dir_fd: int, name: str) -> str | None:
    """A second name for the file about to be replaced; None when there is no such file."""
    backup = f".{name}.{secrets.token_hex(6)}.old"
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
    import ctypes  # only writers pay for it

    syncfs = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)
    return syncfs is not None and syncfs(fd) == 0


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


def _open_out_dir(out_dir: Path) -> int:
    try:
        out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except FileExistsError:
        raise GenSecretError("--out is not a folder", str(out_dir)) from None
    except OSError as exc:
        raise GenSecretError(f"cannot create --out folder: {exc.strerror}", str(out_dir)) from None
    try:
        fd = os.open(out_dir, os.O_RDONLY | os.O_DIRECTORY)
    except NotADirectoryError:
        raise GenSecretError("--out is not a folder", str(out_dir)) from None
    except OSError as exc:
        raise GenSecretError(f"cannot open --out folder: {exc.strerror}", str(out_dir)) from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        os.close(fd)
        raise GenSecretError("--out folder is not writable", str(out_dir))
    return fd


def _subdir(dir_fds: dict[str, int], rel: str, out_dir: Path, made: list[tuple[int, str]]) -> int:
    """A descriptor for a folder below the output folder, made if missing, never a symlink.

    Folders it makes go into `made`, so that a failed write can remove them again.
    """
    if rel in dir_fds:
        return dir_fds[rel]
    parent, name = _split(rel)
    parent_fd = _subdir(dir_fds, parent, out_dir, made)
    # Recorded before it exists, for the same reason as a rename in _publish.
    made.append((parent_fd, name))
    try:
        os.mkdir(name, 0o700, dir_fd=parent_fd)
    except FileExistsError:
        made.pop()
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise GenSecretError(
                "refusing to write through a symlink or non-folder", str(out_dir / rel)
            ) from None
        raise GenSecretError(f"cannot open folder: {exc.strerror}", str(out_dir / rel)) from None
    dir_fds[rel] = fd
    return fd


def _write_temporary(
    dir_fd: int, name: str, data: bytes | Streamed, out_dir: Path, rel: str
) -> str:
    temporary = f".{name}.{secrets.token_hex(6)}.tmp"
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


def _read_below(root_fd: int, rel: str, limit: int) -> bytes | None:
    *parents, name = PurePosixPath(rel).parts
    opened: list[int] = []
    fd = root_fd
    try:
        for part in parents:
            fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            opened.append(fd)
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
        for part in parents:
            fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            opened.append(fd)
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
