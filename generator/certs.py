"""Find and check the registry's CA certificate, the way sealer lays it out on disk."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from pathlib import Path

from generator.clusterfile import Cluster, RegistryEndpoint
from generator.errors import GenSecretError

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)
MAX_CA_BYTES = 1024 * 1024


@dataclass(frozen=True)
class CaCertificate:
    """PEM text holding only the certificate blocks of a file, and where it came from."""

    pem: str
    source: str


def load_ca(path: Path, source: str | None = None) -> CaCertificate:
    """Read a PEM file and keep its certificates; anything else is an error.

    Only CERTIFICATE blocks are kept, re-wrapped at 64 columns: a bundle that also holds a
    private key must never carry that key into a Secret.
    """
    label = source or str(path)
    try:
        if path.is_dir():
            raise GenSecretError("CA file is a directory", label)
        data = path.read_bytes()[: MAX_CA_BYTES + 1]
    except OSError as exc:
        raise GenSecretError(f"cannot read CA file: {exc.strerror}", label) from None
    if len(data) > MAX_CA_BYTES:
        raise GenSecretError("CA file is larger than 1 MiB", label)
    blocks = []
    for match in _PEM_BLOCK.finditer(data):
        if match.group(1) != b"CERTIFICATE":
            continue
        try:
            der = base64.b64decode(b"".join(match.group(2).split()), validate=True)
        except (binascii.Error, ValueError):
            raise GenSecretError(
                "CA file holds a CERTIFICATE block that is not base64", label
            ) from None
        _check_certificate(der, label)
        body = base64.b64encode(der).decode("ascii")
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        blocks.append(
            "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"
        )
    if not blocks:
        raise GenSecretError("CA file is not a PEM certificate (no BEGIN CERTIFICATE block)", label)
    return CaCertificate("".join(blocks), label)


def _check_certificate(der: bytes, label: str) -> None:
    """The block must parse as X.509: a private key relabelled CERTIFICATE must not pass."""
    from cryptography import x509  # only runs that carry a CA pay for the import

    try:
        x509.load_der_x509_certificate(der)
    except ValueError:
        raise GenSecretError("CA file holds a CERTIFICATE block that is not X.509", label) from None


def candidate_paths(
    cluster: Cluster, registry: RegistryEndpoint, root: Path = Path("/")
) -> list[Path]:
    """Where sealer puts the registry's CA: the deploy host first, then the nodes' runtimes."""
    domain = registry.domain
    paths: list[Path] = []
    if registry.role == "local":
        data_root = Path(cluster.data_root.lstrip("/"))
        paths.append(root / data_root / cluster.name / "rootfs" / "certs" / f"{domain}.crt")
    for runtime in ("etc/containerd/certs.d", "etc/docker/certs.d"):
        folder = root / runtime / registry.url
        paths += [folder / f"{domain}.crt", folder / "ca.crt"]
    return paths


def discover_ca(
    cluster: Cluster, registry: RegistryEndpoint, root: Path = Path("/")
) -> CaCertificate | None:
    """The first of sealer's CA files that exists, checked; None when there is none."""
    for path in candidate_paths(cluster, registry, root):
        if path.is_file():
            return load_ca(path)
    return None
