"""Read a sealer Clusterfile (or its ConfigMap wrapper) into frozen, validated dataclasses."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

from generator.errors import GenSecretError, Location
from generator.safeyaml import Document, Path, decode, dotted, load_all

CLUSTER_API_VERSIONS = ("sealer.io/v2", "sealer.io/v1", "sealer.aliyun.com/v1alpha1")
DEFAULT_DOMAIN = "sea.hub"
DEFAULT_PORT = 5000
DEFAULT_DATA_ROOT = "/var/lib/sealer/data"
LEGACY_REGISTRY_CONFIG = "etc/registry.yml"

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_IPV4 = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
_LOCAL_KEYS = {"domain", "port", "username", "password", "ha", "insecure", "cert"}
_EXTERNAL_KEYS = {"domain", "port", "username", "password"}
_REGISTRY_KEYS = {"localRegistry", "externalRegistry"}
# What an unknown key must look like to be named in a warning: a word, as sealer's fields are.
_FIELD_NAME = re.compile(r"[A-Za-z]{1,40}")

RegistryRole = Literal["local", "external"]
T = TypeVar("T")


@dataclass(frozen=True)
class Credentials:
    """A registry login. The password never appears in repr, logs or messages."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class RegistryEndpoint:
    """One registry as sealer sees it, after sealer's defaults are applied."""

    role: RegistryRole
    domain: str
    port: int | None
    credentials: Credentials | None = None
    ha: bool = False
    insecure: bool = False
    san_dns_names: tuple[str, ...] = ()
    san_ips: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        """`domain:port`, or the bare domain when the registry has no port."""
        return host_port(self.domain, self.port)


def host_port(host: str, port: int | None) -> str:
    """`host:port` as image references write it: an IPv6 address goes in brackets."""
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" if port else shown


@dataclass(frozen=True)
class Cluster:
    """The parts of a Clusterfile that the registry Secret depends on."""

    name: str
    api_version: str
    data_root: str
    local: RegistryEndpoint | None
    external: RegistryEndpoint | None
    source: str
    warnings: tuple[str, ...] = ()

    @property
    def registry(self) -> RegistryEndpoint:
        """The registry the Secret describes: the local one when there is one."""
        endpoint = self.local or self.external
        if endpoint is None:  # parse_cluster always sets one; a hand-built Cluster may not
            raise GenSecretError("the Cluster has no registry", self.source)
        return endpoint

    @property
    def registries(self) -> tuple[RegistryEndpoint, ...]:
        return tuple(r for r in (self.local, self.external) if r is not None)


def read_clusterfile(data: bytes, source: str) -> Cluster:
    """Parse the bytes of a Clusterfile, or of the sealer-clusterfile ConfigMap, into a Cluster."""
    documents = load_all(decode(data, source), source)
    documents = _unwrap_configmap(documents, source)
    return parse_cluster(documents, source)


def _unwrap_configmap(documents: list[Document], source: str) -> list[Document]:
    # `kubectl get cm -n kube-system sealer-clusterfile -o yaml` prints the Clusterfile as a
    # string under data.Clusterfile; unwrap it so that output can be piped straight in.
    wrappers = [
        d for d in documents if isinstance(d.value, dict) and d.value.get("kind") == "ConfigMap"
    ]
    if not wrappers or any(_kind(d) == "Cluster" for d in documents):
        return documents
    if len(wrappers) > 1:
        raise GenSecretError("more than one ConfigMap; pass the sealer-clusterfile one", source)
    wrapper = wrappers[0]
    data = wrapper.value.get("data")
    body = data.get("Clusterfile") if isinstance(data, dict) else None
    if not isinstance(body, str):
        raise GenSecretError(
            "ConfigMap has no data.Clusterfile text (is it sealer-clusterfile?)",
            wrapper.where(("data", "Clusterfile") if isinstance(data, dict) else ("data",)),
        )
    # A block scalar's text starts on the line after `Clusterfile: |`, so its lines map back
    # exactly; a quoted one's do not, so errors in it name lines of the text itself.
    path = ("data", "Clusterfile")
    if path in wrapper.block_scalars:
        return load_all(body, source, line_offset=wrapper.lines.get(path, 0))
    return load_all(body, f"{source} (data.Clusterfile)")


def _kind(document: Document) -> object:
    return document.value.get("kind") if isinstance(document.value, dict) else None


def parse_cluster(documents: list[Document], source: str) -> Cluster:
    """Find the one Cluster document and derive its registries the way sealer's decoder does."""
    if not documents or all(d.value is None for d in documents):
        raise GenSecretError("empty file: no kind: Cluster document", source)
    for document in documents:
        if document.value is not None and not isinstance(document.value, dict):
            kind = "list" if isinstance(document.value, list) else "scalar"
            raise GenSecretError(f"top level must be a mapping, not a {kind}", document.where(()))
    clusters = [d for d in documents if _kind(d) == "Cluster"]
    if not clusters:
        raise GenSecretError("no kind: Cluster document", source)
    if len(clusters) > 1:
        second = clusters[1].where(("kind",))
        raise GenSecretError("more than one kind: Cluster document", second)
    doc = clusters[0]
    reader = _Reader(doc)
    api_version = reader.get(("apiVersion",), str, "")
    if api_version not in CLUSTER_API_VERSIONS:
        wanted = ", ".join(CLUSTER_API_VERSIONS)
        raise GenSecretError(
            f"unsupported apiVersion {api_version!r} (want one of {wanted})",
            doc.where(("apiVersion",)),
        )
    name = reader.get(("metadata", "name"), str, "")
    if not name:
        raise GenSecretError("the Cluster has no name", doc.where(("metadata", "name")))
    data_root = reader.get(("spec", "dataRoot"), str, "") or DEFAULT_DATA_ROOT
    reader.get(("spec",), dict, {})
    registry = reader.get(("spec", "registry"), dict, None)
    if registry is not None:
        _warn_unknown(reader, ("spec", "registry"), _REGISTRY_KEYS)
    legacy = _legacy_registry_config(documents)

    local: RegistryEndpoint | None = None
    external: RegistryEndpoint | None = None
    if registry is not None and (registry.get("localRegistry") or registry.get("externalRegistry")):
        if legacy is not None:
            reader.warn(
                f"ignoring the legacy {LEGACY_REGISTRY_CONFIG} Config: spec.registry is set"
            )
        local_raw = reader.get(("spec", "registry", "localRegistry"), dict, None)
        external_raw = reader.get(("spec", "registry", "externalRegistry"), dict, None)
        if local_raw is not None:
            local = _local(reader, ("spec", "registry", "localRegistry"))
        if external_raw is not None:
            external = _external(reader, ("spec", "registry", "externalRegistry"))
    elif legacy is not None:
        local = _local(_Reader(legacy), ("spec", "data"), legacy_text=True)
    else:
        # sealer's decoder: with no registry at all, localRegistry becomes {} with defaults.
        if registry is not None:
            reader.get(("spec", "registry", "localRegistry"), dict, None)
            reader.get(("spec", "registry", "externalRegistry"), dict, None)
        local = RegistryEndpoint("local", DEFAULT_DOMAIN, DEFAULT_PORT, ha=True)

    cluster = Cluster(name, api_version, data_root, local, external, source)
    _check_env(reader, cluster)
    return replace(cluster, warnings=tuple(reader.warnings))


class _Reader:
    """Typed access to a document's fields, with errors and warnings that name the field."""

    def __init__(self, document: Document) -> None:
        self.document = document
        self.warnings: list[str] = []

    def where(self, path: Path) -> Location:
        return self.document.where(path)

    def warn(self, message: str, path: Path | None = None) -> None:
        self.warnings.append(f"{message} ({self.where(path)})" if path else message)

    def get(self, path: Path, kind: type[T], default: T) -> T:
        value: Any = self.document.value
        for i, part in enumerate(path):
            if not isinstance(value, dict):
                raise _type_error(self.where(path[:i]), value, dict)
            if part not in value or value[part] is None:
                return default
            value = value[part]
        if not _is(value, kind):
            raise _type_error(self.where(path), value, kind)
        return value  # type: ignore[no-any-return]


def _is(value: object, kind: type) -> bool:
    # YAML booleans are ints in Python; a port of `true` is not a port.
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


_TYPE_NAMES = {
    str: "a string",
    int: "a number",
    bool: "true or false",
    dict: "a mapping",
    list: "a list",
}


def _type_error(where: Location, value: object, kind: type) -> GenSecretError:
    got = _describe(value)
    return GenSecretError(f"must be {_TYPE_NAMES.get(kind, kind.__name__)}, not {got}", where)


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a number"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, datetime.date):  # a datetime is a date too
        return "a date"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _secret_text(reader: _Reader, path: Path) -> str | None:
    """A username or password: must be a YAML string; never echo what YAML made of it."""
    value: Any = reader.document.value
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return None
    if not isinstance(value, str):
        # `password: 0123` is the number 83 in YAML 1.1: converting it back would be wrong.
        raise GenSecretError(
            f"must be a string, not {_describe(value)}; put it in quotes", reader.where(path)
        )
    return value


def _credentials(reader: _Reader, path: Path) -> Credentials | None:
    username = _secret_text(reader, (*path, "username"))
    password = _secret_text(reader, (*path, "password"))
    if not username and not password:
        return None
    if not username:
        raise GenSecretError(
            "password is set but username is not", reader.where((*path, "password"))
        )
    check_username(username, reader.where((*path, "username")))
    return Credentials(username, password or "")


def check_username(username: str, where: Location | str) -> None:
    """The kubelet splits `auth` at the first colon, so a username cannot hold one."""
    if ":" in username:
        raise GenSecretError("username must not contain ':'", where)
    if any(ch in username for ch in "\r\n"):
        raise GenSecretError("username must be a single line", where)


def check_domain(domain: str, where: Location | str) -> str:
    """A registry domain: a host name or IP address, with no scheme, port or path."""
    if "://" in domain:
        raise GenSecretError("domain must not contain a scheme such as https://", where)
    if "/" in domain:
        raise GenSecretError("domain must not contain a path or '/'", where)
    if any(ch.isspace() for ch in domain):
        raise GenSecretError("domain must not contain spaces", where)
    if ":" in domain and not _is_ip(domain):
        raise GenSecretError("domain must not contain a port: set port separately", where)
    if not (_is_ip(domain) or (len(domain) <= 253 and _HOSTNAME.fullmatch(domain))):
        raise GenSecretError("domain is not a valid host name or IP address", where)
    return domain


def _is_ip(text: str) -> bool:
    if _IPV4.fullmatch(text):
        return all(int(part) <= 255 for part in text.split("."))
    if ":" not in text:
        return False
    import ipaddress  # IPv6 is rare here: only such files pay for the import

    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _port(reader: _Reader, path: Path, default: int | None, *, quoted: bool = False) -> int | None:
    port_path = (*path, "port")
    value = reader.get(port_path, object, None)
    # Go cannot tell `port: 0` from no port, so sealer's decoder gives both the default.
    if value is None or (value == 0 and not isinstance(value, bool)):
        return default
    if isinstance(value, str) and quoted:
        # The legacy registry.yml often quotes its port.
        # ASCII only: str.isdigit() also holds for superscripts (which int() rejects) and for
        # other scripts' digits (which int() reads, and sealer's Go code would not).
        value = int(value) if value.isascii() and value.isdigit() else value
    if not isinstance(value, int) or isinstance(value, bool):
        raise _type_error(reader.where(port_path), value, int)
    if not 1 <= value <= 65535:
        raise GenSecretError("port must be between 1 and 65535", reader.where(port_path))
    return value


def _string_list(reader: _Reader, path: Path) -> tuple[str, ...]:
    values = reader.get(path, list, [])
    for i, item in enumerate(values):
        if not isinstance(item, str):
            raise _type_error(reader.where((*path, i)), item, str)
    return tuple(values)


def _warn_unknown(reader: _Reader, path: Path, known: set[str]) -> None:
    section = reader.get(path, dict, {})
    for key in sorted(map(str, section)):
        if key in known:
            continue
        # sealer ignores unknown fields too, but a typo here (`pasword`) loses credentials.
        if _FIELD_NAME.fullmatch(key):
            reader.warn("unknown field, ignored", (*path, key))
            continue
        # Not a word: in a flow mapping `password:S3cret` or `password S3cret` (no ': ') or a
        # bare `S3cret` is a key, so its text may be the password and is never shown.
        where = reader.where((*path, key))
        reader.warnings.append(
            "a key that is not a field name, ignored (not shown: it may hold a value; "
            f"is ': ' missing after a field?) ({Location(dotted(path), where.source, where.line)})"
        )


def _local(reader: _Reader, path: Path, *, legacy_text: bool = False) -> RegistryEndpoint:
    if legacy_text:
        reader = _legacy_reader(reader, path)
        path = ()
    else:
        _warn_unknown(reader, path, _LOCAL_KEYS)
    domain = reader.get((*path, "domain"), str, "") or DEFAULT_DOMAIN
    check_domain(domain, reader.where((*path, "domain")))
    port = _port(reader, path, DEFAULT_PORT, quoted=legacy_text)
    cert_path = (*path, "cert", "subjectAltName")
    reader.get((*path, "cert"), dict, {})
    reader.get(cert_path, dict, {})
    dns_names = _string_list(reader, (*cert_path, "dnsNames"))
    ips = _string_list(reader, (*cert_path, "ips"))
    for i, name in enumerate(dns_names):
        # A certificate's DNS name may be a wildcard in its first label.
        check_domain(name.removeprefix("*."), reader.where((*cert_path, "dnsNames", i)))
    for i, ip in enumerate(ips):
        if not _is_ip(ip):
            raise GenSecretError("not an IP address", reader.where((*cert_path, "ips", i)))
    return RegistryEndpoint(
        "local",
        domain,
        port,
        _credentials(reader, path),
        ha=reader.get((*path, "ha"), bool, True),
        insecure=reader.get((*path, "insecure"), bool, False),
        san_dns_names=dns_names,
        san_ips=ips,
    )


def _external(reader: _Reader, path: Path) -> RegistryEndpoint:
    _warn_unknown(reader, path, _EXTERNAL_KEYS)
    domain = reader.get((*path, "domain"), str, "")
    if not domain:
        raise GenSecretError(
            "external registry domain can not be empty", reader.where((*path, "domain"))
        )
    check_domain(domain, reader.where((*path, "domain")))
    port = _port(reader, path, None)
    return RegistryEndpoint("external", domain, port, _credentials(reader, path))


def _legacy_registry_config(documents: list[Document]) -> Document | None:
    for document in documents:
        value = document.value
        spec = value.get("spec") if _kind(document) == "Config" else None
        if isinstance(spec, dict) and spec.get("path") == LEGACY_REGISTRY_CONFIG:
            return document
    return None


def _legacy_reader(reader: _Reader, path: Path) -> _Reader:
    # sealer <= 0.8 kept the registry in a Config whose spec.data is YAML text of its own.
    text = reader.get(path, str, "")
    outer = reader.document
    if path in outer.block_scalars:
        offset = outer.lines.get(path, 0) + outer.line_offset
        inner = load_all(text, outer.source, line_offset=offset)
    else:
        inner = load_all(text, f"{outer.source} ({dotted(path)})")
    document = inner[0] if inner else Document({}, reader.document.source, {})
    if document.value is None:
        document = Document({}, document.source, {})
    if not isinstance(document.value, dict):
        raise GenSecretError("must be YAML text holding a mapping", reader.where(path))
    legacy = _Reader(document)
    legacy.warnings = reader.warnings
    return legacy


_ENV_KEYS: dict[str, Callable[[Cluster], str | None]] = {
    "LocalRegistryDomain": lambda c: c.local.domain if c.local else None,
    "LocalRegistryPort": lambda c: str(c.local.port) if c.local else None,
    "LocalRegistryURL": lambda c: c.local.url if c.local else None,
    "ExternalRegistryDomain": lambda c: c.external.domain if c.external else None,
    # sealer formats this one with %d, so no port reads "0"; RegistryPort below reads "".
    "ExternalRegistryPort": lambda c: str(c.external.port or 0) if c.external else None,
    "ExternalRegistryURL": lambda c: c.external.url if c.external else None,
    "RegistryDomain": lambda c: (c.external or c.registry).domain,
    "RegistryPort": lambda c: str((c.external or c.registry).port or ""),
    "RegistryURL": lambda c: (c.external or c.registry).url,
}


def _check_env(reader: _Reader, cluster: Cluster) -> None:
    # sealer derives these env values from spec.registry and drops the user's own; a mismatch
    # means the file was edited by hand and may not do what its author thinks.
    env = reader.get(("spec", "env"), list, [])
    for i, entry in enumerate(env):
        if not isinstance(entry, str) or "=" not in entry:
            continue
        key, _, value = entry.partition("=")
        derive = _ENV_KEYS.get(key)
        if derive is None:
            continue
        expected = derive(cluster)
        if expected is not None and value != expected:
            reader.warn(
                f"spec.env {key}={value} disagrees with spec.registry ({expected}); "
                "sealer uses spec.registry",
                ("spec", "env", i),
            )
