"""Parse the fan-out options: target namespaces, workloads to patch, registry aliases."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass

from generator.errors import GenSecretError, Location, UsageError
from generator.model.clusterfile import check_domain
from generator.model.names import check_namespace, check_object_name, is_dns_label
from generator.plan.objects import WORKLOADS

# What users type for a kind, as kubectl accepts it: singular, plural and short names.
_KIND_ALIASES = {
    **{kind: kind for kind in WORKLOADS},
    **{f"{kind}s": kind for kind in WORKLOADS},
    "deploy": "deployment",
    "sts": "statefulset",
    "ds": "daemonset",
    "rs": "replicaset",
    "cj": "cronjob",
    "po": "pod",
}
_ALIAS = re.compile(r"(?P<host>[^:\[\]]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]+))?")


@dataclass(frozen=True)
class PatchTarget:
    """A workload to patch: `[NAMESPACE/]KIND/NAME`."""

    namespace: str
    kind: str
    name: str


def parse_namespace_lines(text: str, source: str) -> list[str]:
    """Namespaces one a line; `namespace/NAME` (from `kubectl get ns -o name`) is accepted too.

    Blank lines and `#` comments are ignored; a bad name is an error that names its line.
    """
    names: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name = line.removeprefix("namespace/")
        if not is_dns_label(name):  # the check again, to say where: 50,000 lines are common
            check_namespace(name, Location("", source, number))
        names.append(name)
    return names


def target_namespaces(
    namespaces: Iterable[str], excludes: Iterable[str], where: str = "--pull-namespace"
) -> tuple[str, ...]:
    """The namespaces to fan out to: validated, deduplicated, sorted, minus the excluded globs."""
    patterns = tuple(excludes)
    names = tuple(namespaces)
    for name in names:  # in order: the first bad one is the one named
        if not is_dns_label(name):
            check_namespace(name, where)
    selected = set(names)
    if patterns:
        selected = {n for n in selected if not any(fnmatch.fnmatchcase(n, p) for p in patterns)}
    return tuple(sorted(selected))


def parse_patch_target(text: str, default_namespace: str) -> PatchTarget:
    """`[NAMESPACE/]KIND/NAME`, KIND as kubectl spells it (`deployment`, `deploy`)."""
    parts = text.split("/")
    if len(parts) == 2:
        namespace, (kind, name) = default_namespace, parts
    elif len(parts) == 3:
        namespace, kind, name = parts
    else:
        raise UsageError(f"--patch {text!r}: expected [NAMESPACE/]KIND/NAME")
    canonical = _KIND_ALIASES.get(kind.lower())
    if canonical is None:
        kinds = ", ".join(WORKLOADS)
        raise UsageError(f"--patch {text!r}: kind {kind!r} is not one of {kinds}")
    check_namespace(namespace, f"--patch {text}")
    check_object_name(name, f"--patch {text}")
    return PatchTarget(namespace, canonical, name)


def parse_alias(text: str) -> str:
    """`HOST[:PORT]`, where HOST may use `*` for whole labels as the kubelet allows."""
    match = _ALIAS.fullmatch(text)
    if match is None:
        raise GenSecretError("expected HOST or HOST:PORT", f"--alias {text}")
    host, port = match.group("host"), match.group("port")
    # `*` is a glob for one label (the kubelet's filepath.Match); check the rest as a host name.
    check_domain(host.strip("[]").replace("*", "x"), f"--alias {text}")
    if port is not None and not 1 <= int(port) <= 65535:
        raise GenSecretError("port must be between 1 and 65535", f"--alias {text}")
    return text
