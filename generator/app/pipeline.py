"""From Clusterfile bytes and the command's request to rendered files: no printing, no exits."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from generator.defaults import DEFAULT_NAME, DEFAULT_NAMESPACE, RenderFormat, Scope
from generator.errors import GenSecretError, UsageError
from generator.io.certs import first_ca, load_ca
from generator.model.ca import CaCertificate, CaSeen, candidate_paths
from generator.model.clusterfile import Cluster, check_username, read_clusterfile
from generator.model.names import check_namespace, check_object_name
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
    result = render_one_cluster(data, source, request, options_for(request), seal_cert_of(request))
    OutputBudget().add(result.files, source)
    return result


def seal_cert_of(request: Request) -> Certs | None:
    """The --seal-cert certificates, read once (a fleet reads them before its workers fork)."""
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


def render_one_cluster(
    data: bytes,
    source: str,
    request: Request,
    options: RenderOptions,
    certs: Certs | None,
) -> Result:
    """One cluster of a fleet, rendered whole: what a fleet's worker does for each file."""
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
