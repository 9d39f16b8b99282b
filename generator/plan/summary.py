"""What `render` would put in the Secret, summarised for people, with the password masked."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from generator.model.ca import candidate_paths
from generator.model.clusterfile import Cluster
from generator.plan.context import RenderOptions, build_context, secret_entries

if TYPE_CHECKING:
    from generator.model.authsources import Entry

# Always the same, whatever the password's length: the mask must not reveal anything.
PASSWORD_MASK = "********"  # noqa: S105 - a mask, not a password


def secret_auths(cluster: Cluster, options: RenderOptions) -> dict[str, Entry]:
    """The `auths` entries of `.dockerconfigjson`, from the code that renders it."""
    return secret_entries(cluster, options).entries


@dataclass(frozen=True)
class RegistrySummary:
    """One registry of the cluster, and what the Secret says about it."""

    role: str
    url: str
    tls: bool
    ha: bool | None  # None for an external registry: sealer does not run it
    main: bool  # the registry the Secret's domain, url and credentials describe
    in_auths: bool


@dataclass(frozen=True)
class CaSummary:
    """The CA certificate render would add as `ca.crt`, or why there is none."""

    file: str | None
    status: str  # "found", "given", "insecure" or "none"
    searched: tuple[str, ...] = ()


@dataclass(frozen=True)
class Summary:
    """Everything render would put in the Secret, with no secret in it."""

    cluster: str
    source: str
    secret_name: str
    secret_namespace: str
    registry: str
    registries: tuple[RegistrySummary, ...]
    ca: CaSummary
    username: str | None
    password: str | None  # PASSWORD_MASK when set, "" when empty, None without credentials
    auths: tuple[str, ...]
    data_keys: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    read_as: str = ""
    # Where each auths key comes from, for keys that are not the Clusterfile's own.
    auth_sources: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict[str, object]:
        """The JSON shape of `inspect --output json`."""
        return {
            "cluster": self.cluster,
            "source": self.source,
            "secret": {
                "name": self.secret_name,
                "namespace": self.secret_namespace,
                "dataKeys": list(self.data_keys),
            },
            "registry": self.registry,
            "registries": [
                {
                    "role": r.role,
                    "url": r.url,
                    "tls": r.tls,
                    "ha": r.ha,
                    "main": r.main,
                    "inAuths": r.in_auths,
                }
                for r in self.registries
            ],
            "ca": {
                "file": self.ca.file,
                "status": self.ca.status,
                "searched": list(self.ca.searched),
            },
            "username": self.username,
            "password": self.password,
            "auths": list(self.auths),
            "authSources": dict(self.auth_sources),
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "readAs": self.read_as,
        }


def summarise(
    cluster: Cluster,
    options: RenderOptions,
    *,
    ca_file: Path | None = None,
    ca_root: Path = Path("/"),
) -> Summary:
    """The summary of the Secret render would write for `cluster` with these options.

    `ca_file` is the command line's --ca-file, `ca_root` where sealer's CA files were looked for.
    """
    from generator.model.authsources import CLUSTERFILE

    context = build_context(cluster, options)
    registry = context.registry
    entries = secret_entries(cluster, options)
    keys = tuple(sorted(entries.entries))
    registries = tuple(
        RegistrySummary(
            role=r.role,
            url=r.url,
            tls=not r.insecure,
            ha=r.ha if r.role == "local" else None,
            main=r.role == registry.role,
            in_auths=r.url in keys,
        )
        for r in cluster.registries
    )
    credentials = registry.credentials
    password = None
    if credentials is not None:
        password = PASSWORD_MASK if credentials.password else ""
    secret = context.main_secret
    return Summary(
        cluster=cluster.name,
        source=cluster.source,
        secret_name=secret.name,
        secret_namespace=secret.namespace,
        registry=registry.url,
        registries=registries,
        ca=_ca(cluster, options, ca_file, ca_root),
        username=credentials.username if credentials else None,
        password=password,
        auths=keys,
        data_keys=tuple(key for key, _ in secret.data),
        warnings=context.warnings,
        notes=context.terminal_notes,
        read_as=read_as(cluster),
        auth_sources=tuple(
            (key, entries.sources[key]) for key in keys if entries.sources[key] != CLUSTERFILE
        ),
    )


def read_as(cluster: Cluster) -> str:
    """Which sealer's rules gen-secret followed for this Clusterfile, in words."""
    era = "sealer 0.8 and earlier" if cluster.era == "legacy" else "sealer 0.9 and later"
    return f"{era} (apiVersion {cluster.api_version or 'none'})"


def _ca(cluster: Cluster, options: RenderOptions, ca_file: Path | None, ca_root: Path) -> CaSummary:
    if ca_file is not None:
        return CaSummary(str(ca_file), "given")
    if options.ca is not None:
        return CaSummary(options.ca.source, "found")
    if cluster.registry.insecure:
        return CaSummary(None, "insecure")
    searched = candidate_paths(cluster, cluster.registry, ca_root)
    return CaSummary(None, "none", tuple(str(p) for p in searched))
