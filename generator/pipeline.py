"""From Clusterfile bytes and the command's request to rendered files: no printing, no exits."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from generator.certs import CaCertificate, discover_ca, load_ca
from generator.clusterfile import Cluster, check_username, read_clusterfile
from generator.context import RenderOptions, build_context
from generator.names import check_namespace, check_object_name
from generator.render import render, stream


@dataclass(frozen=True)
class Request:
    """The options of one `render`, as the command line gave them."""

    name: str = "sealer-registry"
    namespace: str = "kube-system"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    ca_root: Path = Path("/")


@dataclass(frozen=True)
class Result:
    """Rendered files, the stdout stream, and what to tell the user on stderr."""

    files: dict[str, str] = field(repr=False)
    stream: str = field(repr=False)
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Prepared:
    """A checked request: the parsed Cluster, the options to render it with, notes for stderr."""

    cluster: Cluster
    options: RenderOptions
    notes: tuple[str, ...] = ()


def prepare(data: bytes, source: str, request: Request) -> Prepared:
    """Check the options, parse the Clusterfile and resolve the CA: what every command shares."""
    check_object_name(request.name, "--name")
    check_namespace(request.namespace, "--namespace")
    if request.username is not None:
        check_username(request.username, "--username")
    cluster = read_clusterfile(data, source)
    notes: list[str] = []
    ca: CaCertificate | None = None
    if request.ca_file is not None:
        ca = load_ca(request.ca_file, f"--ca-file {request.ca_file}")
    elif not cluster.registry.insecure:
        ca = discover_ca(cluster, cluster.registry, request.ca_root)
        if ca is not None:
            notes.append(f"using CA certificate {ca.source}")
    options = RenderOptions(
        name=request.name,
        namespace=request.namespace,
        username=request.username,
        password=request.password,
        ca=ca,
    )
    return Prepared(cluster, options, tuple(notes))


def run(data: bytes, source: str, request: Request) -> Result:
    """Parse, resolve the CA, build the context and render; raises GenSecretError for bad input."""
    prepared = prepare(data, source, request)
    context = build_context(prepared.cluster, prepared.options)
    files = render(context)
    return Result(files, stream(context, files), context.warnings, prepared.notes)
