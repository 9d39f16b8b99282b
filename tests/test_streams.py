"""Closed, full and vanished standard streams, through the installed console script: warnings
never reach stdout, and every failure is one line where one can be written, and exit code 1."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, HERE, Run, gen_secret_script, run_script

QUIET = FIXTURES / "insecure-custom.yaml"  # renders without a warning or a note
WARNS = HERE / "sealer_reads" / "duplicate-key.yaml"  # warns: a key given twice
EBADF = "Bad file descriptor"
ENOSPC = "No space left on device"


def shell(redirections: str, *args: str, stdin: bytes = b"") -> Run:
    """The console script with its streams redirected by a shell: `2>&-`, `>/dev/full`..."""
    proc = subprocess.run(
        ["sh", "-c", f'exec "$0" "$@" {redirections}', gen_secret_script(), *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )
    return Run(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def error(message: str) -> str:
    return f"gen-secret: error: {message}\n"


def test_a_closed_stderr_never_sends_a_warning_to_stdout(tmp_path: Path) -> None:
    expected = run_script("render", str(WARNS))
    assert expected.code == 0
    assert "warning" in expected.err
    out = tmp_path / "out.yaml"
    result = shell(f"2>&- >{out}", "render", str(WARNS))
    assert out.read_text() == expected.out, "stdout holds more than the YAML"
    assert result.code == 1, "the warning was lost, and the exit code must say so"


def test_a_closed_stderr_with_nothing_to_say_is_no_failure(tmp_path: Path) -> None:
    out = tmp_path / "out.yaml"
    result = shell(f"2>&- >{out}", "render", str(QUIET))
    assert result.code == 0
    assert out.read_text() == run_script("render", str(QUIET)).out


def test_a_full_stderr_never_sends_a_warning_to_stdout() -> None:
    result = shell("2>/dev/full", "render", str(WARNS))
    assert result.out == run_script("render", str(WARNS)).out
    assert result.code == 1


@pytest.mark.parametrize(
    "args",
    [
        ["render", str(QUIET)],
        ["render", str(QUIET), "--pull-namespace", "apps"],
        ["inspect", str(QUIET)],
        ["inspect", str(QUIET), "--output", "json"],
        ["match", str(QUIET), "--image", "sea.hub:5000/app:1"],
        ["--version"],
        ["--help"],
        ["render", "--help"],
    ],
    ids=lambda args: " ".join(a for a in args if "/" not in a),
)
@pytest.mark.parametrize(
    ("redirection", "reason"), [(">&-", EBADF), (">/dev/full", ENOSPC)], ids=["closed", "full"]
)
def test_stdout_closed_or_full_is_one_line_and_exit_1(
    args: list[str], redirection: str, reason: str
) -> None:
    result = shell(redirection, *args)
    assert result.err == error(f"cannot write to stdout: {reason}")
    # match's 1 is an answer ("not served"), so its trouble is 2, as grep's
    assert result.code == (2 if args[0] == "match" else 1)


def test_a_closed_stdout_is_no_failure_when_the_output_goes_to_out(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = shell(">&-", "render", str(QUIET), "--out", str(out))
    assert (result.code, result.err) == (0, "")
    assert (out / "secret.yaml").read_text() == run_script("render", str(QUIET)).out


def test_stdout_and_stderr_both_closed_is_exit_1_and_nothing_anywhere(tmp_path: Path) -> None:
    before = sorted(tmp_path.iterdir())
    proc = subprocess.run(
        ["sh", "-c", 'exec "$0" "$@" >&- 2>&-', gen_secret_script(), "render", str(QUIET)],
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.parametrize(
    "args",
    [
        ["render", "-"],
        ["render", str(QUIET), "--password-stdin"],
        ["render", str(QUIET), "--pull-namespaces-from", "-"],
        ["inspect", "-"],
    ],
    ids=lambda args: " ".join(a for a in args if "/" not in a),
)
def test_a_closed_stdin_is_one_line_and_exit_1(args: list[str]) -> None:
    result = shell("<&-", *args)
    assert result.err == error(f"cannot read stdin: {EBADF}")
    assert (result.code, result.out) == (1, "")


def test_a_reader_that_leaves_early_gets_no_traceback() -> None:
    # `gen-secret render ... | head -1` on a large output: the pipe closes under the writer.
    args = ["render", str(QUIET), *[f"--pull-namespace=ns{i}" for i in range(2000)]]
    proc = subprocess.run(
        ["sh", "-c", '"$0" "$@" | head -c 10 >/dev/null; echo "$?"', gen_secret_script(), *args],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.stderr == b""
