"""Fleet mode: many Clusterfiles in one run, one output folder per cluster, all or nothing."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.builders import BIG, MEMBER_SOURCE, big_fleet, fleet_member
from tests.conftest import FIXTURES, Cli, decode_data, gen_secret_script, openssl_ca


def password_in(folder: Path) -> str:
    (secret,) = yaml.safe_load_all((folder / "secret.yaml").read_text())
    config = json.loads(decode_data(secret)[".dockerconfigjson"])
    auth = base64.b64decode(config["auths"]["sea.hub:5000"]["auth"]).decode()
    return auth.split(":", 1)[1]


def test_several_files_write_one_folder_per_cluster(cli: Cli, tmp_path: Path) -> None:
    a = fleet_member(tmp_path / "in", "a.yaml", "alpha", "pw-a")
    b = fleet_member(tmp_path / "in", "b/Clusterfile", "beta", "pw-b")
    out = tmp_path / "out"
    result = cli("render", str(a), str(b), "--out", str(out), "--pull-namespace", "apps")
    assert result.code == 0, result.err
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["alpha", "beta"]
    assert password_in(out / "alpha") == "pw-a", "alpha has another cluster's password"
    assert password_in(out / "beta") == "pw-b", "beta has another cluster's password"
    for cluster in ("alpha", "beta"):
        kustomization = yaml.safe_load((out / cluster / "kustomization.yaml").read_text())
        assert kustomization["resources"] == ["secret.yaml", "pull-secrets.yaml"]


def test_a_folder_is_scanned_for_clusters_only(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "repo"
    fleet_member(source, "prod/Clusterfile", "prod")
    fleet_member(source, "staging/cluster.yml", "staging")
    (source / "prod" / "app.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"
    )
    (source / "prod" / "notes.txt").write_text("kind: Cluster\n")  # not a YAML name: skipped
    fleet_member(source, ".git/objects/copy.yaml", "prod")  # hidden: skipped, else a duplicate
    configmap = (FIXTURES / "configmap-sealer-clusterfile.yaml").read_text()
    (source / "live.yaml").write_text(configmap.replace("name: prod-east", "name: live"))
    out = tmp_path / "out"
    result = cli("render", str(source), "--out", str(out))
    assert result.code == 0, result.err
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["live", "prod", "staging"]


def test_duplicate_names_are_an_error_naming_both_files(cli: Cli, tmp_path: Path) -> None:
    a = fleet_member(tmp_path, "a.yaml", "same")
    b = fleet_member(tmp_path, "b.yaml", "same")
    out = tmp_path / "out"
    result = cli("render", str(a), str(b), "--out", str(out))
    assert result.code == 1
    assert str(a) in result.err
    assert str(b) in result.err
    assert not out.exists()


def test_one_bad_file_fails_the_run_and_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    good = [fleet_member(tmp_path, f"c{i}.yaml", f"c{i}") for i in range(3)]
    bad = tmp_path / "c9.yaml"
    bad.write_text(MEMBER_SOURCE.replace("port: 5000", "port: fivethousand"))
    out = tmp_path / "out"
    result = cli("render", *map(str, good), str(bad), "--out", str(out))
    assert result.code == 1
    assert f"{bad}:" in result.err
    assert "spec.registry.localRegistry.port" in result.err
    assert len(result.err.splitlines()) == 1
    assert not out.exists()


def test_earlier_output_stays_when_a_later_run_fails(cli: Cli, tmp_path: Path) -> None:
    files = [fleet_member(tmp_path, f"c{i}.yaml", f"c{i}") for i in range(2)]
    out = tmp_path / "out"
    assert cli("render", *map(str, files), "--out", str(out)).code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    files[1].write_text("kind: Cluster\nspec: [\n")
    assert cli("render", *map(str, files), "--out", str(out)).code == 1
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_a_cluster_dropped_from_the_fleet_loses_its_folder(cli: Cli, tmp_path: Path) -> None:
    files = [fleet_member(tmp_path, f"c{i}.yaml", f"c{i}") for i in range(3)]
    out = tmp_path / "out"
    assert cli("render", *map(str, files), "--out", str(out)).code == 0
    assert cli("render", *map(str, files[:2]), "--out", str(out)).code == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["c0", "c1"]


@pytest.mark.parametrize("folder", [False, True])
def test_a_fleet_without_out_is_a_usage_error(cli: Cli, tmp_path: Path, folder: bool) -> None:
    files = [fleet_member(tmp_path, f"c{i}.yaml", f"c{i}") for i in range(2)]
    args = [str(tmp_path)] if folder else [str(f) for f in files]
    result = cli("render", *args)
    assert result.code == 2
    assert result.out == ""
    assert "--out" in result.err


def test_no_progress_or_summary_when_stderr_is_not_a_terminal(cli: Cli, tmp_path: Path) -> None:
    files = [fleet_member(tmp_path, f"c{i:02d}.yaml", f"c{i:02d}") for i in range(25)]
    result = cli("render", *map(str, files), "--out", str(tmp_path / "out"))
    assert result.code == 0
    assert result.err == ""


def test_other_tools_clusters_in_a_folder_are_not_sealer_clusters(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "repo"
    fleet_member(source, "prod/Clusterfile", "prod")
    (source / "kind.yaml").write_text("apiVersion: kind.x-k8s.io/v1alpha4\nkind: Cluster\n")
    (source / "capi.yaml").write_text(
        "apiVersion: cluster.x-k8s.io/v1beta1\nkind: Cluster\nmetadata: {name: capi}\n"
    )
    out = tmp_path / "out"
    result = cli("render", str(source), "--out", str(out))
    assert result.code == 0, result.err
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["prod"]


def test_a_fleet_never_takes_this_machines_node_ca(tmp_path: Path) -> None:
    from generator.app.pipeline import Request, run
    from generator.fleet.pool import run_fleet

    # A CA where this machine's containerd keeps it: it belongs to this machine's cluster only.
    node_ca = tmp_path / "root/etc/containerd/certs.d/sea.hub:5000/ca.crt"
    openssl_ca(tmp_path / "key.pem", node_ca, "node")
    files = [fleet_member(tmp_path, f"c{i}.yaml", f"c{i}") for i in range(2)]
    request = Request(ca_root=tmp_path / "root")
    results = run_fleet([(str(f), f.read_bytes()) for f in files], request)
    assert all("ca.crt" not in data_keys(r.stream) for r in results.values())
    # One cluster rendered on its own node does take it, and says so.
    single = run(files[0].read_bytes(), str(files[0]), request)
    assert "ca.crt" in data_keys(single.stream)
    assert single.notes == (f"using CA certificate {node_ca}",)


def data_keys(stream: str) -> set[str]:
    (secret,) = yaml.safe_load_all(stream)
    return set(secret["data"])


# Large fleets render in a process per core; these run above that threshold.
def test_a_large_fleet_renders_as_each_cluster_would_alone(tmp_path: Path) -> None:
    from generator.app import pipeline
    from generator.fleet import pool

    files = big_fleet(tmp_path)
    assert len(files) >= pool._PARALLEL_FROM
    request = pipeline.Request(ca_root=tmp_path / "no-ca")
    results = pool.run_fleet([(str(f), f.read_bytes()) for f in files], request)
    assert list(results) == [f.stem for f in files]  # in input order
    for path in files:
        alone = pipeline.run(path.read_bytes(), str(path), request)
        assert results[path.stem].files == alone.files, path.name
        assert results[path.stem].source == str(path)


def test_a_large_fleet_renders_in_worker_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    from generator.app import pipeline
    from generator.fleet import pool

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core here: a large fleet renders in this process")
    render_one = pool.render_one_cluster

    def tagged(*args: Any) -> pipeline.Result:
        return replace(render_one(*args), notes=(str(os.getpid()),))

    monkeypatch.setattr(pool, "render_one_cluster", tagged)
    files = big_fleet(tmp_path)
    results = pool.run_fleet([(str(f), f.read_bytes()) for f in files], pipeline.Request())
    pids = {r.notes for r in results.values()}
    assert (str(os.getpid()),) in pids  # the first cluster, before any fork
    assert len(pids) >= 2


def test_the_first_bad_file_of_a_large_fleet_is_the_one_named(cli: Cli, tmp_path: Path) -> None:
    files = big_fleet(tmp_path)
    for late in (files[40], files[66]):  # in different batches, likely different processes
        late.write_text(MEMBER_SOURCE.replace("port: 5000", "port: fivethousand"))
    out = tmp_path / "out"
    result = cli("render", *map(str, files), "--out", str(out))
    assert result.code == 1
    assert f"{files[40]}:" in result.err
    assert str(files[66]) not in result.err
    assert len(result.err.splitlines()) == 1
    assert not out.exists()


def test_duplicates_far_apart_in_a_large_fleet_name_both_files(cli: Cli, tmp_path: Path) -> None:
    files = big_fleet(tmp_path)
    files[68].write_text(files[2].read_text())
    result = cli("render", *map(str, files), "--out", str(tmp_path / "out"))
    assert result.code == 1
    assert f"'c002' is used by both {files[2]} and {files[68]}" in result.err


@dataclass(frozen=True)
class WholeRender:
    """A 150-cluster fleet, its uninterrupted render, and how long that took."""

    fleet: Path
    out: Path
    seconds: float


@pytest.fixture(scope="module")
def whole_render(tmp_path_factory: pytest.TempPathFactory) -> WholeRender:
    folder = tmp_path_factory.mktemp("signals")
    big_fleet(folder / "fleet", 150)
    # The shorter of two runs: a first run that was slow (a cold cache, a busy moment) would
    # put the later moments after the end of every run the tests signal.
    seconds = []
    for out in ("whole", "again"):
        started = time.monotonic()
        subprocess.run(
            [gen_secret_script(), "render", str(folder / "fleet"), "--out", str(folder / out)],
            check=True,
            timeout=120,
        )
        seconds.append(time.monotonic() - started)
    return WholeRender(folder / "fleet", folder / "whole", min(seconds))


def signal_runs(
    tmp_path: Path,
    whole: WholeRender,
    send: Callable[[subprocess.Popen[bytes]], None],
    shift: int,
    held: tuple[int, ...] = (130, 143),
    unheld: int = -signal.SIGTERM,
) -> None:
    """Signal a 150-cluster fleet render at five moments of an uninterrupted run (10%, 30%, ..
    90%, each moved later by `shift` thirtieths, so that the three signals together probe
    fifteen moments), and check what every interrupted run must leave: nothing, or the whole
    render; never a temporary file, a traceback, or a process still running. `held` are the
    exit codes of a run that held the signal, `unheld` that of one it killed while starting."""
    command = [gen_secret_script(), "render", str(whole.fleet), "--out"]
    interrupted = 0
    for step in range(5):
        fraction = (2 * step + 1) / 10 + shift / 30
        out = tmp_path / f"out-{step}"
        proc = subprocess.Popen(
            [*command, str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a group of its own, as a terminal's Ctrl-C reaches it
        )
        time.sleep(whole.seconds * fraction)
        send(proc)
        _, err = proc.communicate(timeout=60)
        moment = f"signalled at {fraction:.0%} of a run"
        assert group_ends(proc.pid), f"a worker is left behind ({moment})"
        left = sorted(str(p.relative_to(out)) for p in out.rglob("*")) if out.exists() else []
        if b"Traceback" in err and proc.returncode == -signal.SIGINT:
            # Ctrl-C while the interpreter itself starts, before the console script's first
            # line can take it: Python reports it, and no code of gen-secret's has run (a
            # traceback through any of it, from script.run on, fails here).
            assert b"/generator/" not in err, moment
            assert left == [], moment
            interrupted += 1
            continue
        assert b"Traceback" not in err, moment
        if proc.returncode == 0:  # done before the signal: a whole, clean run
            assert err == b""
        else:
            interrupted += 1
            # Unheld: the signal came before gen-secret held it (while starting), so nothing
            # was written.
            assert proc.returncode in (*held, unheld), (moment, err.decode(errors="replace"))
            assert proc.returncode != unheld or left == [], moment
            assert err in (b"", b"gen-secret: error: interrupted\n"), moment
            if err == b"":  # stopped before the CLI ran (while importing), or by SIGTERM/HUP
                assert left == [] or tree(out) == tree(whole.out), moment
        # All or nothing: the folder as it was (absent), or, when the signal came after the
        # files were in place, the whole render.
        if left:
            assert tree(out) == tree(whole.out), moment
    # The first moments come well before a run's end: if they did not stop it, none of this
    # tested an interrupted run.
    assert interrupted >= 2, f"only {interrupted} of 5 runs were interrupted"


def group_ends(group: int, within: float = 1.0) -> bool:
    """Whether every process of `group` is gone within the time (a worker killed with its
    parent takes a moment to go)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.01)
    return False


@pytest.mark.slow
def test_ctrl_c_during_a_large_fleet_leaves_no_file_and_no_process(
    tmp_path: Path, whole_render: WholeRender
) -> None:
    def ctrl_c_twice(proc: subprocess.Popen[bytes]) -> None:
        # A terminal sends SIGINT to the whole group; impatient users press it twice.
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.003)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)

    signal_runs(tmp_path, whole_render, ctrl_c_twice, shift=0)


@pytest.mark.slow
def test_sigterm_to_a_large_fleet_leaves_no_file_and_no_process(
    tmp_path: Path, whole_render: WholeRender
) -> None:
    # What a CI runner or kubelet sends to cancel: to the main process only.
    signal_runs(tmp_path, whole_render, lambda proc: proc.send_signal(signal.SIGTERM), shift=1)


@pytest.mark.slow
def test_a_closed_terminal_during_a_large_fleet_leaves_no_file_and_no_process(
    tmp_path: Path, whole_render: WholeRender
) -> None:
    # A terminal that closes, or an SSH session that drops, sends SIGHUP to the whole
    # foreground group: the workers too, which leave stopping to the main process.
    def hang_up(proc: subprocess.Popen[bytes]) -> None:
        os.killpg(proc.pid, signal.SIGHUP)

    signal_runs(tmp_path, whole_render, hang_up, shift=2, held=(129,), unheld=-signal.SIGHUP)


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_terminal_sees_a_progress_bar_and_a_one_line_summary(tmp_path: Path) -> None:
    import pty

    big_fleet(tmp_path / "fleet")
    out = tmp_path / "out"
    parent, child = pty.openpty()
    with os.fdopen(parent, "rb", buffering=0) as terminal:
        proc = subprocess.Popen(
            [gen_secret_script(), "render", str(tmp_path / "fleet"), "--out", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=child,
            env={**os.environ, "TERM": "xterm", "COLUMNS": "100"},
        )
        os.close(child)
        shown = b""
        while True:
            try:
                chunk = terminal.read(65536)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            shown += chunk
    assert proc.wait(timeout=60) == 0
    text = shown.decode(errors="replace")
    assert "rendering" in text  # the bar, drawn and then cleared (transient)
    after_bar = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text.rsplit("\x1b[?25h", 1)[-1])
    # No cluster's CA is on this machine: a terminal hears it once, then the summary.
    assert re.fullmatch(
        rf"gen-secret: note: no CA certificate found for {BIG} of {BIG} clusters, "
        rf"[^\n]*no ca\.crt\r?\n"
        rf"gen-secret: wrote {BIG} clusters, {2 * BIG} files to {re.escape(str(out))} in \d+\.\ds",
        after_bar.strip(),
    )


@pytest.mark.parametrize(
    ("cpu_max", "cpus"),
    [("max 100000\n", 1 << 16), ("100000 100000\n", 1), ("150000 100000\n", 2), ("", 1 << 16)],
)
def test_a_cgroup_cpu_quota_caps_the_workers(tmp_path: Path, cpu_max: str, cpus: int) -> None:
    from generator.fleet.pool import _cpu_quota

    (tmp_path / "cpu.max").write_text(cpu_max)
    assert _cpu_quota(tmp_path / "cpu.max") == cpus
    assert _cpu_quota(tmp_path / "missing") == 1 << 16
