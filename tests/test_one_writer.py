"""One writer at a time: a second run into a folder being written fails cleanly, naming the
first; a lock left by a process that died never refuses."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import tests.builders as builders
import tests.test_safe_writes as safe_writes
from tests.conftest import FIXTURES, gen_secret_script, run_script

CLUSTERFILE = FIXTURES / "insecure-custom.yaml"
# Holds the folder's lock the way another gen-secret run would: flock(2) on the folder.
HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """An earlier render in a folder, and a live process holding that folder's lock."""
    out = tmp_path / "out"
    assert run_script("render", str(CLUSTERFILE), "--out", str(out)).code == 0
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "locked\n"
        yield out, proc
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_a_second_run_fails_naming_the_first_and_touches_nothing(
    holder: tuple[Path, subprocess.Popen[str]],
) -> None:
    out, proc = holder
    before = safe_writes.tree(out)
    result = run_script("render", str(CLUSTERFILE), "--name", "other", "--out", str(out))
    assert result.code == 1
    assert result.err == (
        f"gen-secret: error: another gen-secret run (pid {proc.pid}) is writing to this folder; "
        f"wait for it to finish, or choose another --out ({out})\n"
    )
    assert safe_writes.tree(out) == before, "the refused run changed the folder"


def test_a_lock_left_by_a_killed_run_never_refuses(
    holder: tuple[Path, subprocess.Popen[str]],
) -> None:
    out, proc = holder
    proc.kill()  # as kill -9 would end a run: the kernel drops its lock
    proc.wait(timeout=30)
    result = run_script("render", str(CLUSTERFILE), "--name", "other", "--out", str(out))
    assert result.code == 0, result.err


def test_two_fleet_renders_at_once_leave_one_whole_render(tmp_path: Path) -> None:
    # The same cluster names with other passwords: a folder with some clusters from each
    # input, or a manifest listing one run's files, is what this must never give. Large
    # enough for worker processes and parallel writers, as a real fleet's run has them.
    sources, references = [], []
    for side in ("a", "b"):
        source = tmp_path / f"fleet-{side}"
        for i in range(builders.BIG):
            builders.fleet_member(source, f"c{i:03d}.yaml", f"c{i:03d}", f"{side}-{i}")
        reference = tmp_path / f"whole-{side}"
        assert run_script("render", str(source), "--out", str(reference)).code == 0
        sources.append(source)
        references.append(safe_writes.tree(reference))
    for round_ in range(3):
        out = tmp_path / f"out-{round_}"
        runs = [
            subprocess.Popen(
                [gen_secret_script(), "render", str(source), "--out", str(out)],
                stderr=subprocess.PIPE,
            )
            for source in sources
        ]
        results = [(run.communicate(timeout=120)[1], run.returncode) for run in runs]
        for err, code in results:
            assert code == 0 or (code == 1 and b"another gen-secret run (pid " in err), err
        assert any(code == 0 for _, code in results)
        whole = safe_writes.tree(out) in references  # never shown: the files hold passwords
        assert whole, f"round {round_}: the folder is neither whole render"
