"""Turn a parsed Cluster and the command's options into what the templates render."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from generator.certs import CaCertificate
from generator.clusterfile import Cluster, Credentials, RegistryEndpoint
from generator.dockerconfig import dockerconfigjson
from generator.errors import GenSecretError
from generator.names import is_label_value

DEFAULT_NAME = "sealer-registry"
DEFAULT_NAMESPACE = "kube-system"


@dataclass(frozen=True)
class RenderOptions:
    """What the command line adds to the Clusterfile."""

    name: str = DEFAULT_NAME
    namespace: str = DEFAULT_NAMESPACE
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca: CaCertificate | None = None


@dataclass(frozen=True)
class SecretObject:
    """One Secret to render: every value of `data` is raw bytes, base64-encoded by the template."""

    file: str
    name: str
    namespace: str
    labels: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, bytes], ...] = field(repr=False)
    type: str = "kubernetes.io/dockerconfigjson"


@dataclass(frozen=True)
class RenderContext:
    """Everything the templates need, and the warnings found on the way."""

    registry: RegistryEndpoint
    secrets: tuple[SecretObject, ...]
    warnings: tuple[str, ...] = ()

    @property
    def resources(self) -> tuple[str, ...]:
        """Files that hold objects to apply, in output order."""
        return tuple(s.file for s in self.secrets)


def effective_registry(cluster: Cluster, options: RenderOptions) -> RegistryEndpoint:
    """The Secret's registry with the command line's credentials laid over the file's."""
    registry = cluster.registry
    current = registry.credentials
    username = options.username if options.username is not None else (current and current.username)
    password = options.password if options.password is not None else (current and current.password)
    if not username and not password:
        return replace(registry, credentials=None)
    if not username:
        raise GenSecretError(f"a password was given for {registry.url} but no username")
    return replace(registry, credentials=Credentials(username or "", password or ""))


def auths(cluster: Cluster, registry: RegistryEndpoint) -> dict[str, Credentials | None]:
    """`auths` entries: the Secret's registry always, every other registry with credentials."""
    entries: dict[str, Credentials | None] = {}
    for other in cluster.registries:
        if other.role != registry.role and other.credentials is not None:
            entries[other.url] = other.credentials
    entries[registry.url] = registry.credentials
    return entries


def labels(cluster: Cluster) -> tuple[tuple[str, str], ...]:
    """The recommended app.kubernetes.io labels, sorted; `instance` only when it is valid."""
    values = {
        "app.kubernetes.io/component": "registry-credentials",
        "app.kubernetes.io/managed-by": "gen-secret",
        "app.kubernetes.io/name": "sealer-registry",
        "app.kubernetes.io/part-of": "sealer",
    }
    if is_label_value(cluster.name):
        values["app.kubernetes.io/instance"] = cluster.name
    return tuple(sorted(values.items()))


def build_context(cluster: Cluster, options: RenderOptions) -> RenderContext:
    """The main registry Secret for a cluster, with its data keys in sorted order."""
    registry = effective_registry(cluster, options)
    warnings = list(cluster.warnings)
    if registry.credentials is None:
        warnings.append(
            f"registry {registry.url} has no credentials: the Secret allows anonymous pulls only"
        )
    if registry.credentials is not None and not registry.credentials.password:
        warnings.append(f"registry {registry.url} has a username but an empty password")
    if not cluster.name or not is_label_value(cluster.name):
        warnings.append(
            "cluster name is not a valid label value: no app.kubernetes.io/instance label"
        )
    data: dict[str, bytes] = {
        ".dockerconfigjson": dockerconfigjson(auths(cluster, registry)),
        "domain": registry.domain.encode(),
        "url": registry.url.encode(),
        "ha": _flag(registry.ha),
        "insecure": _flag(registry.insecure),
    }
    if registry.port:
        data["port"] = str(registry.port).encode()
    if registry.credentials is not None:
        data["username"] = registry.credentials.username.encode()
        data["password"] = registry.credentials.password.encode()
    if options.ca is not None:
        data["ca.crt"] = options.ca.pem.encode()
    secret = SecretObject(
        file="secret.yaml",
        name=options.name,
        namespace=options.namespace,
        labels=labels(cluster),
        data=tuple(sorted(data.items())),
    )
    return RenderContext(registry, (secret,), tuple(warnings))


def _flag(value: bool) -> bytes:
    return b"true" if value else b"false"
