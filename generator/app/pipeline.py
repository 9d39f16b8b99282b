"""From Clusterfile bytes and the command's request to rendered files: no printing, no exits."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from generator.defaults import DEFAULT_NAME, DEFAULT_NAMESPACE, RenderFormat, Scope
from generator.errors import GenSecretError, UsageError
from generator.io.certs import first_ca, load_ca
from generator.io.interrupts import held
from generator.model.ca import CaCertificate, CaSeen, candidate_paths
from generator.model.clusterfile import Cluster, check_username, read_clusterfile
from generator.model.names import check_namespace, check_object_name, is_file_name
from generator.plan.context import RenderContext, RenderOptions, build_context
from generator.plan.limits import OutputBudget

if TYPE_CHECKING:  # sealing, SOPS and their cryptography load only when asked for
    from generator.model.authsources import Override
    from generator.render.files import Text
    from generator.render.sealing import CertFolder, SealingCert
    from generator.render.sops import Reencrypted, SopsSettings

    Certs = SealingCert | CertFolder


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
    output_format: RenderFormat = "yaml"
    seal_cert: Path | None = None
    seal_scope: Scope = "strict"
    # Secrets as SOPS files for age recipients; see `encrypts_with_sops`.
    sops: SopsSettings | None = None
    # A fleet: each cluster's files go to `<cluster name>/` below the output folder.
    cluster_folders: bool = False
    aliases: tuple[str, ...] = ()
    pull_namespaces: tuple[str, ...] = ()
    # (text, display name) of a --pull-namespaces-from file
    pull_namespace_lists: tuple[tuple[str, str], ...] = ()
    exclude_namespaces: tuple[str, ...] = ()
    service_accounts: tuple[str, ...] = ()
    keep_pull_secrets: tuple[str, ...] = ()
    patches: tuple[str, ...] = ()
    # --cluster: which Cluster document of a Clusterfile that holds several
    cluster: str | None = None
    previous_username: str | None = None
    previous_password: str | None = field(default=None, repr=False)
    # (display name, bytes) of each --merge-auths file, in the order given
    merge_auths: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)
    merge_override: Override | None = None

    @property
    def encrypts_with_sops(self) -> bool:
        """Every Secret is written as a SOPS file: whatever applies the output must decrypt it
        (a Flux Kustomization needs `decryption: {provider: sops}`)."""
        return self.sops is not None

    # (display name, bytes) of each --cluster-state dump, and the --namespace-selector
    cluster_states: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)
    namespace_selector: str | None = None
    # containerd's certs.d files and the kubelet's config.json under nodes/ (needs --out)
    node_files: bool = False


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class Result:
    """Rendered files, the stdout stream, and what to tell the user on stderr.

    JSON for stdout has no files: its stream is built from the objects, not joined from files.
    """

    cluster: str
    source: str
    context: RenderContext = field(repr=False)
    files: dict[str, Text] = field(repr=False)
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    output_format: RenderFormat = "yaml"
    # SOPS files written anew that may hold what they held before, and why.
    reencrypted: tuple[Reencrypted, ...] = ()
    # Where the CA was looked for and what was found (see unchanged.py).
    ca_seen: CaSeen = ()
    # A TLS registry whose CA was not found, in a fleet: told once for all (see fleet_notes).
    missing_ca: bool = False

    @property
    def stream(self) -> str:
        """The objects as one stream for stdout, whole; large in a fan-out: see `pieces`."""
        return "".join(self.pieces())

    def pieces(self) -> Iterator[str]:
        """The stream for stdout piece by piece, so a fan-out is never held whole."""
        if self.output_format == "json":
            from generator.render.jsonout import json_stream

            yield json_stream(self.context)
            return
        from generator.render.files import stream

        yield from stream(self.context, self.files)


def options_for(request: Request) -> RenderOptions:
    """Check every name in the request and turn it into render options (CA and cluster aside).

    A malformed value on the command line is a usage error (exit code 2); what a file says is
    the input's (exit code 1).
    """
    with as_usage():
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
        for namespace in request.pull_namespaces:
            check_namespace(namespace, "--pull-namespace")
    if request.previous_username is not None:
        if request.previous_password is None:
            raise UsageError(
                "--previous-username needs --previous-password-file or --previous-password-stdin"
            )
        check_username(request.previous_username, "--previous-username")
    options = RenderOptions(
        name=request.name,
        namespace=request.namespace,
        username=request.username,
        password=request.password,
        service_accounts=tuple(dict.fromkeys(request.service_accounts)),
        keep_pull_secrets=tuple(dict.fromkeys(request.keep_pull_secrets)),
        previous_username=request.previous_username or None,
        previous_password=request.previous_password,
        merge_override=request.merge_override,
    )
    if request.merge_auths:
        from generator.model.mergeauths import parse_merge_file  # only runs that merge load it

        parsed = [parse_merge_file(data, source) for source, data in request.merge_auths]
        options = replace(
            options,
            merged=tuple(e for p in parsed for e in p.entries),
            merge_warnings=tuple(w for p in parsed for w in p.warnings),
        )
    selected: tuple[str, ...] = ()
    if request.cluster_states or request.namespace_selector is not None:
        from generator.plan.clusterstate import from_request  # only runs given a dump load it

        options, selected = from_request(
            options, request.cluster_states, request.namespace_selector
        )
    fan_out = (request.aliases, request.pull_namespaces, request.pull_namespace_lists, selected)
    if not any((*fan_out, request.patches)):
        return options
    from generator.plan import fanout  # only runs that fan out pay for loading it

    listed = [
        n
        for text, source in request.pull_namespace_lists
        for n in fanout.parse_namespace_lines(text, source)
    ]
    with as_usage():
        aliases = tuple(dict.fromkeys(fanout.parse_alias(a) for a in request.aliases))
    return replace(
        options,
        aliases=aliases,
        pull_namespaces=fanout.target_namespaces(
            (*request.pull_namespaces, *listed, *selected), request.exclude_namespaces
        ),
        patches=tuple(fanout.parse_patch_target(p, request.namespace) for p in request.patches),
    )


@contextlib.contextmanager
def as_usage() -> Iterator[None]:
    """Errors in what the command line gave, raised as usage errors."""
    try:
        yield
    except UsageError:
        raise
    except GenSecretError as exc:
        raise UsageError(exc.message, exc.where) from None


def run(data: bytes, source: str, request: Request) -> Result:
    """Parse, resolve the CA, build the context and render; raises GenSecretError for bad input."""
    result = _render_one(data, source, request, options_for(request), _seal_cert(request))
    OutputBudget().add(result.files, source)
    return result


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
    cert = _seal_cert(request)
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
# and one core did 1,000 clusters in 0.6 s of the 1.4 s a fleet run took (issue 7).
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


def _seal_cert(request: Request) -> Certs | None:
    if request.seal_cert is None:
        return None
    from generator.render.sealing import load_certs

    return load_certs(request.seal_cert, f"--seal-cert {request.seal_cert}")


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class Skipped:
    """A cluster of a fleet whose inputs and files are as the last run left them: not
    rendered again; its files stay as they are, and its messages are the last run's."""

    cluster: str
    source: str
    files: tuple[str, ...]  # below the cluster's folder
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class Prepared:
    """A checked request: the parsed Cluster, the options to render it with, notes for stderr."""

    cluster: Cluster
    options: RenderOptions
    notes: tuple[str, ...] = ()
    ca_seen: CaSeen = ()
    missing_ca: bool = False


def prepare(
    data: bytes, source: str, request: Request, options: RenderOptions | None = None
) -> Prepared:
    """Check the options, parse the Clusterfile and resolve the CA: what every command shares."""
    options = options or options_for(request)
    cluster = read_clusterfile(data, source, request.cluster)
    notes: list[str] = list(cluster.notes)
    ca: CaCertificate | None = None
    seen: CaSeen = ()
    missing = False
    if request.ca_file is not None:
        ca = load_ca(request.ca_file, f"--ca-file {request.ca_file}")
    elif not cluster.registry.insecure:
        paths = candidate_paths(
            cluster, cluster.registry, request.ca_root, nodes=request.ca_node_paths
        )
        ca, seen = first_ca(paths)
        if ca is not None:
            notes.append(f"using CA certificate {ca.source}")
        else:
            # Said once, and only to a person at a terminal (see missing_ca_notes): sealer's
            # CA is seldom on the machine that renders, so a pipeline would hear it always.
            missing = True
    return Prepared(cluster, replace(options, ca=ca), tuple(notes), seen, missing)


def fleet_notes(results: Mapping[str, Result | Skipped]) -> tuple[str, ...]:
    """What a run says once for all its clusters, rather than once for each: for a terminal."""
    missing = [r for r in results.values() if isinstance(r, Result) and r.missing_ca]
    if not missing:
        return ()
    if len(results) == 1:
        return (
            f"no CA certificate found for {missing[0].context.registry.url} where sealer keeps "
            "it: the Secret has no ca.crt; give one with --ca-file",
        )
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
    certs: Certs | None,
) -> Result:
    prepared = prepare(data, source, request, options)
    # A fleet's folder for this cluster: its name, or its file's for a Cluster without one.
    name = prepared.cluster.name or folder_for_unnamed(source)
    context = plain = build_context(prepared.cluster, prepared.options)
    warnings = context.warnings
    if certs is not None:
        # Sealed before rendering: the plain Secret is never rendered, so never written.
        from generator.render.sealing import CertFolder, seal_context

        cert = certs.for_cluster(name, source) if isinstance(certs, CertFolder) else certs
        context = seal_context(context, cert, request.seal_scope)
        warnings += cert.warnings
    reencrypted: tuple[Reencrypted, ...] = ()
    if request.sops is not None:
        # Encrypted before rendering, like sealing: the plain Secret is never rendered.
        from generator.render.sops import sops_context

        folder = f"{name}/" if request.cluster_folders else ""
        encrypted = sops_context(context, request.sops, folder)
        context, reencrypted = encrypted.context, encrypted.reencrypted
        warnings += tuple(w for w in encrypted.warnings if w not in warnings)
    files = _render_files(context, request)
    if request.node_files:
        hidden = certs is not None or request.sops is not None
        node_files, node_warnings = _node_files(prepared, plain, sealed=hidden)
        files.update(node_files)
        warnings += node_warnings
    notes = prepared.notes + context.notes
    return Result(
        name,
        source,
        context,
        files,
        warnings,
        notes,
        request.output_format,
        reencrypted,
        prepared.ca_seen,
        prepared.missing_ca,
    )


def _render_files(context: RenderContext, request: Request) -> dict[str, Text]:
    if request.output_format == "json":
        if not request.kustomization:
            return {}  # stdout: Result.stream builds the List from the objects
        from generator.render.jsonout import render_json_files

        return dict(render_json_files(context))
    from generator.render.files import render  # Jinja loads only for commands that render

    return render(context, with_kustomization=request.kustomization)


def folder_for_unnamed(source: str) -> str:
    """A fleet folder for a Cluster without metadata.name (sealer allows it): the file's name
    without its extension, or its folder's name for a file called just Clusterfile."""
    path = Path(source)
    stem = path.stem if path.suffix.lower() in (".yaml", ".yml") else path.name
    return path.parent.name if stem.lower() == "clusterfile" and path.parent.name else stem


def _node_files(
    prepared: Prepared, context: RenderContext, *, sealed: bool
) -> tuple[dict[str, str], tuple[str, ...]]:
    """The files under nodes/ for --node-files; config.json only when nothing is sealed."""
    from generator.render.nodefiles import KUBELET_CONFIG, registry_hosts, render_node_files

    ca = prepared.options.ca
    hosts, warnings = registry_hosts(
        prepared.cluster, context.registry, prepared.options.aliases, ca is not None
    )
    config = None if sealed else dict(context.main_secret.data)[".dockerconfigjson"]
    if sealed:
        warnings.append(
            f"--node-files: {KUBELET_CONFIG} is not written with --seal-cert or SOPS: it would "
            "hold the registry credentials in clear"
        )
    return render_node_files(hosts, ca, config), tuple(warnings)
