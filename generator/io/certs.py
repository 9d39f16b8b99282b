"""Reading CA files from the disk: --ca-file, and sealer's own where it keeps them."""

from __future__ import annotations

from pathlib import Path

from generator.io.inputs import read_bytes
from generator.model.ca import MAX_CA_BYTES, CaCertificate, CaSeen, candidate_paths, parse_ca
from generator.model.clusterfile import Cluster, RegistryEndpoint


def load_ca(path: Path, source: str | None = None) -> CaCertificate:
    """Read a PEM file and keep its certificates (see ca.parse_ca); anything else is an error."""
    label = source or str(path)
    return parse_ca(read_bytes(path, MAX_CA_BYTES, label), label)


def discover_ca(
    cluster: Cluster, registry: RegistryEndpoint, root: Path = Path("/"), *, nodes: bool = True
) -> CaCertificate | None:
    """The first of sealer's CA files that exists, checked; None when there is none."""
    return first_ca(candidate_paths(cluster, registry, root, nodes=nodes))[0]


def first_ca(paths: list[Path]) -> tuple[CaCertificate | None, CaSeen]:
    """The CA in the first of `paths` that is a file, and what the search saw on its way."""
    seen: list[tuple[str, str | None]] = []
    for path in paths:
        if path.is_file():
            ca = load_ca(path)
            seen.append((str(path), ca.pem))
            return ca, tuple(seen)
        seen.append((str(path), None))
    return None, tuple(seen)
