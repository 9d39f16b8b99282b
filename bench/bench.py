"""Benchmark gen-secret against kubectl and its own stack's floor; prints a Markdown table.

Every figure is the median wall time of several runs of a whole process, measured with
time.perf_counter around fork/exec/wait, and peak memory (max RSS) from wait4(2).
Run it with `make bench`; nothing here is asserted, it reports.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "tests" / "fixtures" / "ha-auth-multidoc.yaml"
TARGETS = {
    "render-vs-floor": 1.2,
    "render-vs-kubectl": 3.0,
    "fleet-1000-s": 1.5,
    "fanout-10000-s": 2.0,
    "peak-mib": 100.0,
}


@dataclass(frozen=True)
class Measure:
    """Median wall seconds and the largest peak RSS (MiB) over the runs of one command."""

    label: str
    median: float
    peak_mib: float
    runs: int


def run_once(argv: Sequence[str], cwd: Path | None = None) -> tuple[float, float]:
    """One run: wall seconds and peak RSS in MiB, stdout and stderr discarded."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    stderr = proc.stderr.read() if proc.stderr else b""
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench: {argv[0]} failed: {stderr.decode(errors='replace')[:300]}")
    return elapsed, usage.ru_maxrss / 1024  # ru_maxrss is KiB on Linux


def measure(label: str, argv: Sequence[str], runs: int) -> Measure:
    (result,) = measure_together({label: argv}, runs)
    return result


def measure_together(commands: dict[str, Sequence[str]], runs: int) -> list[Measure]:
    """Run the commands in turn, round after round, so that a noisy neighbour on a shared
    machine slows all of them alike and their ratios stay honest."""
    return measure_fresh({label: lambda _, a=argv: a for label, argv in commands.items()}, runs)


def measure_fresh(commands: dict[str, Callable[[int], Sequence[str]]], runs: int) -> list[Measure]:
    """Like measure_together, with the arguments of each run from its number: each writes
    into a folder of its own, so none finds an earlier run's files. The first round warms up."""
    samples: dict[str, list[tuple[float, float]]] = {label: [] for label in commands}
    for i in range(runs + 1):
        for label, argv_for in commands.items():
            sample = run_once(argv_for(i))
            if i:
                samples[label].append(sample)
    return [
        Measure(label, statistics.median(s[0] for s in got), max(s[1] for s in got), runs)
        for label, got in samples.items()
    ]


def fleet_memory(argv: Sequence[str], runs: int) -> Measure:
    """Peak memory of a run and all its worker processes together: the largest sum of their
    proportional set sizes (PSS, shared pages split between sharers), sampled every 5 ms.
    wait4's max RSS counts only the largest single process."""
    peaks, times = [], []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, start_new_session=True)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, sum(_pss_kib(pid) for pid in _group(proc.pid)))
            time.sleep(0.005)
        times.append(time.perf_counter() - started)
        peaks.append(peak / 1024)
    label = "  the same, all processes together (PSS sampled every 5 ms)"
    return Measure(label, statistics.median(times), max(peaks), runs)


def _group(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:  # field 5 of /proc/PID/stat: the process group
                pids.append(int(entry.name))
    return pids


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def kubectl_loop(kubectl: str, count: int, folder: Path) -> Measure:
    """`count` kubectl calls, one per cluster, as a shell loop would make them."""
    argv = [
        kubectl, "create", "secret", "docker-registry", "sealer-registry",
        "--namespace", "kube-system", "--docker-server", "sea.hub:5000",
        "--docker-username", "sealer", "--docker-password", "bench-password",
        "--dry-run=client", "-o", "yaml",
    ]  # fmt: skip
    started = time.perf_counter()
    peak = 0.0
    for _ in range(count):
        peak = max(peak, run_once(argv, folder)[1])
    return Measure(f"{count} kubectl calls", time.perf_counter() - started, peak, 1)


def make_fleet(folder: Path, count: int) -> None:
    text = EXAMPLE.read_text()
    for i in range(count):
        (folder / f"cluster-{i:04d}.yaml").write_text(
            text.replace("name: prod-east", f"name: cluster-{i:04d}")
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=31, help="runs per single-render figure")
    parser.add_argument("--fleet", type=int, default=1000, help="clusters in the fleet run")
    args = parser.parse_args()

    gen_secret = shutil.which("gen-secret", path=str(Path(sys.executable).parent))
    kubectl = shutil.which("kubectl")
    if gen_secret is None or kubectl is None:
        sys.exit("bench: needs gen-secret (pip install .) and kubectl on PATH")
    python = sys.executable
    heavy_runs = max(3, args.runs // 3)

    with tempfile.TemporaryDirectory(prefix="gen-secret-bench-") as tmp:
        work = Path(tmp)
        fleet = work / "fleet"
        fleet.mkdir()
        make_fleet(fleet, args.fleet)
        for count in (1_000, 10_000):
            (work / f"ns-{count}.txt").write_text(
                "".join(f"namespace/team-{i:05d}\n" for i in range(count))
            )

        floor, bare_floor, kubectl_one, one = measure_together(
            {
                "floor: python -c 'import typer, jinja2, yaml'": [
                    python, "-c", "import typer, jinja2, yaml"
                ],
                # gen-secret skips the interpreter's teardown (cli.run); so does this floor,
                # to show what gen-secret's own work costs on top of its stack.
                "floor without teardown: ... import typer, jinja2, yaml; os._exit(0)": [
                    python, "-c", "import os, typer, jinja2, yaml; os._exit(0)"
                ],
                "kubectl create secret docker-registry --dry-run=client": [
                    kubectl, "create", "secret", "docker-registry", "x",
                    "--docker-server=sea.hub:5000", "--docker-username=sealer",
                    "--docker-password=bench", "--dry-run=client", "-o", "yaml",
                ],
                "gen-secret render (one Clusterfile)": [gen_secret, "render", str(EXAMPLE)],
            },
            args.runs,
        )  # fmt: skip
        # The file system's own floor: the same 1,000 folders and 2,000 files copied by cp and
        # synced, as gen-secret syncs them. On this VM's disk it swings tenfold with I/O load.
        rendered = work / "fleet-rendered"
        run_once([gen_secret, "render", str(fleet), "--out", str(rendered)])
        fleet_fresh, fs_floor = measure_fresh(
            {
                f"gen-secret render {args.fleet} Clusterfiles --out (an empty folder)": lambda i: [
                    gen_secret, "render", str(fleet), "--out", str(work / f"fleet-new-{i}")
                ],
                "file system floor: cp -r of that output, then sync -f": lambda i: [
                    "sh", "-c", 'cp -r "$0" "$1" && sync -f "$1"', str(rendered),
                    str(work / f"fleet-copy-{i}"),
                ],
            },
            heavy_runs,
        )  # fmt: skip
        fleet_all = fleet_memory(
            [gen_secret, "render", str(fleet), "--out", str(work / "fleet-pss")], 3
        )
        fleet_run = measure(
            f"gen-secret render {args.fleet} Clusterfiles --out (again, nothing changed)",
            [gen_secret, "render", str(fleet), "--out", str(work / "fleet-new-0")],
            heavy_runs,
        )
        loop = kubectl_loop(kubectl, args.fleet, work)
        fanout = {
            count: measure(
                f"gen-secret render --pull-namespaces-from {count:,} namespaces --out",
                [
                    gen_secret,
                    "render",
                    str(EXAMPLE),
                    "--pull-namespaces-from",
                    str(work / f"ns-{count}.txt"),
                    "--out",
                    str(work / f"fan-{count}"),
                ],
                heavy_runs,
            )
            for count in (1_000, 10_000)
        }

    rows = [
        (one,
         f"{one.median / floor.median:.2f}x floor, {one.median / kubectl_one.median:.2f}x kubectl, "
         f"{one.median / bare_floor.median:.2f}x floor without teardown",
         f"<= {TARGETS['render-vs-floor']}x floor, <= {TARGETS['render-vs-kubectl']}x kubectl"),
        (floor, "1.00x floor", ""),
        (bare_floor, f"{bare_floor.median / floor.median:.2f}x floor", ""),
        (kubectl_one, f"{kubectl_one.median / floor.median:.2f}x floor", ""),
        (fleet_fresh, f"{loop.median / fleet_fresh.median:.0f}x faster than kubectl",
         f"<= {TARGETS['fleet-1000-s']} s, < {TARGETS['peak-mib']:.0f} MiB"),
        (fleet_all, "", f"< {TARGETS['peak-mib']:.0f} MiB"),
        (fs_floor, f"{fs_floor.median / fleet_fresh.median:.2f}x the fleet run", ""),
        (fleet_run, f"{loop.median / fleet_run.median:.0f}x faster than kubectl",
         f"<= {TARGETS['fleet-1000-s']} s, < {TARGETS['peak-mib']:.0f} MiB"),
        (loop, "", ""),
        (fanout[1_000], "", f"< {TARGETS['peak-mib']:.0f} MiB"),
        (fanout[10_000], f"{fanout[10_000].median / fanout[1_000].median:.1f}x the 1,000 run",
         f"<= {TARGETS['fanout-10000-s']} s, < {TARGETS['peak-mib']:.0f} MiB"),
    ]  # fmt: skip
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, {_cpu_model()}, "
          f"Python {platform.python_version()}, {_kubectl_version(kubectl)}")  # fmt: skip
    print()
    print("| command | median | peak RSS | runs | ratio | target |")
    print("|---|---:|---:|---:|---|---|")
    for measure_, ratio, target in rows:
        print(f"| {measure_.label} | {_seconds(measure_.median)} | {measure_.peak_mib:.0f} MiB "
              f"| {measure_.runs} | {ratio} | {target} |")  # fmt: skip


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _kubectl_version(kubectl: str) -> str:
    proc = subprocess.run(
        [kubectl, "version", "--client"], capture_output=True, text=True, check=False, timeout=30
    )
    return proc.stdout.splitlines()[0] if proc.stdout else "kubectl"


if __name__ == "__main__":
    main()
