"""`--out DIR`: the same objects as stdout, 0600 files, a kustomization kubectl accepts."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from generator.errors import GenSecretError
from generator.io.output import write_tree
from tests.conftest import FIXTURES, ROOT, Run, decode_data, require_tool, run_script

Cli = Callable[..., Run]
CLUSTERFILE = FIXTURES / "ha-auth-multidoc.yaml"


def visible_files(folder: Path) -> set[str]:
    """Every file below `folder`, relative, hidden bookkeeping files left out."""
    return {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if not p.is_dir() and not p.name.startswith(".")
    }


def all_files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir()}


def objects(text: str) -> list[object]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


@pytest.fixture
def umask_zero() -> Iterator[None]:
    """The most permissive umask: the 0600 mode must not come from the umask."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


# --- the CLI's --out --------------------------------------------------------------------------


def test_out_writes_objects_and_a_kustomization_listing_them(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "rendered"
    # A registry without TLS: no CA to look for, so nothing to note either.
    result = cli("render", str(FIXTURES / "insecure-custom.yaml"), "--out", str(out))
    assert result.code == 0
    assert result.out == "", "--out writes files, not stdout"
    assert visible_files(out) == {"secret.yaml", "kustomization.yaml"}
    assert not [name for name in all_files(out) if name.endswith(".tmp")], "temporary left over"
    (kustomization,) = objects((out / "kustomization.yaml").read_text(encoding="utf-8"))
    assert kustomization == {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["secret.yaml"],
    }
    assert result.err == "", "success is silent when stderr is not a terminal"


def test_out_files_are_0600_whatever_the_umask(cli: Cli, tmp_path: Path, umask_zero: None) -> None:
    out = tmp_path / "rendered"
    # An earlier render's file, made world-readable since, must not keep its mode.
    assert cli("render", str(CLUSTERFILE), "--out", str(out)).code == 0
    (out / "secret.yaml").chmod(0o644)
    assert cli("render", str(CLUSTERFILE), "--out", str(out)).code == 0
    for name in all_files(out):
        mode = stat.S_IMODE((out / name).stat().st_mode)
        assert mode == 0o600, f"{name} has mode {mode:o}"


def test_stdout_and_out_hold_the_same_objects(cli: Cli, tmp_path: Path) -> None:
    stdout = cli("render", str(CLUSTERFILE))
    out = tmp_path / "rendered"
    assert cli("render", str(CLUSTERFILE), "--out", str(out)).code == 0
    (kustomization,) = objects((out / "kustomization.yaml").read_text(encoding="utf-8"))
    files = [(out / name).read_text(encoding="utf-8") for name in kustomization["resources"]]
    assert objects("---\n".join(files)) == objects(stdout.out), "objects differ"
    assert "---\n".join(files) == stdout.out, "bytes differ"


def test_kubectl_kustomize_yields_exactly_the_secret(cli: Cli, tmp_path: Path) -> None:
    kubectl = require_tool("kubectl", "kubectl is on the machine image")
    out = tmp_path / "rendered"
    assert cli("render", str(CLUSTERFILE), "--out", str(out)).code == 0
    built = subprocess.run(
        [kubectl, "kustomize", str(out)], capture_output=True, timeout=60, check=False
    )
    # kubectl's stderr names files and fields, never Secret values.
    assert built.returncode == 0, built.stderr.decode(errors="replace")
    assert objects(built.stdout.decode()) == objects(cli("render", str(CLUSTERFILE)).out), (
        "kubectl kustomize builds other objects than stdout holds"
    )


def test_console_script_out(tmp_path: Path) -> None:
    out = tmp_path / "rendered"
    result = run_script("render", str(CLUSTERFILE), "--out", str(out), cwd=tmp_path)
    assert result.code == 0
    assert visible_files(out) == {"secret.yaml", "kustomization.yaml"}


def test_out_that_is_a_file_is_one_line_error(cli: Cli, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("mine\n")
    result = cli("render", str(FIXTURES / "insecure-custom.yaml"), "--out", str(blocker))
    assert result.code in (1, 2)
    assert len(result.err.splitlines()) == 1
    assert blocker.read_text() == "mine\n"


# --- write_tree: stale files, files it did not write, all or nothing ---------------------------

FIRST = {"a.yaml": "a: 1\n", "sub/b.yaml": "b: 1\n", "kustomization.yaml": "k: 1\n"}
SECOND = {"a.yaml": "a: 2\n", "kustomization.yaml": "k: 2\n"}


def test_rerender_with_fewer_files_removes_the_stale_one(tmp_path: Path) -> None:
    write_tree(tmp_path, FIRST)
    assert visible_files(tmp_path) == set(FIRST)
    write_tree(tmp_path, SECOND)
    assert visible_files(tmp_path) == set(SECOND)
    assert not (tmp_path / "sub").exists(), "the emptied folder stays behind"
    assert (tmp_path / "a.yaml").read_text() == "a: 2\n"


def test_rerender_never_removes_files_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    write_tree(tmp_path, FIRST)
    (tmp_path / "sub" / "keep.txt").write_text("mine too\n")
    (tmp_path / "extra.yaml").write_text("mine as well\n")
    write_tree(tmp_path, SECOND)
    assert visible_files(tmp_path) == {*SECOND, "notes.txt", "sub/keep.txt", "extra.yaml"}
    write_tree(tmp_path, {})
    assert visible_files(tmp_path) == {"notes.txt", "sub/keep.txt", "extra.yaml"}


def test_stale_removal_stays_inside_the_folder(tmp_path: Path) -> None:
    out, outside = tmp_path / "out", tmp_path / "outside"
    outside.mkdir()
    (outside / "b.yaml").write_text("outside\n")
    (outside / "target.txt").write_text("outside\n")
    write_tree(out, {**FIRST, "link.yaml": "l: 1\n"})
    # Someone swaps a written folder and a written file for links that lead out of the folder.
    shutil.rmtree(out / "sub")
    (out / "sub").symlink_to(outside, target_is_directory=True)
    (out / "link.yaml").unlink()
    (out / "link.yaml").symlink_to(outside / "target.txt")
    write_tree(out, SECOND)
    assert (outside / "b.yaml").read_text() == "outside\n"
    assert (outside / "target.txt").read_text() == "outside\n"
    assert not (out / "link.yaml").is_symlink(), "a link it wrote over is its own to remove"


def test_tampered_manifest_cannot_remove_files_outside(tmp_path: Path) -> None:
    out = tmp_path / "out"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    write_tree(out, FIRST)
    (manifest,) = [p for p in out.iterdir() if p.is_file() and p.name.startswith(".")]
    with manifest.open("a") as handle:
        handle.write(f"../victim.txt\n{victim}\n")
    write_tree(out, SECOND)
    assert victim.read_text() == "precious\n"


def test_failed_write_leaves_the_folder_as_it_was(tmp_path: Path) -> None:
    write_tree(tmp_path, FIRST)
    before = {name: (tmp_path / name).read_bytes() for name in all_files(tmp_path)}
    (tmp_path / "blocked").write_text("a file where a folder should go\n")
    before["blocked"] = (tmp_path / "blocked").read_bytes()
    with pytest.raises(GenSecretError):
        write_tree(tmp_path, {**SECOND, "blocked/c.yaml": "c: 1\n"})
    after = {name: (tmp_path / name).read_bytes() for name in all_files(tmp_path)}
    assert after == before, "a failed write changed the folder"


def test_write_tree_refuses_paths_that_escape(tmp_path: Path) -> None:
    for bad in ("../escape.yaml", "/etc/escape.yaml"):
        with pytest.raises(GenSecretError):
            write_tree(tmp_path / "out", {bad: "x: 1\n"})
    assert not (tmp_path / "escape.yaml").exists()


# --- out/ in the repository -------------------------------------------------------------------


def git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [require_tool("git", "apt-get install git"), "-C", str(ROOT), *args],
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def checkout() -> None:
    if git("rev-parse", "--is-inside-work-tree").returncode != 0:
        pytest.skip("not a git checkout (an unpacked sdist?)")


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        ("out/secret.yaml", True),
        ("out/kustomization.yaml", True),
        ("out/prod/secret.yaml", True),
        ("out/.gen-secret-files", True),
        ("out/.gitkeep", False),
        ("out/.gitignore", False),
    ],
)
def test_out_folder_ignores_everything_but_its_git_files(
    checkout: None, path: str, ignored: bool
) -> None:
    result = git("check-ignore", "--no-index", "-q", path)
    assert result.returncode == (0 if ignored else 1), f"{path}: {result.stderr!r}"


def test_rendering_into_repo_out_leaves_git_status_clean(checkout: None, cli: Cli) -> None:
    out = ROOT / "out" / f"pytest-{uuid.uuid4().hex[:8]}"
    try:
        assert cli("render", str(CLUSTERFILE), "--out", str(out)).code == 0
        status = git("status", "--porcelain", "--untracked-files=all", "--", "out")
        assert status.returncode == 0
        assert status.stdout == b"", "rendered files show up in git status"
    finally:
        shutil.rmtree(out, ignore_errors=True)
    tracked = git("ls-files", "--", "out").stdout.decode().split()
    assert set(tracked) <= {"out/.gitkeep", "out/.gitignore"}


def test_a_file_gen_secret_did_not_write_is_never_overwritten(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "rendered"
    out.mkdir()
    mine = out / "kustomization.yaml"
    mine.write_text("# the user's own\n")
    result = cli("render", str(CLUSTERFILE), "--out", str(out))
    assert result.code == 1
    assert f"({mine})" in result.err
    assert "not written by gen-secret" in result.err
    assert mine.read_text() == "# the user's own\n"
    assert sorted(p.name for p in out.iterdir()) == ["kustomization.yaml"], "nothing else written"


def test_a_fresh_clone_of_a_committed_folder_renders_again(tmp_path: Path) -> None:
    # Only the YAML files were committed, not the hidden manifest: the next render, in a fresh
    # clone, knows its own files by their labels and headers, and writes over them.
    git_bin = require_tool("git", "apt-get install git")

    def git_in(folder: Path, *args: str) -> None:
        subprocess.run(
            [git_bin, "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t", *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    repo = tmp_path / "repo"
    repo.mkdir()
    git_in(repo, "init", "-q")
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    source = CLUSTERFILE.read_text(encoding="utf-8")
    for name in ("east", "west"):
        text = source.replace("name: prod-east", f"name: {name}")
        (fleet / f"{name}.yaml").write_text(text, encoding="utf-8")
    options = ["--pull-namespace", "apps", "--patch", "apps/deployment/web"]
    first = run_script("render", str(fleet), "--out", str(repo / "clusters"), *options)
    assert first.code == 0, first.err
    (repo / ".gitignore").write_text(".gen-secret-files\n", encoding="utf-8")
    git_in(repo, "add", ".")
    git_in(repo, "commit", "-q", "-m", "rendered")
    clone = tmp_path / "clone"
    subprocess.run([git_bin, "clone", "-q", str(repo), str(clone)], check=True, timeout=60)
    out = clone / "clusters"
    committed = visible_files(out)
    assert {"east/secret.yaml", "east/pull-secrets.yaml", "east/kustomization.yaml"} <= committed
    assert "east/patches/apps/deployment-web.yaml" in committed
    assert not (out / ".gen-secret-files").exists()
    for name in ("east", "west"):  # a new password for every cluster
        path = fleet / f"{name}.yaml"
        path.write_text(path.read_text().replace("Sealer#2024:pw", "rotated"), encoding="utf-8")
    again = run_script("render", str(fleet), "--out", str(out), *options)
    assert again.code == 0, again.err
    assert visible_files(out) == committed
    (secret,) = objects((out / "east/secret.yaml").read_text())
    rotated = decode_data(secret)["password"] == b"rotated"  # never shown: a password
    assert rotated, "the clone's Secret still holds the old password"
    assert (out / ".gen-secret-files").exists(), "the manifest is written again"
