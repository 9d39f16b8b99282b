"""Writes are all or nothing, 0600 whatever the umask, and never follow a planted link.

Failures are injected at the OS layer (os.open, os.rename, os.fsync, a short write), never
into gen-secret's own code; everything else goes through the installed script.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from generator.errors import GenSecretError
from generator.io import libc
from generator.io.output import MANIFEST, write_tree
from tests.conftest import FIXTURES, run_script

GOOD = FIXTURES / "insecure-custom.yaml"
FIRST = {
    "secret.yaml": "first: secret\n",
    "apps.yaml": "first: apps\n",
    "kustomization.yaml": "k: 1\n",
}
SECOND = {  # every file differs, and one is new, so the manifest changes too
    "secret.yaml": "second: secret\n",
    "apps.yaml": "second: apps\n",
    "kustomization.yaml": "k: 2\n",
    "extra.yaml": "second: extra\n",
}


def tree(folder: Path) -> dict[str, tuple[str, int, bytes | str]]:
    """Every entry below `folder` with its kind, mode and bytes (links: their target)."""
    entries: dict[str, tuple[str, int, bytes | str]] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        info = path.lstat()
        if path.is_symlink():
            entries[rel] = ("link", 0, os.readlink(path))
        elif path.is_dir():
            entries[rel] = ("dir", stat.S_IMODE(info.st_mode), b"")
        else:
            entries[rel] = ("file", stat.S_IMODE(info.st_mode), path.read_bytes())
    return entries


def fail_on_call(
    monkeypatch: pytest.MonkeyPatch, name: str, n: int, error: BaseException, after: bool = False
) -> Callable[[], int]:
    """Make os.<name> raise `error` on its n-th call from now, instead of doing its work or,
    with `after`, once it is done (the call happened, its caller never hears of it); returns a
    call counter."""
    real = getattr(os, name)
    calls = 0

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == n and not after:
            raise error
        result = real(*args, **kwargs)
        if calls == n:
            raise error
        return result

    monkeypatch.setattr(os, name, wrapper)
    return lambda: calls


def fail_on_temporary(mp: pytest.MonkeyPatch, n: int) -> None:
    """os.open finds the disk full when it creates the n-th temporary file."""
    real = os.open
    created = 0

    def open_(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        nonlocal created
        if flags & os.O_CREAT and str(path).endswith(".tmp"):
            created += 1
            if created == n:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, flags, *args, **kwargs)

    mp.setattr(os, "open", open_)


def short_write_on_call(mp: pytest.MonkeyPatch, n: int) -> None:
    """os.write writes half its bytes on its n-th call, then finds the disk full."""
    real = os.write
    calls = 0

    def write(fd: int, data: Any) -> int:
        nonlocal calls
        calls += 1
        if calls == n:
            real(fd, bytes(data)[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data)

    mp.setattr(os, "write", write)


@pytest.fixture
def previous(tmp_path: Path) -> Path:
    """An output folder holding an earlier, complete render."""
    out = tmp_path / "out"
    write_tree(out, FIRST)
    return out


# --- a write that fails half-way -----------------------------------------------------------


def _failing_syncfs(mp: pytest.MonkeyPatch) -> None:
    """syncfs(2) fails (-1), so the writer falls back to syncing each file and folder."""
    real = libc.call
    mp.setattr(libc, "call", lambda name, *args: -1 if name == "syncfs" else real(name, *args))


def _no_syncfs(mp: pytest.MonkeyPatch) -> None:
    """syncfs(2) unavailable, so each file gets fsync(2), and the second one fails (the first
    fsync is the folder's, once the journal is in it)."""
    _failing_syncfs(mp)
    fail_on_call(mp, "fsync", 3, OSError(errno.EIO, os.strerror(errno.EIO)))


FAILURES: dict[str, Callable[[pytest.MonkeyPatch], object]] = {
    "cannot create the second temporary file": lambda mp: fail_on_temporary(mp, 2),
    "the disk fills half-way through the second file": lambda mp: short_write_on_call(mp, 2),
    "interrupted (Ctrl-C) writing the second file": lambda mp: fail_on_call(
        mp, "fchmod", 2, KeyboardInterrupt()
    ),
    "fsync of the second file fails": _no_syncfs,
    "renaming the second file into place fails": lambda mp: fail_on_call(
        mp, "rename", 2, OSError(errno.EIO, os.strerror(errno.EIO))
    ),
    "renaming the last file (the manifest) into place fails": lambda mp: fail_on_call(
        mp, "rename", len(SECOND) + 1, OSError(errno.EIO, os.strerror(errno.EIO))
    ),
    # Raised as a rename returns: the file is in place, its record not yet. write_tree holds a
    # real Ctrl-C until it is safe, but any exception may come from there.
    "interrupted (Ctrl-C) just after the second file is renamed into place": lambda mp: (
        fail_on_call(mp, "rename", 2, KeyboardInterrupt(), after=True)
    ),
}


@pytest.mark.parametrize("failure", list(FAILURES), ids=list(FAILURES))
def test_failed_write_leaves_the_previous_files_and_no_temporary(
    failure: str, previous: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = tree(previous)
    FAILURES[failure](monkeypatch)
    with pytest.raises((GenSecretError, KeyboardInterrupt)):
        write_tree(previous, SECOND)
    monkeypatch.undo()
    after = tree(previous)
    leftovers = sorted(set(after) - set(before))
    assert not leftovers, f"left behind: {leftovers}"
    assert after == before, "the earlier files changed"


FOLDER_FAILURES: dict[str, Callable[[pytest.MonkeyPatch], object]] = {
    "the disk fills half-way through the second file": lambda mp: short_write_on_call(mp, 2),
    "interrupted (Ctrl-C) just after a folder is made": lambda mp: fail_on_call(
        mp, "mkdir", 2, KeyboardInterrupt(), after=True
    ),
    "interrupted (Ctrl-C) just after the last rename": lambda mp: fail_on_call(
        mp, "rename", 3, KeyboardInterrupt(), after=True
    ),
}


@pytest.mark.parametrize("failure", list(FOLDER_FAILURES), ids=list(FOLDER_FAILURES))
def test_failed_write_removes_the_folders_it_made(
    failure: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("the user's own file\n", encoding="utf-8")
    before = tree(out)
    FOLDER_FAILURES[failure](monkeypatch)
    with pytest.raises((GenSecretError, KeyboardInterrupt)):
        write_tree(out, {"east/secret.yaml": "e: 1\n", "west/deep/secret.yaml": "w: 1\n"})
    monkeypatch.undo()
    assert tree(out) == before, "the failed write left folders or files behind"


def test_a_failed_write_into_a_new_folder_removes_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "new"
    short_write_on_call(monkeypatch, 2)
    with pytest.raises(GenSecretError):
        write_tree(out, SECOND)
    monkeypatch.undo()
    assert sorted(tmp_path.iterdir()) == []


def test_a_good_write_keeps_no_backup_or_temporary(previous: Path) -> None:
    write_tree(previous, SECOND)
    assert sorted(p.name for p in previous.iterdir()) == sorted([*SECOND, MANIFEST])
    assert {rel: (previous / rel).read_text() for rel in SECOND} == SECOND


def test_failed_folder_sync_after_publishing_is_an_error(
    previous: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No syncfs: each file, then each folder, gets fsync; the folder's fails. Every file is in
    # place and whole by then.
    _failing_syncfs(monkeypatch)
    journal_folder_files_and_manifest = 1 + len(SECOND) + 1
    fail_on_call(
        monkeypatch, "fsync", journal_folder_files_and_manifest + 1, OSError(errno.EIO, "I/O error")
    )
    with pytest.raises(GenSecretError, match="cannot sync"):
        write_tree(previous, SECOND)
    monkeypatch.undo()
    assert {rel: (previous / rel).read_text() for rel in SECOND} == SECOND
    assert not [p.name for p in previous.iterdir() if p.name.endswith((".tmp", ".old"))]


def test_a_folder_in_the_way_fails_before_anything_is_written(previous: Path) -> None:
    (previous / "apps.yaml").unlink()
    (previous / "apps.yaml").mkdir()
    before = tree(previous)
    with pytest.raises(GenSecretError, match=r"apps\.yaml"):
        write_tree(previous, SECOND)
    assert tree(previous) == before, "a failed write changed the folder"


@pytest.mark.parametrize("entry", ["./secret.yaml", "secret.yaml/", "a/../secret.yaml", ".", ""])
def test_a_tampered_manifest_never_removes_what_this_render_wrote(
    entry: str, previous: Path
) -> None:
    with (previous / MANIFEST).open("a", encoding="utf-8") as handle:
        handle.write(f"{entry}\n")
    write_tree(previous, SECOND)
    assert {rel: (previous / rel).read_text() for rel in SECOND} == SECOND


# --- modes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o000, 0o077, 0o022])
def test_files_are_0600_and_folders_0700_whatever_the_umask(umask: int, tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    for name in ("east", "west"):
        (fleet / name).mkdir(parents=True)
        text = GOOD.read_text(encoding="utf-8").replace("name: lab", f"name: {name}")
        (fleet / name / "Clusterfile").write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    # The umask is set in a shell that then becomes the installed script.
    prefix = ["sh", "-c", f'umask {umask:03o} && exec "$0" "$@"']
    result = run_script("render", str(fleet), "--out", str(out), prefix=prefix)
    assert result.code == 0, result.err
    entries = tree(out)
    assert {"east/secret.yaml", "west/kustomization.yaml"} <= set(entries)
    wrong = {
        rel: f"{mode:o}"
        for rel, (kind, mode, _) in entries.items()
        if mode != (0o700 if kind == "dir" else 0o600)
    }
    assert not wrong, f"modes other than 0600 (files) and 0700 (folders): {wrong}"
    assert stat.S_IMODE(out.stat().st_mode) == 0o700, "the --out folder itself"


# --- planted links -------------------------------------------------------------------------


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "file").write_text("not gen-secret's to write\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize("planted", ["secret.yaml", "kustomization.yaml"])
def test_a_link_planted_after_a_render_is_replaced_never_followed(
    planted: str, tmp_path: Path, elsewhere: Path
) -> None:
    out = tmp_path / "out"
    assert run_script("render", str(GOOD), "--out", str(out)).code == 0
    # Someone swaps a file gen-secret wrote for a link to a file it must never touch.
    (out / planted).unlink()
    (out / planted).symlink_to(elsewhere / "file")
    before = tree(elsewhere)
    result = run_script("render", str(GOOD), "--out", str(out))
    assert result.code == 0, result.err
    assert tree(elsewhere) == before, "wrote through the link"
    assert not (out / planted).is_symlink(), "the link is still there"
    assert stat.S_IMODE((out / planted).lstat().st_mode) == 0o600


@pytest.mark.parametrize("planted", ["secret.yaml", "kustomization.yaml"])
def test_a_link_planted_in_a_fresh_folder_is_refused(
    planted: str, tmp_path: Path, elsewhere: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / planted).symlink_to(elsewhere / "file")
    before_out, before_elsewhere = tree(out), tree(elsewhere)
    result = run_script("render", str(GOOD), "--out", str(out))
    assert result.code == 1
    assert "was not written by gen-secret" in result.err
    assert tree(elsewhere) == before_elsewhere, "wrote through the link"
    assert tree(out) == before_out, "wrote something anyway"


def test_a_planted_manifest_link_is_neither_read_nor_written_through(
    tmp_path: Path, elsewhere: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).symlink_to(elsewhere / "file")
    before = tree(elsewhere)
    result = run_script("render", str(GOOD), "--out", str(out))
    assert result.code == 0, result.err
    assert tree(elsewhere) == before, "wrote through the link"
    assert not (out / MANIFEST).is_symlink(), "the link is still there"


def test_a_hard_link_planted_after_a_render_is_replaced_never_written_through(
    tmp_path: Path, elsewhere: Path
) -> None:
    out = tmp_path / "out"
    assert run_script("render", str(GOOD), "--out", str(out)).code == 0
    (out / "secret.yaml").unlink()
    os.link(elsewhere / "file", out / "secret.yaml")
    before = tree(elsewhere)
    assert run_script("render", str(GOOD), "--out", str(out)).code == 0
    assert tree(elsewhere) == before, "wrote into the other name of the file"
    assert (out / "secret.yaml").stat().st_ino != (elsewhere / "file").stat().st_ino


def test_a_planted_folder_link_is_refused(tmp_path: Path, elsewhere: Path) -> None:
    fleet = tmp_path / "fleet"
    (fleet / "lab").mkdir(parents=True)
    shutil.copyfile(GOOD, fleet / "lab" / "Clusterfile")
    out = tmp_path / "out"
    out.mkdir()
    # Fleet mode writes into out/<cluster name>/: that folder is a link to elsewhere.
    (out / "lab").symlink_to(elsewhere, target_is_directory=True)
    before_out, before_elsewhere = tree(out), tree(elsewhere)
    result = run_script("render", str(fleet), "--out", str(out))
    assert result.code == 1
    assert "refusing to write through a symlink" in result.err
    assert tree(elsewhere) == before_elsewhere, "wrote through the folder link"
    assert tree(out) == before_out, "wrote something else"


def test_out_below_a_planted_folder_link_in_write_tree(tmp_path: Path, elsewhere: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").symlink_to(elsewhere, target_is_directory=True)
    before = tree(elsewhere)
    with pytest.raises(GenSecretError, match="refusing to write through a symlink"):
        write_tree(out, {"sub/file": "x: 1\n", "kustomization.yaml": "k: 1\n"})
    assert tree(elsewhere) == before
    assert sorted(p.name for p in out.iterdir()) == ["sub"], "wrote something else"


MANY_FIRST = {f"c{i:03d}/secret.yaml": f"first: {i}\n" for i in range(200)}
MANY_SECOND = {f"c{i:03d}/secret.yaml": f"second: {i}\n" for i in range(200)}
PARALLEL_FAILURES: dict[str, Callable[[pytest.MonkeyPatch], object]] = {
    "the disk fills half-way through the 100th file": lambda mp: short_write_on_call(mp, 100),
    "interrupted (Ctrl-C) while writers run": lambda mp: fail_on_call(
        mp, "fchmod", 100, KeyboardInterrupt()
    ),
}


@pytest.mark.parametrize("failure", list(PARALLEL_FAILURES), ids=list(PARALLEL_FAILURES))
def test_a_failure_among_parallel_writers_leaves_the_folder_as_it_was(
    failure: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Enough files that write_tree stages them with several writers at once.
    out = tmp_path / "out"
    write_tree(out, MANY_FIRST)
    before = tree(out)
    PARALLEL_FAILURES[failure](monkeypatch)
    with pytest.raises((GenSecretError, KeyboardInterrupt)):
        write_tree(out, MANY_SECOND)
    monkeypatch.undo()
    after = tree(out)
    assert not sorted(set(after) - set(before)), "temporary files left behind"
    assert after == before, "the earlier files changed"


def test_a_rerender_leaves_unchanged_files_untouched(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(out, FIRST)
    before = {rel: (out / rel).stat() for rel in FIRST}
    (out / "apps.yaml").write_text("edited by hand\n", encoding="utf-8")
    write_tree(out, FIRST)
    after = {rel: (out / rel).stat() for rel in FIRST}
    for rel in ("secret.yaml", "kustomization.yaml"):  # same bytes: same file, same mtime
        assert (after[rel].st_ino, after[rel].st_mtime_ns) == (
            before[rel].st_ino,
            before[rel].st_mtime_ns,
        ), rel
    assert after["apps.yaml"].st_ino != before["apps.yaml"].st_ino, "the edited file was kept"
    assert (out / "apps.yaml").read_text(encoding="utf-8") == FIRST["apps.yaml"]
