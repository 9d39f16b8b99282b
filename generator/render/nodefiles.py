"""Files for the nodes themselves, an alternative to pull secrets: containerd's registry
settings and CA per registry (its `config_path` layout, `certs.d/<host:port>/`), and the
kubelet's node-level credentials (`/var/lib/kubelet/config.json`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from generator.errors import InternalError
from generator.model.ca import CaCertificate
from generator.model.clusterfile import Cluster, RegistryEndpoint
from generator.plan.context import alias_keys

NODES = "nodes"
CERTS_D = f"{NODES}/certs.d"
KUBELET_CONFIG = f"{NODES}/config.json"
CA_FILE = "ca.crt"
# Resolving a tag to a digest is a trusted operation; pushing is not a node's business.
CAPABILITIES = ("pull", "resolve")


@dataclass(frozen=True)
class RegistryHost:
    """One registry name (an `auths` key) as containerd's hosts.toml describes it."""

    TEMPLATE: ClassVar[str] = "hosts.toml.j2"

    key: str  # host[:port], the folder name under certs.d
    insecure: bool
    ca: bool  # a ca.crt sits beside hosts.toml

    @property
    def server(self) -> str:
        # An insecure (plain HTTP) registry is named with http://: containerd then tries
        # HTTPS first where skip_verify allows it, and falls back to HTTP; older versions
        # go straight to HTTP. https:// would never reach a plain HTTP registry.
        return f"{'http' if self.insecure else 'https'}://{self.key}"

    def expected(self) -> dict[str, Any]:
        """What hosts.toml must parse back to."""
        host: dict[str, Any] = {"capabilities": list(CAPABILITIES)}
        if self.ca:
            host["ca"] = CA_FILE
        if self.insecure:
            host["skip_verify"] = True
        return {"server": self.server, "host": {self.server: host}}


def registry_hosts(
    cluster: Cluster, registry: RegistryEndpoint, aliases: tuple[str, ...], has_ca: bool
) -> tuple[list[RegistryHost], list[str]]:
    """A host for every `auths` key, in key order, and warnings for the keys left out.

    The CA is the Secret's registry's, so only its names (and aliases) get one; another
    registry in `auths` is trusted through the node's system roots.
    """
    hosts: dict[str, RegistryHost] = {}
    for other in cluster.registries:
        if other.role != registry.role and other.credentials is not None:
            hosts[other.url] = RegistryHost(other.url, other.insecure, ca=False)
    own_ca = has_ca and not registry.insecure
    for key in (registry.url, *alias_keys(registry, aliases)):
        hosts[key] = RegistryHost(key, registry.insecure, ca=own_ca)
    warnings: list[str] = []
    kept: list[RegistryHost] = []
    for key in sorted(hosts):
        if "*" in key:  # containerd looks a registry up by its exact name: no globs
            warnings.append(f"--node-files: no certs.d folder for the wildcard key {key}")
        else:
            kept.append(hosts[key])
    if not registry.insecure and not has_ca:
        warnings.append(
            f"--node-files: no CA certificate for {registry.url}, so its hosts.toml names "
            "none and nodes trust only their system roots; give --ca-file"
        )
    return kept, warnings


def render_node_files(
    hosts: list[RegistryHost], ca: CaCertificate | None, dockerconfigjson: bytes | None
) -> dict[str, str]:
    """`{path: text}` under nodes/: each host's hosts.toml (and ca.crt), and config.json.

    `dockerconfigjson` None leaves config.json out (a sealed render keeps the plain
    credentials off the disk).
    """
    import tomllib

    from generator.render.templates import environment

    template = environment().get_template(RegistryHost.TEMPLATE)
    files: dict[str, str] = {}
    for host in hosts:
        text = template.render(obj=host)
        # Render, then parse: a key must not be able to change the file's structure.
        try:
            parsed = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            raise InternalError("hosts.toml is not valid TOML") from None
        if parsed != host.expected():
            raise InternalError("hosts.toml does not read back as intended")
        files[f"{CERTS_D}/{host.key}/hosts.toml"] = text
        if host.ca and ca is not None:
            files[f"{CERTS_D}/{host.key}/{CA_FILE}"] = ca.pem
    if dockerconfigjson is not None:
        # The kubelet reads the same format as the Secret's `.dockerconfigjson`: same bytes.
        files[KUBELET_CONFIG] = dockerconfigjson.decode("utf-8")
    return files
