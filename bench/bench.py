"""Benchmark gen-secret against its own stack's floor and kubectl; prints a Markdown table.

Every figure is the median wall time of several runs of a whole process, measured with
time.perf_counter around fork/exec/wait, and peak memory (max RSS) from wait4(2). Commands
that are compared run in turn, round after round, with one plain render among them: each
row's ratio is to the median of that render in the same rounds, so that a machine that is
slower for a while slows both alike. Run it with `make bench`; it reports whether each
target holds, and asserts nothing. docs/performance.md says what bounds each row.
"""

from __future__ import annotations

import argparse
import base64
import json
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
ONE = "gen-secret render (one Clusterfile)"


@dataclass(frozen=True)
class Target:
    """A row's target: at most `ratio` times one render, `mib` peak memory, or both."""

    ratio: float | None = None
    mib: float | None = None
    of: str = "one render"

    def holds(self, ratio: float | None, mib: float) -> bool:
        return (self.ratio is None or ratio is None or ratio <= self.ratio) and (
            self.mib is None or mib <= self.mib
        )

    def __str__(self) -> str:
        parts = [f"<= {self.ratio:g}x {self.of}"] if self.ratio is not None else []
        parts += [f"<= {self.mib:g} MiB"] if self.mib is not None else []
        return ", ".join(parts)


@dataclass(frozen=True)
class Measure:
    """Median wall seconds, the largest peak RSS (MiB) and median CPU seconds (user and
    system, its worker processes included) over the runs of one command."""

    label: str
    median: float
    peak_mib: float
    runs: int
    cpu: float = 0.0


def run_once(argv: Sequence[str], cwd: Path | None = None) -> tuple[float, float, float]:
    """One run: wall seconds, peak RSS in MiB and CPU seconds (wait4 counts the children it
    reaped, the fleet's workers), stdout and stderr discarded."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    stderr = proc.stderr.read() if proc.stderr else b""
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench: {argv[0]} failed: {stderr.decode(errors='replace')[:300]}")
    cpu = usage.ru_utime + usage.ru_stime
    return elapsed, usage.ru_maxrss / 1024, cpu  # ru_maxrss is KiB on Linux


def measure(label: str, argv: Sequence[str], runs: int) -> Measure:
    (result,) = measure_together({label: argv}, runs)
    return result


def measure_together(commands: dict[str, Sequence[str]], runs: int) -> list[Measure]:
    """Run the commands in turn, round after round, so that a noisy neighbour on a shared
    machine slows all of them alike and their ratios stay honest."""
    return measure_fresh({label: lambda _, a=argv: a for label, argv in commands.items()}, runs)


def measure_fresh(
    commands: dict[str, Callable[[int], Sequence[str]]],
    runs: int,
    cleanup: Callable[[int], None] | None = None,
) -> list[Measure]:
    """Like measure_together, with the arguments of each run from its number: each writes
    into a folder of its own, so none finds an earlier run's files. The first round warms up.
    `cleanup(i)`, outside the timing, removes what round i wrote (a 50,000-namespace render
    is 64 MB)."""
    samples: dict[str, list[tuple[float, float, float]]] = {label: [] for label in commands}
    for i in range(runs + 1):
        for label, argv_for in commands.items():
            sample = run_once(argv_for(i))
            if i:
                samples[label].append(sample)
        if cleanup is not None:
            cleanup(i)
    return [
        Measure(
            label,
            statistics.median(s[0] for s in got),
            max(s[1] for s in got),
            runs,
            statistics.median(s[2] for s in got),
        )
        for label, got in samples.items()
    ]


def fleet_memory(argv_for: Callable[[int], Sequence[str]], runs: int) -> Measure:
    """Peak memory of a run and all its worker processes together: the largest sum of their
    proportional set sizes (PSS, shared pages split between sharers), sampled every 5 ms.
    wait4's max RSS counts only the largest single process."""
    peaks, times = [], []
    for i in range(runs):
        started = time.perf_counter()
        proc = subprocess.Popen(argv_for(i), stdout=subprocess.DEVNULL, start_new_session=True)
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


def kustomize_generators(folder: Path, count: int) -> None:
    """One kustomization with `count` dockerconfigjson secretGenerators: what a fleet would
    take with kustomize alone, as one stream (no folder per cluster, no read-back)."""
    entries = []
    for i in range(count):
        auth = base64.b64encode(f"sealer:pw-{i}".encode()).decode()
        config = json.dumps(
            {
                "auths": {
                    "sea.hub:5000": {"username": "sealer", "password": f"pw-{i}", "auth": auth}
                }
            },
            separators=(",", ":"),
        )
        entries.append(
            f"- name: sealer-registry-{i:04d}\n  namespace: kube-system\n"
            f"  type: kubernetes.io/dockerconfigjson\n"
            f"  literals:\n  - '.dockerconfigjson={config}'\n"
        )
    folder.mkdir()
    (folder / "kustomization.yaml").write_text(
        "generatorOptions:\n  disableNameSuffixHash: true\nsecretGenerator:\n" + "".join(entries)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=31, help="runs per single-render figure")
    parser.add_argument("--fleet", type=int, default=1000, help="clusters in the fleet run")
    parser.add_argument(
        "--no-kubectl-loop", action="store_true", help="skip the 1,000 kubectl calls (a minute)"
    )
    args = parser.parse_args()

    gen_secret = shutil.which("gen-secret", path=str(Path(sys.executable).parent))
    kubectl = shutil.which("kubectl")
    if gen_secret is None or kubectl is None:
        sys.exit("bench: needs gen-secret (pip install .) and kubectl on PATH")
    python = sys.executable
    heavy_runs = max(3, args.runs // 3)
    one = [gen_secret, "render", str(EXAMPLE)]

    with tempfile.TemporaryDirectory(prefix="gen-secret-bench-") as tmp:
        work = Path(tmp)
        # Fleet runs keep a fingerprint key in the cache folder: this run's own.
        os.environ["XDG_CACHE_HOME"] = str(work / "cache")
        fleet = work / "fleet"
        fleet.mkdir()
        make_fleet(fleet, args.fleet)
        for count in (10_000, 50_000):
            (work / f"ns-{count}.txt").write_text(
                "".join(f"namespace/team-{i:05d}\n" for i in range(count))
            )
        kustomize_generators(work / "kustomize", args.fleet)

        floor, bare_floor, kubectl_one, single = measure_together(
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
                ONE: one,
            },
            args.runs,
        )  # fmt: skip
        # The file system's own floor: the fleet's 1,000 folders and 2,000 files copied by
        # cp and synced, as gen-secret syncs them. On this VM's disk it swings tenfold.
        rendered = work / "fleet-rendered"
        run_once([gen_secret, "render", str(fleet), "--out", str(rendered)])

        def fresh(name: str) -> Callable[[int], str]:
            return lambda i: str(work / f"{name}-{i}")

        def cleanup(i: int) -> None:
            for name in ("fan-10000", "fan-50000", "fleet-new", "fleet-copy"):
                if (name, i) != ("fleet-new", 0):  # kept for the "nothing changed" rows
                    shutil.rmtree(work / f"{name}-{i}", ignore_errors=True)
            os.sync()  # the removals reach the disk now, not in the next run's syncfs

        # The fleet rows before the fan-out rows: a cloud disk that has just taken 64 MB
        # (the 50,000-namespace render) is slow for a while, and would slow the fleet's.
        fleet_one, fleet_fresh, fs_floor, kustomize = measure_fresh(
            {
                ONE: lambda i: one,
                f"{args.fleet:,} Clusterfiles --out (an empty folder)": lambda i: [
                    gen_secret, "render", str(fleet), "--out", fresh("fleet-new")(i)
                ],
                "file system floor: cp -r of that output, then sync -f": lambda i: [
                    "sh", "-c", 'cp -r "$0" "$1" && sync -f "$1"', str(rendered),
                    fresh("fleet-copy")(i),
                ],
                f"kubectl kustomize, {args.fleet:,} secretGenerators (one stream)": lambda i: [
                    kubectl, "kustomize", str(work / "kustomize")
                ],
            },
            heavy_runs,
            cleanup,
        )  # fmt: skip
        again_one, fleet_again = measure_together(
            {
                ONE: one,
                f"{args.fleet:,} Clusterfiles --out (again, nothing changed)": [
                    gen_secret, "render", str(fleet), "--out", str(work / "fleet-new-0")
                ],
            },
            heavy_runs,
        )  # fmt: skip
        fleet_all = fleet_memory(  # into an empty folder each time: nothing is skipped
            lambda i: [gen_secret, "render", str(fleet), "--out", fresh("fleet-pss")(i)], 3
        )
        fan_one, fan10, fan50 = measure_fresh(
            {
                ONE: lambda i: one,
                **{
                    f"--pull-namespaces-from {count:,} namespaces --out": lambda i, c=count: [
                        gen_secret, "render", str(EXAMPLE), "--pull-namespaces-from",
                        str(work / f"ns-{c}.txt"), "--out", fresh(f"fan-{c}")(i),
                    ]
                    for count in (10_000, 50_000)
                },
            },
            heavy_runs,
            cleanup,
        )  # fmt: skip
        loop = None if args.no_kubectl_loop else kubectl_loop(kubectl, args.fleet, work)

    # Linear beyond start-up: the CPU the 50,000 run spends over one render is five times
    # what the 10,000 run spends. CPU, not wall time: writing 64 MB is the disk's pace.
    beyond_start = (fan50.cpu - fan_one.cpu) / max(fan10.cpu - fan_one.cpu, 1e-9)
    rows: list[tuple[Measure, float | None, str, Target | None]] = [
        (single, single.median / floor.median, "x floor", Target(1.1, of="floor")),
        (floor, 1.0, "x floor", None),
        (bare_floor, bare_floor.median / floor.median, "x floor", None),
        (kubectl_one, kubectl_one.median / single.median, "x one render", None),
        (fan10, fan10.median / fan_one.median, "x one render", Target(2.5, 40)),
        (fan50, fan50.median / fan_one.median, "x one render", Target(8, 60)),
        (Measure("  CPU beyond one render: 50,000 namespaces against 10,000",
                 fan50.median - fan_one.median, 0, fan50.runs, fan50.cpu - fan_one.cpu),
         beyond_start, "x (5x: linear)", Target(6, of="the 10,000 run's")),
        (fleet_fresh, fleet_fresh.median / fleet_one.median, "x one render", Target(4)),
        (fleet_all, None, "", Target(mib=60)),
        (fs_floor, fs_floor.median / fleet_one.median, "x one render", None),
        (fleet_again, fleet_again.median / again_one.median, "x one render", Target(2)),
        (kustomize, kustomize.median / fleet_one.median,
         f"x one render; the fleet takes {fleet_fresh.median / kustomize.median:.2f}x its time",
         None),
    ]  # fmt: skip
    if loop is not None:
        rows.append((loop, loop.median / fleet_fresh.median, "x the empty-folder fleet", None))
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, {_cpu_model()}, "
          f"Python {platform.python_version()}, {_kubectl_version(kubectl)}")  # fmt: skip
    print(f"One render in the same rounds: {_seconds(fleet_one.median)} (fleet rows), "
          f"{_seconds(again_one.median)} (nothing changed), "
          f"{_seconds(fan_one.median)} (namespace rows)")  # fmt: skip
    print()
    print("| command | median | CPU | peak RSS | runs | ratio | target | holds |")
    print("|---|---:|---:|---:|---:|---|---|---|")
    for measure_, ratio, unit, target in rows:
        shown = f"{ratio:.2f}{unit}" if ratio is not None else ""
        verdict = (
            "" if target is None else ("yes" if target.holds(ratio, measure_.peak_mib) else "NO")
        )
        peak = f"{measure_.peak_mib:.0f} MiB" if measure_.peak_mib else ""
        cpu = _seconds(measure_.cpu) if measure_.cpu else ""
        cells = [measure_.label, _seconds(measure_.median), cpu, peak, str(measure_.runs),
                 shown, str(target or ""), verdict]  # fmt: skip
        print("| " + " | ".join(cells) + " |")


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
