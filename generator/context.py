"""Turn a parsed Cluster and the command's options into the files and objects to render."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from generator.certs import CaCertificate
from generator.clusterfile import Cluster, Credentials, RegistryEndpoint, host_port
from generator.defaults import DEFAULT_NAME, DEFAULT_NAMESPACE
from generator.dockerconfig import dockerconfigjson
from generator.errors import GenSecretError
from generator.keycheck import check_auths_keys
from generator.limits import check_fan_out, check_secret_data
from generator.names import is_label_value
from generator.objects import (
    Labels,
    OutputFile,
    PatchObject,
    SecretObject,
    ServiceAccountObject,
)

if TYPE_CHECKING:  # fan-out parsing loads only when a fan-out option is given
    from generator.fanout import PatchTarget

DEFAULT_SERVICE_ACCOUNT = "default"
MAIN_FILE = "secret.yaml"
PULL_FILE = "pull-secrets.yaml"


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class RenderOptions:
    """What the command line adds to the Clusterfile."""

    name: str = DEFAULT_NAME
    namespace: str = DEFAULT_NAMESPACE
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca: CaCertificate | None = None
    aliases: tuple[str, ...] = ()
    pull_namespaces: tuple[str, ...] = ()
    service_accounts: tuple[str, ...] = ()
    keep_pull_secrets: tuple[str, ...] = ()
    patches: tuple[PatchTarget, ...] = ()


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class RenderContext:
    """Every file to render with its objects, and the warnings found on the way."""

    registry: RegistryEndpoint
    auths_keys: tuple[str, ...]
    files: tuple[OutputFile, ...]
    warnings: tuple[str, ...] = ()

    @property
    def main_secret(self) -> SecretObject:
        """The Secret in --namespace that carries the registry's info; always rendered first."""
        secret = self.files[0].objects[0]
        if not isinstance(secret, SecretObject):
            raise GenSecretError("internal error: the main Secret is not a plain Secret")
        return secret

    @property
    def resources(self) -> tuple[str, ...]:
        """Files that hold objects to apply, in output order."""
        return tuple(f.path for f in self.files if f.role == "resource")


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
    return replace(registry, credentials=Credentials(username, password or ""))


def alias_keys(registry: RegistryEndpoint, aliases: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Other names the registry answers to: its certificate's SANs with its port, then --alias.

    The kubelet matches host and port exactly, so an image pulled as `10.0.0.11:5000/app`
    needs a key of its own even when it is the same registry as `sea.hub:5000`.
    """
    hosts = (*registry.san_dns_names, *registry.san_ips)
    names = [host_port(host, registry.port) for host in hosts]
    return tuple(dict.fromkeys(name for name in (*names, *aliases) if name != registry.url))


def auths(
    cluster: Cluster, registry: RegistryEndpoint, aliases: tuple[str, ...] = ()
) -> dict[str, Credentials | None]:
    """`auths` entries: the Secret's registry and its aliases always, other registries with
    credentials."""
    entries: dict[str, Credentials | None] = {}
    for other in cluster.registries:
        if other.role != registry.role and other.credentials is not None:
            entries[other.url] = other.credentials
    for key in (registry.url, *alias_keys(registry, aliases)):
        entries[key] = registry.credentials
    return entries


def labels(cluster: Cluster, component: str) -> Labels:
    """The recommended app.kubernetes.io labels, sorted; `instance` only when it is valid."""
    values = {
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "gen-secret",
        "app.kubernetes.io/name": "sealer-registry",
        "app.kubernetes.io/part-of": "sealer",
    }
    if is_label_value(cluster.name):
        values["app.kubernetes.io/instance"] = cluster.name
    return tuple(sorted(values.items()))


def build_context(cluster: Cluster, options: RenderOptions) -> RenderContext:
    """The main Secret, then per target namespace a pull copy and ServiceAccounts, then patches."""
    registry = effective_registry(cluster, options)
    warnings = list(cluster.warnings)
    if registry.credentials is None:
        warnings.append(
            f"registry {registry.url} has no credentials: the Secret allows anonymous pulls only"
        )
    elif not registry.credentials.password:
        warnings.append(f"registry {registry.url} has a username but an empty password")
    if not is_label_value(cluster.name):
        warnings.append(
            "cluster name is not a valid label value: no app.kubernetes.io/instance label"
        )

    entries = auths(cluster, registry, options.aliases)
    check_auths_keys(entries, lambda key: _key_origin(key, cluster, options), cluster.source)
    config = dockerconfigjson(entries)
    main = _main_secret(cluster, registry, options, config)
    check_secret_data(
        f"{options.namespace}/{options.name}",
        main.data,
        auths_keys=len(entries),
        from_sans=len(registry.san_dns_names) + len(registry.san_ips),
        from_aliases=len(options.aliases),
        password=len(registry.credentials.password.encode()) if registry.credentials else 0,
    )
    files = [OutputFile(MAIN_FILE, (main,))]
    files += _namespace_files(cluster, options, config)
    files += [
        OutputFile(
            f"patches/{target.namespace}/{target.kind}-{target.name}.yaml",
            (PatchObject(target.kind, target.name, target.namespace, options.name),),
            role="patch",
        )
        for target in sorted(set(options.patches), key=lambda t: (t.namespace, t.kind, t.name))
    ]
    return RenderContext(registry, tuple(sorted(entries)), tuple(files), tuple(warnings))


def _key_origin(key: str, cluster: Cluster, options: RenderOptions) -> str:
    """Where an `auths` key came from, for a message."""
    if key == cluster.registry.url:
        return "the registry's domain and port"
    if key in options.aliases:
        return "--alias"
    if any(key == other.url for other in cluster.registries):
        return "another registry's domain and port"
    return "cert.subjectAltName"


def _main_secret(
    cluster: Cluster, registry: RegistryEndpoint, options: RenderOptions, config: bytes
) -> SecretObject:
    data: dict[str, bytes] = {
        ".dockerconfigjson": config,
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
    return SecretObject(
        name=options.name,
        namespace=options.namespace,
        labels=labels(cluster, "registry-credentials"),
        data=tuple(sorted(data.items())),
    )


def _namespace_files(cluster: Cluster, options: RenderOptions, config: bytes) -> list[OutputFile]:
    """Per target namespace, a pull copy (least privilege: only `.dockerconfigjson`) and the
    ServiceAccounts that list it; all in one file, sorted by namespace.

    One file rather than one per namespace: a fan-out to 10,000 namespaces spent most of its
    time creating and renaming files, and one sorted file diffs just as well in git.
    """
    accounts = options.service_accounts or (
        (DEFAULT_SERVICE_ACCOUNT,) if options.pull_namespaces else ()
    )
    pull_secrets = tuple(dict.fromkeys((options.name, *options.keep_pull_secrets)))
    copy_labels = labels(cluster, "pull-secret")
    account_labels = labels(cluster, "pull-secret-consumer")
    pull_data = ((".dockerconfigjson", config),)
    pulled = set(options.pull_namespaces)
    targets = pulled | {t.namespace for t in options.patches}
    names = sum(len(name) + 12 for name in pull_secrets)  # `- name: ...` lines
    check_fan_out(len(config), len(targets), len(accounts), names, len(options.patches))
    objects: list[SecretObject | ServiceAccountObject] = []
    for namespace in sorted(targets):
        if namespace != options.namespace:  # the main Secret already serves its own namespace
            objects.append(SecretObject(options.name, namespace, copy_labels, pull_data))
        if namespace in pulled:
            objects += [
                ServiceAccountObject(account, namespace, account_labels, pull_secrets)
                for account in accounts
            ]
    return [OutputFile(PULL_FILE, tuple(objects))] if objects else []


def _flag(value: bool) -> bytes:
    return b"true" if value else b"false"
