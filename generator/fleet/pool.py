"""Many clusters in one run: all or nothing, in input order, in a process per core when large."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from generator.app.pipeline import (
    Request,
    Result,
    Skipped,
    options_for,
    render_one_cluster,
    seal_cert_of,
)
from generator.errors import GenSecretError
from generator.io import libc
from generator.io.interrupts import held
from generator.model.names import is_file_name
from generator.plan.context import RenderOptions
from generator.plan.limits import OutputBudget

if TYPE_CHECKING:
    from generator.app.pipeline import Certs


def run_fleet(
    inputs: Sequence[tuple[str, bytes]],
    request: Request,
    on_each: Callable[[int], None] | None = None,
    unchanged: Callable[[str, bytes], Skipped | None] | None = None,
) -> dict[str, Result | Skipped]:
    """Render every Clusterfile with the same options, keyed by cluster name.

    All or nothing: the first bad file stops the run, and two clusters with one name are an
    error that names both files, since their output folders would collide. `on_each` hears
    how many more clusters are done. `unchanged` names the clusters that need no render.
    """
    options = options_for(request)
    cert = seal_cert_of(request)
    request = replace(request, ca_node_paths=False, cluster_folders=True)
    skipped: dict[int, Skipped] = {}
    for index, (source, data) in enumerate(inputs):
        found = unchanged(source, data) if unchanged is not None else None
        if found is not None:
            # A certificate that has expired since is worth saying; one that had, was said.
            warned = getattr(cert, "warnings", ())  # a folder of certificates has none of its own
            late = tuple(w for w in warned if w not in found.warnings)
            skipped[index] = replace(found, warnings=found.warnings + late) if late else found
    if skipped and on_each is not None:
        on_each(len(skipped))
    to_render = [item for index, item in enumerate(inputs) if index not in skipped]
    results: dict[str, Result | Skipped] = {}
    sources: dict[str, str] = {}
    budget = OutputBudget()  # the whole fleet's output is held until it is written
    with contextlib.closing(_rendered(to_render, request, options, cert, on_each)) as rendered:
        for index in range(len(inputs)):  # in input order, skipped or not
            result = skipped[index] if index in skipped else next(rendered)
            if isinstance(result, Result):
                budget.add(result.files, result.source)
            if result.cluster in sources:
                raise GenSecretError(
                    f"cluster name {result.cluster!r} is used by both "
                    f"{sources[result.cluster]} and {result.source}"
                )
            if not is_file_name(result.cluster):
                raise GenSecretError(
                    f"cluster name {result.cluster!r} cannot name an output folder", result.source
                )
            sources[result.cluster] = result.source
            results[result.cluster] = result
    return results


def _rendered(
    inputs: Sequence[tuple[str, bytes]],
    request: Request,
    options: RenderOptions,
    cert: Certs | None,
    on_each: Callable[[int], None] | None,
) -> Generator[Result, None, None]:
    for batch in _render_batches(inputs, request, options, cert):
        if on_each is not None:
            on_each(len(batch))
        yield from batch


# Fleets this large render in a process per core: parsing and rendering are pure Python,
# and one core did 1,000 clusters in 0.6 s of the 1.4 s a fleet run took.
_PARALLEL_FROM = 64
_BATCH = 25  # clusters per task: small enough to spread, large enough to amortise the pipe
# What the worker processes render: set before they fork, so no input crosses a pipe.
_fleet_job: tuple[Sequence[tuple[str, bytes]], Request, RenderOptions, Certs | None]


def _render_batches(
    inputs: Sequence[tuple[str, bytes]],
    request: Request,
    options: RenderOptions,
    cert: Certs | None,
) -> Iterator[list[Result]]:
    """Results in input order, a batch at a time, so the first bad file is always the one named."""
    workers = _workers(len(inputs))
    if workers < 2:
        for source, data in inputs:
            yield [render_one_cluster(data, source, request, options, cert)]
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    # The first cluster renders here: a bad option fails before any process starts, and the
    # workers inherit compiled templates instead of each compiling their own.
    (source, data), rest = inputs[0], inputs[1:]
    yield [render_one_cluster(data, source, request, options, cert)]
    global _fleet_job
    _fleet_job = (rest, request, options, cert)
    spans = [(start, min(start + _BATCH, len(rest))) for start in range(0, len(rest), _BATCH)]
    context = multiprocessing.get_context("fork")
    # Ctrl-C reaches every process of the group. The workers ignore it; here it is held and
    # taken between batches, so that the pool's shutdown, which stops and joins the workers,
    # is never cut short: an interrupted shutdown left workers blocked forever.
    with held() as interrupts:
        pool = ProcessPoolExecutor(workers, context, initializer=_worker_setup)
        try:
            for batch in pool.map(_render_span, spans):
                interrupts.check()
                yield batch
        except BrokenProcessPool:
            raise GenSecretError("a worker process rendering the fleet died") from None
        finally:
            # A bad file, or a Ctrl-C, ends the run: what is still queued is dropped.
            pool.shutdown(cancel_futures=True)
            del _fleet_job


def _workers(clusters: int) -> int:
    """Processes for a fleet: one per usable core, where fork is there to start them cheaply."""
    import multiprocessing

    if clusters < _PARALLEL_FROM or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    if sys.platform != "linux":  # fork is unsafe with macOS system libraries
        return 1
    return max(1, min(len(os.sched_getaffinity(0)), _cpu_quota(), 8))


def _cpu_quota(cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """The CPUs a cgroup (v2) quota allows, rounded up; a container limited to one CPU may
    still see all of the host's, and eight workers there would only take turns."""
    try:
        quota, period = cpu_max.read_text(encoding="ascii").split()[:2]
        return -(-int(quota) // int(period))
    except (OSError, ValueError):  # no cgroup v2, or "max": no quota
        return 1 << 16


def _render_span(span: tuple[int, int]) -> list[Result]:
    inputs, request, options, cert = _fleet_job
    return [
        render_one_cluster(data, source, request, options, cert)
        for source, data in inputs[span[0] : span[1]]
    ]


def _worker_setup() -> None:
    # The parent alone stops the run and reports it, so no worker prints a traceback; and a
    # worker dies with its parent, should that be killed outright (SIGKILL).
    # A closed terminal sends SIGHUP to the whole group, as Ctrl-C sends SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # forked while the parent held it
    pr_set_pdeathsig = 1  # <linux/prctl.h>
    libc.call("prctl", pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)
