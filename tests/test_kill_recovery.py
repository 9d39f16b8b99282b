"""A fleet render killed outright (SIGKILL) or hung up on (SIGHUP) at many points of its write:
the next run into the folder leaves it whole, old or new, never mixed, with no stray file.

The signals come from strace, on entry to the n-th call of a system call the write makes
(creating a temporary file, syncing, linking a backup, renaming, unlinking), so each point is
reached exactly, in the real installed script, at the operating system's level.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import tests.builders as builders
import tests.test_safe_writes as safe_writes
from generator.io.journal import JOURNAL
from generator.io.output import recover
from tests.conftest import gen_secret_script, require_tool, run_script

CLUSTERS = 66  # over the thresholds for worker processes (64) and parallel writers (64)


@dataclass(frozen=True)
class Fleets:
    """An old render in a folder, the new fleet to render over it, and both whole trees."""

    old_out: Path
    new_fleet: Path
    # Never shown in a failure: the files hold passwords.
    old: dict[str, tuple[str, int, bytes | str]] = field(repr=False)
    new: dict[str, tuple[str, int, bytes | str]] = field(repr=False)


@pytest.fixture(scope="module")
def fleets(tmp_path_factory: pytest.TempPathFactory) -> Fleets:
    base = tmp_path_factory.mktemp("kill")
    old_fleet, new_fleet = base / "old-fleet", base / "new-fleet"
    for i in range(CLUSTERS):
        builders.fleet_member(old_fleet, f"c{i:03d}.yaml", f"c{i:03d}", f"old-{i}")
    # Every password changes, one cluster goes (its folder is stale) and one comes (a new folder).
    for i in range(1, CLUSTERS):
        builders.fleet_member(new_fleet, f"c{i:03d}.yaml", f"c{i:03d}", f"new-{i}")
    builders.fleet_member(new_fleet, "c999.yaml", "c999", "new-999")
    old_out, new_out = base / "old", base / "new"
    for source, out in ((old_fleet, old_out), (new_fleet, new_out)):
        result = run_script("render", str(source), "--out", str(out))
        assert result.code == 0, result.err
    return Fleets(old_out, new_fleet, safe_writes.tree(old_out), safe_writes.tree(new_out))


def interrupted(fleets: Fleets, out: Path, syscall: str, when: int, signal: str) -> int:
    """Render the new fleet over a copy of the old render, signalled on the `when`-th call of
    `syscall` by any one thread; the run's exit code."""
    strace = require_tool("strace", "apt-get install strace")
    shutil.copytree(fleets.old_out, out, symlinks=True)
    proc = subprocess.run(
        [
            strace, "-f", "-qq", "-o", "/dev/null", "-e", f"trace={syscall}",
            "-e", f"inject={syscall}:signal={signal}:when={when}",
            gen_secret_script(), "render", str(fleets.new_fleet), "--out", str(out),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert b"Traceback" not in proc.stderr
    return proc.returncode


def state(folder: Path, fleets: Fleets) -> str:
    """What a folder holds, said without its bytes (they hold passwords): "old", "new", or how
    it is mixed."""
    tree = safe_writes.tree(folder)
    if tree == fleets.old:
        return "old"
    if tree == fleets.new:
        return "new"
    strays = sorted(rel for rel in tree if rel not in fleets.old and rel not in fleets.new)
    old = sum(1 for rel, entry in tree.items() if fleets.old.get(rel) == entry)
    new = sum(1 for rel, entry in tree.items() if fleets.new.get(rel) == entry)
    return f"mixed: {old} entries as old, {new} as new, strays {strays[:5]}"


# (system call, which call, what the folder holds once the interrupted write is recovered).
# The write renames every changed file: CLUSTERS - 1 Secrets, the new cluster's two files and
# the manifest; then it unlinks a backup for each file it replaced, then the stale files.
KILL_POINTS = [
    ("fdatasync", 1, "old"),  # the journal's plan is written, not yet synced
    ("mkdirat", 1, "old"),  # the new cluster's folder
    ("fchmod", 8, "old"),  # half-way through the temporary files (eight writer threads)
    ("syncfs", 1, "old"),  # every temporary file is written
    ("fdatasync", 2, "new"),  # the commit line is written, not yet synced
    ("renameat", 1, "new"),  # the first backup is linked, the first rename not done
    ("renameat", CLUSTERS // 2, "new"),
    ("renameat", CLUSTERS + 2, "new"),  # the last rename
    ("unlinkat", CLUSTERS + 1, "new"),  # backups gone; the stale cluster's first file goes
    ("syncfs", 2, "new"),  # only the journal is left
]


@pytest.mark.parametrize(
    ("syscall", "when", "expected"), KILL_POINTS, ids=[f"{s}-{w}" for s, w, _ in KILL_POINTS]
)
def test_after_a_kill_the_next_run_leaves_the_folder_whole(
    fleets: Fleets, tmp_path: Path, syscall: str, when: int, expected: str
) -> None:
    out = tmp_path / "out"
    assert interrupted(fleets, out, syscall, when, "KILL") == -9, "the kill missed its point"
    assert (out / JOURNAL).exists(), "the killed write left no journal"
    # What the interrupted write becomes, seen before anything else is written over it.
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, symlinks=True)
    assert recover(copy)
    assert state(copy, fleets) == expected
    # The next render finishes or undoes it first, then writes: the whole new render.
    result = run_script("render", str(fleets.new_fleet), "--out", str(out))
    assert result.code == 0, result.err
    assert state(out, fleets) == "new"


HUP_POINTS = [("fchmod", 8, "old"), ("renameat", CLUSTERS // 2, "new")]


@pytest.mark.parametrize(
    ("syscall", "when", "expected"), HUP_POINTS, ids=[f"{s}-{w}" for s, w, _ in HUP_POINTS]
)
def test_a_hangup_waits_for_a_safe_point(
    fleets: Fleets, tmp_path: Path, syscall: str, when: int, expected: str
) -> None:
    # A closed terminal or a dropped SSH session: held like SIGTERM, taken before the first
    # rename or after the last, so the folder needs no recovery at all.
    out = tmp_path / "out"
    assert interrupted(fleets, out, syscall, when, "HUP") == 128 + 1
    assert state(out, fleets) == expected


# --- recovery of journals written by hand: the states a kill can leave --------------------


TOKEN = "0123456789ab"


def journal_text(files: list[tuple[str, bool]], *status: str, stale: tuple[str, ...] = ()) -> str:
    import json

    plan = {"token": TOKEN, "files": files, "dirs": [], "stale": list(stale)}
    header = "# gen-secret: a write in progress; the next render into this folder finishes "
    return header + "or undoes it.\n" + json.dumps(plan) + "\n" + "".join(f"{s}\n" for s in status)


def test_a_write_killed_while_undoing_a_failed_rename_is_undone(tmp_path: Path) -> None:
    # A rename failed, the journal says "abort", and the kill came half-way through putting
    # the old files back: a.yaml is new with its backup, b.yaml still old with its new bytes
    # waiting, c.yaml (new in this write) already in place.
    (tmp_path / "a.yaml").write_text("new a\n")
    (tmp_path / f".a.yaml.{TOKEN}.old").write_text("old a\n")
    (tmp_path / "b.yaml").write_text("old b\n")
    (tmp_path / f".b.yaml.{TOKEN}.tmp").write_text("new b\n")
    (tmp_path / "c.yaml").write_text("new c\n")
    files = [("a.yaml", True), ("b.yaml", True), ("c.yaml", False)]
    (tmp_path / JOURNAL).write_text(journal_text(files, "commit", "abort"))
    assert recover(tmp_path)
    left = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert left == {"a.yaml": "old a\n", "b.yaml": "old b\n"}


def test_a_committed_write_is_finished_and_its_stale_files_removed(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("new a\n")
    (tmp_path / f".a.yaml.{TOKEN}.old").write_text("old a\n")
    (tmp_path / "b.yaml").write_text("old b\n")
    (tmp_path / f".b.yaml.{TOKEN}.tmp").write_text("new b\n")
    (tmp_path / "gone.yaml").write_text("stale\n")
    files = [("a.yaml", True), ("b.yaml", True)]
    (tmp_path / JOURNAL).write_text(journal_text(files, "commit", stale=("gone.yaml",)))
    assert recover(tmp_path)
    left = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert left == {"a.yaml": "new a\n", "b.yaml": "new b\n"}


@pytest.mark.parametrize(
    "journal",
    [
        "# gen-secret: a write in progress; the next render",  # torn while it was written
        "not a journal at all\n{}\n",
        journal_text([("../outside.yaml", True)], "commit"),  # a path out of the folder
        journal_text([("/etc/outside.yaml", True)], "commit"),
    ],
    ids=["torn", "foreign", "dot-dot", "absolute"],
)
def test_a_journal_that_names_nothing_safe_is_removed_and_nothing_else(
    tmp_path: Path, journal: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / f".outside.yaml.{TOKEN}.tmp").write_text("not gen-secret's\n")
    (tmp_path / "outside.yaml").write_text("precious\n")
    (out / "mine.yaml").write_text("the user's\n")
    (out / JOURNAL).write_text(journal)
    assert recover(out)
    assert sorted(p.name for p in out.iterdir()) == ["mine.yaml"]
    assert (tmp_path / "outside.yaml").read_text() == "precious\n"
    assert (tmp_path / f".outside.yaml.{TOKEN}.tmp").exists()


def test_a_journal_link_is_never_followed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "target"
    target.write_text(journal_text([("a.yaml", True)], "commit"))
    (out / JOURNAL).symlink_to(target)
    (out / f".a.yaml.{TOKEN}.tmp").write_text("planted\n")
    assert recover(out)
    assert not (out / JOURNAL).is_symlink()
    assert not (out / "a.yaml").exists(), "acted on a journal reached through a link"
    assert target.exists()


def test_no_journal_no_recovery(tmp_path: Path) -> None:
    assert not recover(tmp_path)
    assert not recover(tmp_path / "missing")
