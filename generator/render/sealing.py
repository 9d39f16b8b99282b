"""Seal Secrets offline for the Bitnami sealed-secrets controller, from its public certificate."""

from __future__ import annotations

import datetime
import functools
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from generator.defaults import Scope
from generator.errors import GenSecretError, InternalError
from generator.model.names import is_file_name
from generator.plan.context import RenderContext
from generator.plan.objects import KubeObject, Labels, SealedSecretObject, SecretObject

if TYPE_CHECKING:  # cryptography is imported only when something is sealed: start-up time
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

# The controller's own keys are 4096-bit; below 2048 a key is too weak to trust with a password.
MIN_KEY_BITS = 2048
MAX_CERT_BYTES = 1024 * 1024
SESSION_KEY_BYTES = 32  # AES-256
GCM_NONCE = bytes(12)  # a session key seals one value only, so a fixed nonce is never reused
ANNOTATION_PREFIX = "sealedsecrets.bitnami.com/"


@dataclass(frozen=True)
class SealingCert:
    """The controller's public key, where it came from, and what is worth a warning about it."""

    public_key: RSAPublicKey
    source: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class CertFolder:
    """A folder of certificates, `<cluster name>.pem` for each cluster of a fleet.

    Every cluster's sealed-secrets controller makes its own key pair, so a SealedSecret sealed
    with another cluster's certificate never unseals there.
    """

    path: Path
    source: str

    def for_cluster(self, name: str, where: str) -> SealingCert:
        """This cluster's certificate; a cluster without one is an error that names it."""
        if not is_file_name(name):
            raise GenSecretError(
                f"cluster name {name!r} cannot name a certificate file in {self.source}", where
            )
        path = self.path / f"{name}.pem"
        if not path.is_file():
            raise GenSecretError(
                f"no sealing certificate for cluster {name!r}: {self.source} has no {name}.pem",
                where,
            )
        return _load_cached(path, f"{self.source}/{name}.pem")


def load_certs(path: Path, source: str) -> SealingCert | CertFolder:
    """One certificate for every cluster, or a folder of them, one per cluster."""
    if path.is_dir():
        return CertFolder(path, source.rstrip("/"))
    return load_cert(path, source)


# Each process of a fleet reads a cluster's certificate once, however many Secrets it seals.
@functools.lru_cache(maxsize=256)
def _load_cached(path: Path, source: str) -> SealingCert:
    return load_cert(path, source)


def load_cert(path: Path, source: str | None = None) -> SealingCert:
    """Read a PEM X.509 certificate (`kubeseal --fetch-cert`) that holds an RSA public key.

    An expired certificate is only a warning: the controller keeps every private key it ever
    made and unseals with any of them, so the output still works.
    """
    label = source or str(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CERT_BYTES + 1)
    except IsADirectoryError:
        raise GenSecretError("sealing certificate is a directory, not a file", label) from None
    except OSError as exc:
        raise GenSecretError(f"cannot read sealing certificate: {exc.strerror}", label) from None
    if len(data) > MAX_CERT_BYTES:
        raise GenSecretError("sealing certificate file is larger than 1 MiB", label)

    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

    try:
        # The first certificate of the file, as kubeseal takes it.
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise GenSecretError(
            "not a PEM X.509 certificate (`kubeseal --fetch-cert > cert.pem` writes one)", label
        ) from None
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        kinds = {
            ec.EllipticCurvePublicKey: "an EC",
            ed25519.Ed25519PublicKey: "an Ed25519",
            ed448.Ed448PublicKey: "an Ed448",
            dsa.DSAPublicKey: "a DSA",
        }
        kind = next((name for t, name in kinds.items() if isinstance(key, t)), "a non-RSA")
        raise GenSecretError(
            f"the certificate holds {kind} key; sealed-secrets needs an RSA key", label
        )
    if key.key_size < MIN_KEY_BITS:
        raise GenSecretError(
            f"the certificate's RSA key has {key.key_size} bits; at least {MIN_KEY_BITS} needed",
            label,
        )
    warnings = []
    expiry = cert.not_valid_after_utc
    if expiry < datetime.datetime.now(datetime.UTC):
        warnings.append(
            f"sealing certificate {label} expired on {expiry:%Y-%m-%d}: the controller still "
            "unseals with its key, but kubeseal 0.18+ refuses this certificate; fetch the "
            "current one with `kubeseal --fetch-cert`"
        )
    return SealingCert(key, label, tuple(warnings))


def scope_label(scope: Scope, namespace: str, name: str) -> bytes:
    """The RSA-OAEP label that binds a sealed value to where it may be unsealed."""
    if scope == "cluster-wide":
        return b""
    if scope == "namespace-wide":
        return namespace.encode()
    return f"{namespace}/{name}".encode()


def scope_annotations(scope: Scope) -> Labels:
    """The annotation that tells the controller which label to use; strict needs none."""
    return () if scope == "strict" else ((ANNOTATION_PREFIX + scope, "true"),)


def seal_value(public_key: RSAPublicKey, label: bytes, plaintext: bytes) -> bytes:
    """The controller's hybrid scheme: a fresh AES-256-GCM key per value, wrapped by RSA-OAEP.

    Layout: RSA ciphertext length (2 bytes, big-endian) || RSA ciphertext || GCM ciphertext+tag.
    """
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    session_key = os.urandom(SESSION_KEY_BYTES)
    wrapped = public_key.encrypt(
        session_key,
        padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label),
    )
    sealed = AESGCM(session_key).encrypt(GCM_NONCE, plaintext, None)
    return len(wrapped).to_bytes(2, "big") + wrapped + sealed


def seal_secret(secret: SecretObject, cert: SealingCert, scope: Scope) -> SealedSecretObject:
    """A SealedSecret that the controller turns back into exactly this Secret."""
    label = scope_label(scope, secret.namespace, secret.name)
    return SealedSecretObject(
        name=secret.name,
        namespace=secret.namespace,
        labels=secret.labels,
        annotations=scope_annotations(scope),
        encrypted_data=tuple(
            (key, seal_value(cert.public_key, label, raw)) for key, raw in secret.data
        ),
        type=secret.type,
    )


def seal_context(context: RenderContext, cert: SealingCert, scope: Scope) -> RenderContext:
    """The same files and objects, with every Secret replaced by its SealedSecret."""

    def seal(obj: KubeObject) -> KubeObject:
        return seal_secret(obj, cert, scope) if isinstance(obj, SecretObject) else obj

    files = tuple(replace(f, objects=tuple(seal(o) for o in f.objects)) for f in context.files)
    # Whatever kinds the context grows, sealed output must hold no Secret: `expected()` is the
    # very document each object must render as.
    if any(o.expected()["kind"] == "Secret" for f in files for o in f.objects):
        raise InternalError("a Secret would be written unsealed")
    return replace(context, files=files)
