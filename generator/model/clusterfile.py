"""Read a sealer Clusterfile (or its ConfigMap wrapper) into frozen, validated dataclasses."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

from generator.errors import GenSecretError, Location, UsageError
from generator.model import sealer_types as types
from generator.model.godecode import decode_document, describe, ip_problem, is_go_ip
from generator.model.safeyaml import Document, Path, decode, dotted, load_stream

# Which sealer wrote a Cluster, by its apiVersion (see `Era`). sealer itself never refuses a
# Cluster for its apiVersion, and neither does gen-secret: an unknown one is read as v2.
LEGACY_API_VERSIONS = ("sealer.aliyun.com/v1alpha1", "zlink.aliyun.com/v1alpha1")
V1_SHAPE_API_VERSION = "zlink.aliyun.com/v1alpha1"
# Written on both sides of sealer 0.9: the file itself says which (a spec.registry is 0.9's).
TRANSITIONAL_API_VERSIONS = ("sealer.cloud/v2", "sealer.aliyun.com/v2alpha1")
# What sealer 0.9 and later wrote; any other apiVersion is read as they read it, with a note.
CURRENT_API_VERSIONS = ("sealer.io/v2", "sealer.io/v1", "sealer.io/v1alpha1")
DEFAULT_DOMAIN = "sea.hub"
DEFAULT_PORT = 5000
DEFAULT_DATA_ROOT = "/var/lib/sealer/data"
LEGACY_REGISTRY_CONFIG = "etc/registry.yml"

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_LOCAL_KEYS = frozenset(types.LOCAL_REGISTRY.fields)
_EXTERNAL_KEYS = frozenset(types.EXTERNAL_REGISTRY.fields)
_REGISTRY_KEYS = frozenset({"localRegistry", "externalRegistry"})
# What an unknown key must look like to be named in a warning: a word, as sealer's fields are.
# Text until a warning needs it: compiling a pattern costs every start.
_FIELD_NAME = r"[A-Za-z]{1,40}"

RegistryRole = Literal["local", "external"]
# legacy: sealer 0.8 and earlier (one registry on the first master, credentials only from an
# etc/registry.yml Config); current: sealer 0.9 and later (spec.registry with its defaults).
Era = Literal["legacy", "current"]
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

    name: str  # empty when the Cluster has no metadata.name, which sealer allows
    api_version: str
    data_root: str
    local: RegistryEndpoint | None
    external: RegistryEndpoint | None
    source: str
    warnings: tuple[str, ...] = ()
    era: Era = "current"
    notes: tuple[str, ...] = ()

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


def read_clusterfile(data: bytes, source: str, cluster_name: str | None = None) -> Cluster:
    """Parse the bytes of a Clusterfile, or of the sealer-clusterfile ConfigMap, into a Cluster.

    `cluster_name` picks one of several Cluster documents by metadata.name.
    """
    text = decode(data, source)
    if not _OTHER_SEPARATORS.search(text):
        return parse_cluster(_read_stream(text, source, False), source, cluster_name)
    # sealer 0.9 and later also split at `--- # comment` lines, and refuse other text after
    # ---; 0.8 did neither. Such a file is read both ways; the era of its first Cluster says
    # which reading is sealer's.
    failure: GenSecretError | None = None
    try:
        legacy = _read_stream(text, source, False)
        if _first_era(legacy) != "current":
            return parse_cluster(legacy, source, cluster_name)
    except GenSecretError as exc:
        failure = exc
    current = _read_stream(text, source, True)
    if failure is not None and _first_era(current) == "legacy":
        raise failure
    return parse_cluster(current, source, cluster_name)


def _read_stream(text: str, source: str, comment_separators: bool) -> list[Document]:
    documents = load_stream(text, source, comment_separators=comment_separators)
    return _unwrap_configmap(documents, source, comment_separators=comment_separators)


# A line that starts with --- and holds more: where sealer 0.8 and 0.9 split differently.
_OTHER_SEPARATORS = re.compile(r"^---.*\S", re.MULTILINE)


def _first_era(documents: list[Document]) -> Era | None:
    clusters = [d for d in documents if _kind(d) == "Cluster"]
    if not clusters:
        return None
    return era_of(_text_field(clusters[0], "apiVersion"), any(_has_registry(d) for d in clusters))


def _unwrap_configmap(
    documents: list[Document], source: str, *, comment_separators: bool = False
) -> list[Document]:
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
        offset = wrapper.lines.get(path, 0)
        return load_stream(body, source, offset, comment_separators=comment_separators)
    return load_stream(body, f"{source} (data.Clusterfile)", comment_separators=comment_separators)


def _kind(document: Document) -> object:
    return document.value.get("kind") if isinstance(document.value, dict) else None


def era_of(api_version: str, has_registry: bool) -> Era:
    """Which sealer a Cluster was written for, from its apiVersion (and, where that was used by
    both eras, from whether it has a spec.registry, which only sealer 0.9 and later read)."""
    if api_version in LEGACY_API_VERSIONS:
        return "legacy"
    if api_version in TRANSITIONAL_API_VERSIONS and not has_registry:
        return "legacy"
    return "current"


def parse_cluster(
    documents: list[Document], source: str, cluster_name: str | None = None
) -> Cluster:
    """Find the Cluster that sealer would take and derive its registries as that sealer does."""
    if not documents or all(d.value is None for d in documents):
        raise GenSecretError("empty file: no kind: Cluster document", source)
    kinds: list[tuple[str, Document]] = []
    for document in documents:
        if document.value is None:
            continue
        if not isinstance(document.value, dict):
            kind = "list" if isinstance(document.value, list) else "scalar"
            raise GenSecretError(f"top level must be a mapping, not a {kind}", document.where(()))
        meta = decode_document(document, types.TYPE_META).value
        kinds.append((meta.get("kind") or "", document))
    clusters = [d for kind, d in kinds if kind == "Cluster"]
    if not clusters:
        raise GenSecretError("no kind: Cluster document", source)
    first_version = _text_field(clusters[0], "apiVersion")
    era = era_of(first_version, any(_has_registry(d) for d in clusters))
    # sealer 0.8 stops at the first Cluster; 0.9 and later decode them all and keep the last.
    read = clusters[:1] if era == "legacy" and cluster_name is None else clusters
    decoded = [(raw, _decode_cluster(raw, era)) for raw in read]
    for kind, document in kinds:
        _check_other_kind(kind, document, era)
    (raw, chosen), notes = _choose(decoded, len(clusters), era, cluster_name, source)
    reader = _Reader(chosen)
    api_version = reader.get(("apiVersion",), str, "")
    name = reader.get(("metadata", "name"), str, "")
    data_root = reader.get(("spec", "dataRoot"), str, "") or DEFAULT_DATA_ROOT
    configs = [decode_document(d, types.CONFIG) for kind, d in kinds if kind == "Config"]
    legacy = _legacy_registry_config(configs)
    if api_version not in (*LEGACY_API_VERSIONS, *TRANSITIONAL_API_VERSIONS, *CURRENT_API_VERSIONS):
        notes.append(
            f"apiVersion {_shown(api_version)} is not one sealer wrote; "
            "read as sealer 0.9 and later read any Cluster (the v2 shape)"
        )
    local: RegistryEndpoint | None
    external: RegistryEndpoint | None
    if era == "legacy":
        local, external = _legacy_registries(reader, raw, legacy)
    else:
        local, external = _current_registries(reader, raw, legacy)
    cluster = Cluster(
        name, api_version, data_root, local, external, source, era=era, notes=tuple(notes)
    )
    if era == "current":
        _check_env(reader, cluster)
    _warn_duplicates(reader, raw)
    return replace(cluster, warnings=tuple(reader.warnings))


def _text_field(document: Document, key: str) -> str:
    value = document.value.get(key)
    return value if isinstance(value, str) else ""


def _has_registry(document: Document) -> bool:
    spec = document.value.get("spec")
    registry = spec.get("registry") if isinstance(spec, dict) else None
    return isinstance(registry, dict) and bool(
        registry.get("localRegistry") or registry.get("externalRegistry")
    )


def _decode_cluster(document: Document, era: Era) -> Document:
    if era == "current":
        decoded = decode_document(document, types.CLUSTER_V2)
        _check_and_fill(_Reader(decoded))
        return decoded
    if _text_field(document, "apiVersion") == V1_SHAPE_API_VERSION:
        return decode_document(document, types.CLUSTER_V1)
    return decode_document(document, types.CLUSTER_V2_LEGACY)


def _check_other_kind(kind: str, document: Document, era: Era) -> None:
    # sealer decodes these kinds too, and a file whose Config or Application it cannot decode
    # is a file it refuses.
    if kind == "Config":
        config = decode_document(document, types.CONFIG)
        if era == "current":
            reader = _Reader(config)
            for field_name in ("path", "data"):
                if not reader.get(("spec", field_name), str, ""):
                    raise GenSecretError(
                        f"a Config needs spec.{field_name} (sealer refuses one without it)",
                        config.where(("spec", field_name)),
                    )
    elif kind == "Plugin":
        decode_document(document, types.PLUGIN)
    elif kind == "Application" and era == "current":
        _check_application(decode_document(document, types.APPLICATION))


def _check_application(application: Document) -> None:
    configs = _Reader(application).get(("spec", "configs"), list, [])
    for i, config in enumerate(configs):
        path: Path = ("spec", "configs", i)
        if not isinstance(config, dict) or not config.get("name"):
            raise GenSecretError("an application config needs a name", application.where(path))
        launch = config.get("launch")
        if launch is not None and not launch.get("cmds"):
            raise GenSecretError("launch needs cmds", application.where((*path, "launch")))
        for j, file in enumerate(config.get("files") or ()):
            for field_name in ("data", "path"):
                if not (file or {}).get(field_name):
                    raise GenSecretError(
                        f"an application file needs {field_name}",
                        application.where((*path, "files", j, field_name)),
                    )


def _choose(
    decoded: list[tuple[Document, Document]],
    count: int,
    era: Era,
    wanted: str | None,
    source: str,
) -> tuple[tuple[Document, Document], list[str]]:
    """The (as written, as decoded) Cluster to use, and a note when others were left aside."""
    names = [_Reader(d).get(("metadata", "name"), str, "") for _, d in decoded]
    if wanted is not None:
        matches = [pair for pair, name in zip(decoded, names, strict=True) if name == wanted]
        if not matches:
            known = ", ".join(_shown(n) for n in names if n) or "none has a name"
            raise UsageError(f"no Cluster named {_shown(wanted)} in {source} ({known})")
        if len(matches) > 1:
            raise GenSecretError(f"more than one Cluster named {_shown(wanted)}", source)
        return matches[0], []
    if count == 1:
        return decoded[0], []
    chosen = decoded[0] if era == "legacy" else decoded[-1]
    which = "the first, as sealer 0.8 did" if era == "legacy" else "the last, as sealer 0.9 does"
    name = _Reader(chosen[1]).get(("metadata", "name"), str, "")
    label = f"Cluster {_shown(name)}" if name else "the unnamed Cluster"
    return chosen, [
        f"{count} Cluster documents: using {label} ({which}); the others are "
        "ignored (--cluster NAME picks one)"
    ]


def _shown(text: str) -> str:
    """A name from the file, quoted and cut short, with control characters escaped."""
    short = text if len(text) <= 60 else f"{text[:60]}…"
    return repr(short)


def _legacy_registries(
    reader: _Reader, raw: Document, legacy: Document | None
) -> tuple[RegistryEndpoint, RegistryEndpoint | None]:
    if _has_registry(raw):
        reader.warn(
            f"spec.registry is ignored: sealer 0.8 and earlier did not read it (apiVersion "
            f"{_shown(reader.get(('apiVersion',), str, ''))}); they read {LEGACY_REGISTRY_CONFIG}"
        )
    if legacy is None:
        return RegistryEndpoint("local", DEFAULT_DOMAIN, DEFAULT_PORT), None
    config = _Reader(legacy)
    config.warnings = reader.warnings  # one list: the Secret's warnings
    return _local(config, ("spec", "data"), legacy_text=True), None


def _current_registries(
    reader: _Reader, raw: Document, legacy: Document | None
) -> tuple[RegistryEndpoint | None, RegistryEndpoint | None]:
    if legacy is not None:
        reader.warn(
            f"ignoring the {LEGACY_REGISTRY_CONFIG} Config: sealer 0.9 and later do not read it"
        )
    _warn_unknown_registry_keys(reader, raw)
    local_raw = reader.get(("spec", "registry", "localRegistry"), dict, None)
    external_raw = reader.get(("spec", "registry", "externalRegistry"), dict, None)
    if local_raw is None and external_raw is None:
        # sealer's decoder: with no registry at all, localRegistry becomes {} with defaults.
        return RegistryEndpoint("local", DEFAULT_DOMAIN, DEFAULT_PORT, ha=True), None
    local = external = None
    if local_raw is not None:
        local = _local(reader, ("spec", "registry", "localRegistry"))
    if external_raw is not None:
        external = _external(reader, ("spec", "registry", "externalRegistry"))
    return local, external


def _check_and_fill(reader: _Reader) -> None:
    """What sealer 0.9's checkAndFillCluster refuses."""
    external = reader.get(("spec", "registry", "externalRegistry"), dict, None)
    if external is not None and not external.get("domain"):
        raise GenSecretError(
            "external registry domain can not be empty",
            reader.where(("spec", "registry", "externalRegistry", "domain")),
        )
    env = reader.get(("spec", "env"), list, [])
    values = {}
    for i, entry in enumerate(env):
        key, sep, value = str(entry).partition("=")
        if sep:
            values[key] = (value, i)
    svc_cidr, index = values.get("SvcCIDR", ("", 0))
    if svc_cidr and not _svc_cidr_fits(svc_cidr.split(",")[0]):
        raise GenSecretError(
            "SvcCIDR must start with a CIDR that holds at least 11 addresses (sealer takes the "
            "1st for the API server and the 10th for DNS)",
            reader.where(("spec", "env", index)),
        )


def _svc_cidr_fits(text: str) -> bool:
    import ipaddress  # only a file that sets SvcCIDR pays for the import

    address, slash, prefix = text.partition("/")
    if not slash or not prefix.isascii() or not prefix.isdigit() or not is_go_ip(address):
        return False
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return network.num_addresses > 10


def _warn_unknown_registry_keys(reader: _Reader, raw: Document) -> None:
    """Warn of keys in spec.registry that sealer ignores: a typo there (`pasword`) loses
    credentials. Read from the file as written, since decoding keeps only known fields."""
    sections: list[tuple[Path, frozenset[str]]] = [(("spec", "registry"), _REGISTRY_KEYS)]
    sections += [(("spec", "registry", k), _LOCAL_KEYS) for k in ("localRegistry",)]
    sections += [(("spec", "registry", k), _EXTERNAL_KEYS) for k in ("externalRegistry",)]
    for path, known in sections:
        found = _find_raw(raw.value, path)
        if found is None:
            continue
        value, raw_path = found
        folded = {k.lower() for k in known}
        for key in sorted(map(str, value)):
            if key in known or key.lower() in folded:
                continue
            # sealer ignores unknown fields too, but says nothing; a typo here loses credentials.
            if re.fullmatch(_FIELD_NAME, key):
                reader.warnings.append(f"unknown field, ignored ({raw.where((*raw_path, key))})")
                continue
            # Not a word: in a flow mapping `password:S3cret` or `password S3cret` (no ': ') or
            # a bare `S3cret` is a key, so its text may be the password and is never shown.
            where = raw.where((*raw_path, key))
            reader.warnings.append(
                "a key that is not a field name, ignored (not shown: it may hold a value; "
                f"is ': ' missing after a field?) "
                f"({Location(dotted(path), where.source, where.line)})"
            )


def _find_raw(value: Any, path: Path) -> tuple[dict[Any, Any], Path] | None:
    """Follow field names as Go's JSON decoder does (exact, else ignoring case)."""
    raw_path: Path = ()
    for part in path:
        if not isinstance(value, dict):
            return None
        keys = [k for k in value if str(k) == part] or [
            k for k in sorted(value, key=str) if str(k).lower() == str(part).lower()
        ]
        if not keys:
            return None
        value = value[keys[-1]]
        raw_path = (*raw_path, keys[-1])
    return (value, raw_path) if isinstance(value, dict) else None


def _warn_duplicates(reader: _Reader, raw: Document) -> None:
    for path in raw.duplicate_keys:
        key = str(path[-1]) if path else ""
        named = bool(re.fullmatch(_FIELD_NAME, key))
        shown = dotted(path) if named else dotted(path[:-1]) or "top level"
        line = raw.lines.get(path)
        where = Location(shown, raw.source, line + raw.line_offset if line else None)
        what = "key" if named else "key (not shown: it may hold a value)"
        reader.warnings.append(
            f"duplicate {what}: the last value wins, as sealer reads it ({where})"
        )


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
    got = describe(value)
    return GenSecretError(f"must be {_TYPE_NAMES.get(kind, kind.__name__)}, not {got}", where)


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
            f"must be a string, not {describe(value)}; put it in quotes", reader.where(path)
        )
    return value


def _credentials(reader: _Reader, path: Path) -> Credentials | None:
    username = _secret_text(reader, (*path, "username"))
    password = _secret_text(reader, (*path, "password"))
    if not username and not password:
        return None
    if not username:
        # sealer turns on authentication only when both are set: this registry has none.
        reader.warn(
            "password is set but username is not: sealer runs the registry without "
            "authentication, so the Secret carries no credentials",
            (*path, "password"),
        )
        return None
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
    if "%" in domain:
        # The kubelet ignores an auths key whose host carries an IPv6 zone id.
        raise GenSecretError("domain must not carry an IPv6 zone id (the part from '%')", where)
    if ":" in domain and not _is_ip(domain):
        raise GenSecretError("domain must not contain a port: set port separately", where)
    if not (_is_ip(domain) or (len(domain) <= 253 and _HOSTNAME.fullmatch(domain))):
        raise GenSecretError("domain is not a valid host name or IP address", where)
    return domain


def _is_ip(text: str) -> bool:
    return is_go_ip(text)


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


def _local(reader: _Reader, path: Path, *, legacy_text: bool = False) -> RegistryEndpoint:
    if legacy_text:
        legacy = _legacy_reader(reader, path)
        if legacy is None:
            return RegistryEndpoint("local", DEFAULT_DOMAIN, DEFAULT_PORT)
        reader, path = legacy, ()
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
            raise GenSecretError(ip_problem(ip), reader.where((*cert_path, "ips", i)))
    return RegistryEndpoint(
        "local",
        domain,
        port,
        _credentials(reader, path),
        # sealer 0.8 ran one registry, on the first master.
        ha=not legacy_text and reader.get((*path, "ha"), bool, True),
        insecure=reader.get((*path, "insecure"), bool, False),
        san_dns_names=dns_names,
        san_ips=ips,
    )


def _external(reader: _Reader, path: Path) -> RegistryEndpoint:
    domain = reader.get((*path, "domain"), str, "")
    if not domain:
        raise GenSecretError(
            "external registry domain can not be empty", reader.where((*path, "domain"))
        )
    check_domain(domain, reader.where((*path, "domain")))
    port = _port(reader, path, None)
    return RegistryEndpoint("external", domain, port, _credentials(reader, path))


def _legacy_registry_config(configs: list[Document]) -> Document | None:
    """The Config that writes etc/registry.yml into the image's rootfs, if any.

    sealer joins spec.path to the rootfs, so `./etc/registry.yml` and `/etc/registry.yml` are
    the same file, and with several such Configs the last one written is the one read.
    """
    found = None
    for config in configs:
        spec = config.value.get("spec") if isinstance(config.value, dict) else None
        path = spec.get("path") if isinstance(spec, dict) else None
        if isinstance(path, str) and _normalise(path) == LEGACY_REGISTRY_CONFIG:
            found = config
    return found


def _normalise(path: str) -> str:
    import posixpath  # only a Config pays for it

    return posixpath.normpath("/" + path).lstrip("/")


def _legacy_reader(reader: _Reader, path: Path) -> _Reader | None:
    """The etc/registry.yml text of a Config, read as sealer 0.8 read it.

    sealer 0.8 logged a registry.yml it could not read and went on with its default registry
    (sea.hub:5000, no credentials): None here, with a warning that says so.
    """
    text = reader.get(path, str, "")
    outer = reader.document
    try:
        if path in outer.block_scalars:
            offset = outer.lines.get(path, 0) + outer.line_offset
            inner = load_stream(text, outer.source, line_offset=offset)
        else:
            inner = load_stream(text, f"{outer.source} ({dotted(path)})")
        if inner and inner[0].value is not None and not isinstance(inner[0].value, dict):
            raise GenSecretError("must be YAML text holding a mapping", reader.where(path))
        document = inner[0] if inner and inner[0].value is not None else None
        if document is not None:
            document = decode_document(document, types.LEGACY_REGISTRY_FILE)
    except GenSecretError as exc:
        reader.warn(
            f"sealer 0.8 cannot read this {LEGACY_REGISTRY_CONFIG} ({exc}) and uses its default "
            f"registry {DEFAULT_DOMAIN}:{DEFAULT_PORT} without credentials; so does gen-secret"
        )
        return None
    legacy = _Reader(document if document is not None else Document({}, outer.source, {}))
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
