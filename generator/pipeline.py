"""From Clusterfile bytes and the command's request to rendered files: no printing, no exits."""

from __future__ import annotations

import os
import re
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from generator.certs import CaCertificate, candidate_paths, discover_ca, load_ca
from generator.clusterfile import Cluster, check_username, read_clusterfile
from generator.context import RenderContext, RenderOptions, build_context
from generator.defaults import DEFAULT_NAME, DEFAULT_NAMESPACE, Scope
from generator.errors import GenSecretError
from generator.interrupts import held
from generator.limits import OutputBudget
from generator.names import check_namespace, check_object_name

if TYPE_CHECKING:  # sealing (and cryptography) load only when --seal-cert asks for them
    from generator.sealing import SealingCert

# A cluster's output folder in fleet mode: one path component, never `.` or `..`.
_FOLDER_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class Request:
    """The options of one `render`, as the command line gave them."""

    name: str = DEFAULT_NAME
    namespace: str = DEFAULT_NAMESPACE
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    ca_root: Path = Path("/")
    # A fleet looks only where a CA names its cluster; see certs.candidate_paths.
    ca_node_paths: bool = True
    # Files for --out get a kustomization.yaml; stdout does without.
    kustomization: bool = True
    seal_cert: Path | None = None
    seal_scope: Scope = "strict"
    aliases: tuple[str, ...] = ()
    pull_namespaces: tuple[str, ...] = ()
    # (text, display name) of a --pull-namespaces-from file
    pull_namespace_lists: tuple[tuple[str, str], ...] = ()
    exclude_namespaces: tuple[str, ...] = ()
    service_accounts: tuple[str, ...] = ()
    keep_pull_secrets: tuple[str, ...] = ()
    patches: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class Result:
    """Rendered files, the stdout stream, and what to tell the user on stderr."""

    cluster: str
    source: str
    context: RenderContext = field(repr=False)
    files: dict[str, str] = field(repr=False)
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    # A TLS registry whose CA was not found, in a fleet: told once for all (see fleet_notes).
    missing_ca: bool = False

    @property
    def stream(self) -> str:
        """The objects as one stream for stdout; built only when asked, it is large in fan-out."""
        from generator.render import stream

        return stream(self.context, self.files)


def options_for(request: Request) -> RenderOptions:
    """Check every name in the request and turn it into render options (CA and cluster aside)."""
    check_object_name(request.name, "--name")
    check_namespace(request.namespace, "--namespace")
    if request.username is not None:
        if not request.username:
            raise GenSecretError("username is empty", "--username")
        check_username(request.username, "--username")
    for account in request.service_accounts:
        check_object_name(account, "--service-account")
    for secret in request.keep_pull_secrets:
        check_object_name(secret, "--keep-pull-secret")
    options = RenderOptions(
        name=request.name,
        namespace=request.namespace,
        username=request.username,
        password=request.password,
        service_accounts=tuple(dict.fromkeys(request.service_accounts)),
        keep_pull_secrets=tuple(dict.fromkeys(request.keep_pull_secrets)),
    )
    fan_out = (request.aliases, request.pull_namespaces, request.pull_namespace_lists)
    if not any((*fan_out, request.patches)):
        return options
    from generator import fanout  # only runs that fan out pay for loading it

    listed = [
        n
        for text, source in request.pull_namespace_lists
        for n in fanout.parse_namespace_lines(text, source)
    ]
    return replace(
        options,
        aliases=tuple(dict.fromkeys(fanout.parse_alias(a) for a in request.aliases)),
        pull_namespaces=fanout.target_namespaces(
            (*request.pull_namespaces, *listed), request.exclude_namespaces
        ),
        patches=tuple(fanout.parse_patch_target(p, request.namespace) for p in request.patches),
    )


def run(data: bytes, source: str, request: Request) -> Result:
    """Parse, resolve the CA, build the context and render; raises GenSecretError for bad input."""
    result = _render_one(data, source, request, options_for(request), _seal_cert(request))
    OutputBudget().add(result.files, source)
    return result


def run_fleet(
    inputs: Sequence[tuple[str, bytes]],
    request: Request,
    on_each: Callable[[int], None] | None = None,
) -> dict[str, Result]:
    """Render every Clusterfile with the same options, keyed by cluster name.

    All or nothing: the first bad file stops the run, and two clusters with one name are an
    error that names both files, since their output folders would collide. `on_each` hears
    how many more clusters are done.
    """
    options = options_for(request)
    cert = _seal_cert(request)
    request = replace(request, ca_node_paths=False)
    results: dict[str, Result] = {}
    sources: dict[str, str] = {}
    budget = OutputBudget()  # the whole fleet's output is held until it is written
    for batch in _render_batches(inputs, request, options, cert):
        for result in batch:
            budget.add(result.files, result.source)
            if result.cluster in sources:
                raise GenSecretError(
                    f"cluster name {result.cluster!r} is used by both "
                    f"{sources[result.cluster]} and {result.source}"
                )
            if not re.fullmatch(_FOLDER_NAME, result.cluster):
                raise GenSecretError(
                    f"cluster name {result.cluster!r} cannot name an output folder", result.source
                )
            sources[result.cluster] = result.source
            results[result.cluster] = result
        if on_each is not None:
            on_each(len(batch))
    return results


# Fleets this large render in a process per core: parsing and rendering are pure Python,
# and one core did 1,000 clusters in 0.6 s of the 1.4 s a fleet run took (issue 7).
_PARALLEL_FROM = 64
_BATCH = 25  # clusters per task: small enough to spread, large enough to amortise the pipe
# What the worker processes render: set before they fork, so no input crosses a pipe.
_fleet_job: tuple[Sequence[tuple[str, bytes]], Request, RenderOptions, SealingCert | None]


def _render_batches(
    inputs: Sequence[tuple[str, bytes]],
    request: Request,
    options: RenderOptions,
    cert: SealingCert | None,
) -> Iterator[list[Result]]:
    """Results in input order, a batch at a time, so the first bad file is always the one named."""
    workers = _workers(len(inputs))
    if workers < 2:
        for source, data in inputs:
            yield [_render_one(data, source, request, options, cert)]
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    # The first cluster renders here: a bad option fails before any process starts, and the
    # workers inherit compiled templates instead of each compiling their own.
    (source, data), rest = inputs[0], inputs[1:]
    yield [_render_one(data, source, request, options, cert)]
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
        _render_one(data, source, request, options, cert)
        for source, data in inputs[span[0] : span[1]]
    ]


def _worker_setup() -> None:
    # The parent alone stops the run and reports it, so no worker prints a traceback; and a
    # worker dies with its parent, should that be killed outright (SIGKILL).
    # A closed terminal sends SIGHUP to the whole group, as Ctrl-C sends SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # forked while the parent held it
    import ctypes

    pr_set_pdeathsig = 1  # <linux/prctl.h>
    ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def _seal_cert(request: Request) -> SealingCert | None:
    if request.seal_cert is None:
        return None
    from generator.sealing import load_cert

    return load_cert(request.seal_cert, f"--seal-cert {request.seal_cert}")


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class Prepared:
    """A checked request: the parsed Cluster, the options to render it with, notes for stderr."""

    cluster: Cluster
    options: RenderOptions
    notes: tuple[str, ...] = ()
    missing_ca: bool = False


def prepare(
    data: bytes, source: str, request: Request, options: RenderOptions | None = None
) -> Prepared:
    """Check the options, parse the Clusterfile and resolve the CA: what every command shares."""
    options = options or options_for(request)
    cluster = read_clusterfile(data, source)
    notes: list[str] = []
    ca: CaCertificate | None = None
    missing = False
    if request.ca_file is not None:
        ca = load_ca(request.ca_file, f"--ca-file {request.ca_file}")
    elif not cluster.registry.insecure:
        ca = discover_ca(cluster, cluster.registry, request.ca_root, nodes=request.ca_node_paths)
        if ca is not None:
            notes.append(f"using CA certificate {ca.source}")
        else:
            missing = True
            if request.ca_node_paths:  # one cluster; a fleet says it once, see fleet_notes
                searched = candidate_paths(cluster, cluster.registry, request.ca_root)
                notes.append(
                    f"no CA certificate found for {cluster.registry.url} (looked in "
                    f"{', '.join(map(str, searched))}): the Secret has no ca.crt; "
                    "give one with --ca-file"
                )
    return Prepared(cluster, replace(options, ca=ca), tuple(notes), missing)


def fleet_notes(results: dict[str, Result]) -> tuple[str, ...]:
    """What a fleet run says once for all its clusters, rather than once for each."""
    missing = [r for r in results.values() if r.missing_ca]
    if not missing:
        return ()
    return (
        f"no CA certificate found for {len(missing)} of {len(results)} clusters, where sealer "
        "keeps it (<dataRoot>/<cluster name>/rootfs/certs/<domain>.crt): their Secrets have "
        "no ca.crt",
    )


def _render_one(
    data: bytes,
    source: str,
    request: Request,
    options: RenderOptions,
    cert: SealingCert | None,
) -> Result:
    prepared = prepare(data, source, request, options)
    context = build_context(prepared.cluster, prepared.options)
    warnings = context.warnings
    if cert is not None:
        # Sealed before rendering: the plain Secret is never rendered, so never written.
        from generator.sealing import seal_context

        context = seal_context(context, cert, request.seal_scope)
        warnings += cert.warnings
    from generator.render import render  # Jinja loads only for commands that render

    files = render(context, with_kustomization=request.kustomization)
    name = prepared.cluster.name
    return Result(name, source, context, files, warnings, prepared.notes, prepared.missing_ca)
