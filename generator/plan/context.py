"""Turn a parsed Cluster and the command's options into the files and objects to render."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from generator.defaults import DEFAULT_NAME, DEFAULT_NAMESPACE
from generator.errors import GenSecretError, InternalError
from generator.model.ca import CaCertificate
from generator.model.clusterfile import Cluster, Credentials, RegistryEndpoint, host_port
from generator.model.dockerconfig import dockerconfigjson
from generator.model.keycheck import check_auths_keys
from generator.model.names import is_label_value
from generator.plan.limits import check_fan_out, check_secret_data
from generator.plan.namespaced import PerNamespace
from generator.plan.objects import (
    Labels,
    OutputFile,
    PatchObject,
    SecretObject,
    ServiceAccountObject,
)

if TYPE_CHECKING:  # fan-out parsing loads only when a fan-out option is given
    from generator.model.authsources import AuthEntries, MergedEntry, Override
    from generator.plan.fanout import PatchTarget

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
    # The login being rotated out: kept under the scheme-prefixed key while the registry moves.
    previous_username: str | None = None
    previous_password: str | None = field(default=None, repr=False)
    merged: tuple[MergedEntry, ...] = ()
    merge_warnings: tuple[str, ...] = ()
    merge_override: Override | None = None
    # What the ServiceAccounts already list, by (namespace, name), from a --cluster-state dump.
    existing_pull_secrets: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()  # found while reading the options


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class RenderContext:
    """Every file to render with its objects, and the warnings found on the way."""

    registry: RegistryEndpoint
    auths_keys: tuple[str, ...]
    files: tuple[OutputFile, ...]
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    # For a person at a terminal only: true and useful, but normal, so kept out of pipelines.
    terminal_notes: tuple[str, ...] = ()

    @property
    def main_secret(self) -> SecretObject:
        """The Secret in --namespace that carries the registry's info; always rendered first."""
        secret = self.files[0].objects[0]
        if not isinstance(secret, SecretObject):
            raise InternalError("the main Secret is not a plain Secret")
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


# The cluster's name goes in a label of gen-secret's own: Argo CD's label tracking owns
# app.kubernetes.io/instance (it names the Argo Application), and would prune or mis-track
# objects that carry another value in it.
CLUSTER_LABEL = "sealer.io/cluster"


def secret_entries(cluster: Cluster, options: RenderOptions) -> AuthEntries:
    """Every `auths` entry with its source: the Clusterfile's, the previous login, merged ones."""
    from generator.model.authsources import combine

    registry = effective_registry(cluster, options)
    base = auths(cluster, registry, options.aliases)
    return combine(
        base,
        (registry.url, *alias_keys(registry, options.aliases)),
        previous_credentials(registry, options),
        options.merged,
        options.merge_override,
    )


def previous_credentials(registry: RegistryEndpoint, options: RenderOptions) -> Credentials | None:
    """The login being rotated out; its username defaults to the current one."""
    if options.previous_password is None:
        return None
    current = registry.credentials
    username = options.previous_username or (current.username if current else None)
    if not username:
        raise GenSecretError(
            f"registry {registry.url} has no username to go with the previous password; "
            "give --previous-username"
        )
    return Credentials(username, options.previous_password)


def labels(cluster: Cluster, component: str) -> Labels:
    """The recommended labels for the objects of a cluster."""
    return name_labels(cluster.name, component)


def name_labels(cluster_name: str, component: str) -> Labels:
    """The recommended app.kubernetes.io labels but `instance`, and the cluster's name when it
    is a valid label value; sorted. GitOps wiring knows a cluster by its name only."""
    values = {
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "gen-secret",
        "app.kubernetes.io/name": "sealer-registry",
        "app.kubernetes.io/part-of": "sealer",
    }
    if cluster_name and is_label_value(cluster_name):
        values[CLUSTER_LABEL] = cluster_name
    return tuple(sorted(values.items()))


def build_context(cluster: Cluster, options: RenderOptions) -> RenderContext:
    """The main Secret, then per target namespace a pull copy and ServiceAccounts, then patches."""
    registry = effective_registry(cluster, options)
    warnings = [*cluster.warnings, *options.warnings]
    terminal = []
    if registry.credentials is None:
        # sealer's default registry runs without htpasswd: most real Clusterfiles are so.
        terminal.append(
            f"registry {registry.url} has no credentials: the Secret allows anonymous pulls "
            "only (sealer's default registry needs none)"
        )
    elif not registry.credentials.password:
        warnings.append(f"registry {registry.url} has a username but an empty password")
    if cluster.name and not is_label_value(cluster.name):
        warnings.append(f"cluster name is not a valid label value: no {CLUSTER_LABEL} label")

    composed = secret_entries(cluster, options)
    warnings += options.merge_warnings + composed.warnings
    rotating = registry.credentials is not None and options.previous_password is not None
    if rotating and previous_credentials(registry, options) == registry.credentials:
        warnings.append("the previous login is the current one: nothing is rotated")
    entries = composed.entries
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
    return RenderContext(
        registry,
        tuple(sorted(entries)),
        tuple(files),
        tuple(warnings),
        composed.notes,
        tuple(terminal),
    )


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
    ours = (options.name, *options.keep_pull_secrets)
    existing = options.existing_pull_secrets
    copy_labels = labels(cluster, "pull-secret")
    account_labels = labels(cluster, "pull-secret-consumer")
    pull_data = ((".dockerconfigjson", config),)
    pulled = set(options.pull_namespaces)
    targets = pulled | {t.namespace for t in options.patches}
    names = sum(len(name) + 12 for name in ours)  # `- name: ...` lines
    check_fan_out(len(config), len(targets), len(accounts), names, len(options.patches))
    if existing:
        # A cluster-state dump: each ServiceAccount keeps what it lists today, so the objects
        # differ by more than their namespace and are written one by one.
        listed: list[SecretObject | ServiceAccountObject] = []
        for namespace in sorted(targets):
            if namespace != options.namespace:  # the main Secret already serves its namespace
                listed.append(SecretObject(options.name, namespace, copy_labels, pull_data))
            if namespace in pulled:
                # What the account lists today stays, in its order: the list is atomic, so
                # anything left out would be dropped when this object is applied.
                listed += [
                    ServiceAccountObject(
                        account,
                        namespace,
                        account_labels,
                        tuple(dict.fromkeys((*existing.get((namespace, account), ()), *ours))),
                    )
                    for account in accounts
                ]
        return [OutputFile(PULL_FILE, tuple(listed))] if listed else []
    ours_unique = tuple(dict.fromkeys(ours))
    # Index 0 is the pull copy, then the ServiceAccounts: the order within each namespace.
    objects: tuple[SecretObject | ServiceAccountObject, ...] = (
        SecretObject(options.name, "", copy_labels, pull_data),
        *(ServiceAccountObject(a, "", account_labels, ours_unique) for a in accounts),
    )
    every = tuple(range(len(objects)))
    exceptions: dict[str, tuple[int, ...]] = {}
    for namespace in targets - pulled:  # only patched: a pull copy, no ServiceAccounts
        exceptions[namespace] = (0,)
    if options.namespace in targets:  # the main Secret already serves its own namespace
        exceptions[options.namespace] = every[1:] if options.namespace in pulled else ()
    exceptions = {n: group for n, group in exceptions.items() if group != every}
    namespaces = tuple(sorted(n for n in targets if exceptions.get(n, every)))
    if not namespaces:
        return []
    exceptions = {n: group for n, group in exceptions.items() if group}
    return [OutputFile(PULL_FILE, PerNamespace(namespaces, objects, exceptions))]


def _flag(value: bool) -> bytes:
    return b"true" if value else b"false"
