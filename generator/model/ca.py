"""A registry's CA certificate: PEM checks, and where sealer keeps it (pure)."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from pathlib import Path

from generator.errors import GenSecretError
from generator.model.clusterfile import Cluster, RegistryEndpoint

# Patterns used on some runs only are compiled on first use (re caches them), not at import.
_PEM_BLOCK = rb"(?s)-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----"
MAX_CA_BYTES = 1024 * 1024


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class CaCertificate:
    """PEM text holding only the certificate blocks of a file, and where it came from."""

    pem: str
    source: str


def parse_ca(data: bytes, label: str) -> CaCertificate:
    """Read a PEM file and keep its certificates; anything else is an error.

    Only CERTIFICATE blocks are kept, re-wrapped at 64 columns: a bundle that also holds a
    private key must never carry that key into a Secret.
    """
    if len(data) > MAX_CA_BYTES:
        raise GenSecretError("CA file is larger than 1 MiB", label)
    blocks = []
    for match in re.finditer(_PEM_BLOCK, data):
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
    """The block must have X.509's shape, so a private key relabelled CERTIFICATE cannot pass.

    A Certificate is a SEQUENCE of exactly a SEQUENCE (tbsCertificate), a SEQUENCE (algorithm)
    and a BIT STRING (signature); PKCS#1 and PKCS#8 keys start with an INTEGER, a bare public
    key has two parts. Checked by hand: parsing with `cryptography` cost every render that
    carries a CA a tenth of a second of start-up.
    """
    outer = _der_children(der, 0, len(der))
    parts = _der_children(der, outer[0][1], outer[0][2]) if len(outer) == 1 else []
    if [tag for tag, _, _ in outer] != [0x30] or [tag for tag, _, _ in parts] != [0x30, 0x30, 0x03]:
        raise GenSecretError("CA file holds a CERTIFICATE block that is not X.509", label)


def _der_children(der: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    """(tag, content start, content end) of each DER element in der[start:end]; [] if malformed."""
    items = []
    at = start
    while at < end:
        if at + 2 > end:
            return []
        tag, length = der[at], der[at + 1]
        at += 2
        if length & 0x80:
            count = length & 0x7F
            if not 1 <= count <= 4 or at + count > end:
                return []
            length = int.from_bytes(der[at : at + count], "big")
            at += count
        if at + length > end:
            return []
        items.append((tag, at, at + length))
        at += length
    return items


def candidate_paths(
    cluster: Cluster, registry: RegistryEndpoint, root: Path = Path("/"), *, nodes: bool = True
) -> list[Path]:
    """Where sealer puts the registry's CA: the deploy host first, then the nodes' runtimes.

    The nodes' paths hold whichever cluster this machine belongs to, so `nodes=False` keeps
    to the one path that names the cluster (for fleets of many clusters).
    """
    domain = registry.domain
    paths: list[Path] = []
    if registry.role == "local":
        data_root = Path(cluster.data_root.lstrip("/"))
        paths.append(root / data_root / cluster.name / "rootfs" / "certs" / f"{domain}.crt")
    for runtime in ("etc/containerd/certs.d", "etc/docker/certs.d") if nodes else ():
        folder = root / runtime / registry.url
        paths += [folder / f"{domain}.crt", folder / "ca.crt"]
    return paths


# What a search for the CA saw: each path it looked at, with the certificates it found there
# (None: no file). A fleet run keeps it, to tell whether the next run would find the same.
CaSeen = tuple[tuple[str, str | None], ...]
