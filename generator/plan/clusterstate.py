"""What a cluster holds, from a dump: its Namespaces with their labels, and the pull secrets its
ServiceAccounts list. Read from `kubectl get namespaces,serviceaccounts -A -o yaml` (or
`-o json`), never from a live API, so a render stays reproducible."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from generator.errors import GenSecretError, Location, UsageError
from generator.model.names import check_namespace, check_object_name, shown
from generator.model.safeyaml import Document, decode, load_all

if TYPE_CHECKING:
    from generator.model.selector import Selector
    from generator.plan.context import RenderOptions

# What `kubectl get ... -o yaml` wraps objects in, and what the API's list calls return.
_LISTS = {"List", "NamespaceList", "ServiceAccountList"}
_KINDS = {"Namespace", "ServiceAccount"}


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class ClusterState:
    """Namespaces by name with their labels; ServiceAccounts' pull secrets by (namespace, name)."""

    namespaces: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    pull_secrets: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)


def read_cluster_state(inputs: Sequence[tuple[str, bytes]]) -> ClusterState:
    """Every dump, (display name, bytes), merged; an object found twice is an error."""
    namespaces: dict[str, dict[str, str]] = {}
    pull_secrets: dict[tuple[str, str], tuple[str, ...]] = {}
    seen: dict[tuple[str, str, str], Location] = {}
    for source, data in inputs:
        for document in load_all(decode(data, source), source):
            for item, path in _objects(document):
                kind, namespace, name = _identity(document, item, path)
                where = document.where(path)
                earlier = seen.setdefault((kind, namespace, name), where)
                if earlier is not where:
                    shown_name = f"{namespace}/{name}" if namespace else name
                    raise GenSecretError(
                        f"{kind} {shown_name} is in the cluster state twice, "
                        f"also at {_at(earlier)}",
                        where,
                    )
                if kind == "Namespace":
                    namespaces[name] = _labels(document, item, path)
                else:
                    pull_secrets[(namespace, name)] = _pull_secrets(document, item, path)
    return ClusterState(namespaces, pull_secrets)


def _objects(document: Document) -> Iterable[tuple[dict[str, Any], tuple[str | int, ...]]]:
    """The objects of one YAML document: a List's items, or the document itself."""
    value = document.value
    if value is None:  # an empty document, as `---` at the end leaves
        return
    if not isinstance(value, dict):
        raise GenSecretError("expected a Namespace, a ServiceAccount or a List", document.where(()))
    if value.get("kind") not in _LISTS:
        yield value, ()
        return
    items = value.get("items")
    if items is None:
        return
    if not isinstance(items, list):
        raise GenSecretError("must be a list", document.where(("items",)))
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise GenSecretError(
                "expected a Namespace or a ServiceAccount", document.where(("items", index))
            )
        yield item, ("items", index)


def _identity(
    document: Document, item: dict[str, Any], path: tuple[str | int, ...]
) -> tuple[str, str, str]:
    """(kind, namespace, name), checked: only v1 Namespaces and ServiceAccounts belong here."""
    kind = item.get("kind")
    if kind not in _KINDS or item.get("apiVersion") != "v1":
        found = f"{item.get('apiVersion')}/{kind}" if isinstance(kind, str) else "no kind"
        raise GenSecretError(
            f"expected a v1 Namespace or ServiceAccount, found {shown(found)}",
            document.where((*path, "kind")),
        )
    metadata = item.get("metadata")
    if not isinstance(metadata, dict):
        raise GenSecretError("must be a mapping", document.where((*path, "metadata")))
    name = _string(document, metadata.get("name"), (*path, "metadata", "name"))
    if kind == "Namespace":
        check_namespace(name, document.where((*path, "metadata", "name")))
        return kind, "", name
    check_object_name(name, document.where((*path, "metadata", "name")))
    namespace = _string(document, metadata.get("namespace"), (*path, "metadata", "namespace"))
    check_namespace(namespace, document.where((*path, "metadata", "namespace")))
    return kind, namespace, name


def _labels(
    document: Document, item: dict[str, Any], path: tuple[str | int, ...]
) -> dict[str, str]:
    labels = item["metadata"].get("labels")
    where = (*path, "metadata", "labels")
    if labels is None:
        return {}
    if not isinstance(labels, dict):
        raise GenSecretError("must be a mapping", document.where(where))
    for key, value in labels.items():
        _string(document, key, where)
        _string(document, value, (*where, key))
    return dict(labels)


def _pull_secrets(
    document: Document, item: dict[str, Any], path: tuple[str | int, ...]
) -> tuple[str, ...]:
    """The names a ServiceAccount lists, in its order; an entry without a name refers to
    nothing (the API allows `{}`), so it is left out."""
    entries = item.get("imagePullSecrets")
    where = (*path, "imagePullSecrets")
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise GenSecretError("must be a list", document.where(where))
    names: list[str] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise GenSecretError("must be a mapping", document.where((*where, index)))
        name = entry.get("name")
        if name is None or name == "":
            continue
        name = _string(document, name, (*where, index, "name"))
        check_object_name(name, document.where((*where, index, "name")))
        names.append(name)
    return tuple(dict.fromkeys(names))


def _string(document: Document, value: object, path: tuple[str | int, ...]) -> str:
    if not isinstance(value, str):
        raise GenSecretError(
            "missing" if value is None else "must be a string", document.where(path)
        )
    return value


def _at(where: Location) -> str:
    return f"{where.source}:{where.line}" if where.line else where.source


def select_namespaces(state: ClusterState, selector: Selector) -> tuple[str, ...]:
    """The dump's namespaces whose labels the selector matches, sorted."""
    return tuple(sorted(n for n, labels in state.namespaces.items() if selector.matches(labels)))


def from_request(
    options: RenderOptions, dumps: Sequence[tuple[str, bytes]], selector_text: str | None
) -> tuple[RenderOptions, tuple[str, ...]]:
    """The options with what the dumps say the ServiceAccounts list, and the namespaces the
    selector picks (none without one)."""
    from dataclasses import replace

    from generator.model.selector import parse_selector

    # The selector first: a command line that cannot work is answered before any file is read.
    selector = parse_selector(selector_text) if selector_text is not None else None
    if selector is not None and not dumps:
        raise UsageError("--namespace-selector needs --cluster-state FILE to find namespaces in")
    state = read_cluster_state(dumps)
    warnings = options.warnings
    selected: tuple[str, ...] = ()
    if selector is not None:
        selected = select_namespaces(state, selector)
        if not selected:
            warnings += (
                f"--namespace-selector {shown(selector.text)} matches none of the "
                f"{len(state.namespaces)} namespaces in the cluster state",
            )
    options = replace(options, existing_pull_secrets=state.pull_secrets, warnings=warnings)
    return options, selected
