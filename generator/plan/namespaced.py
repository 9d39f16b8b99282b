"""Objects repeated in many namespaces, held as one set of objects and a list of names."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, overload

if TYPE_CHECKING:
    from generator.plan.objects import KubeObject, SecretObject, ServiceAccountObject


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class PerNamespace(Sequence["KubeObject"]):
    """`objects` in each of `namespaces`, in that order, namespace by namespace.

    A fan-out to 50,000 namespaces would otherwise be 100,000 objects that differ only in
    their namespace. Here they are made one at a time when someone iterates; the renderer
    needs only `objects` and the names (see stamping.py).
    """

    namespaces: tuple[str, ...]
    # Each object with an empty namespace; the same in every namespace but for it.
    objects: tuple[SecretObject | ServiceAccountObject, ...]
    # Namespaces that take only some of `objects`, by index: the Secret's own namespace
    # needs no pull copy, a namespace that is only patched needs no ServiceAccounts.
    exceptions: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def indexes(self, namespace: str) -> tuple[int, ...]:
        """Which of `objects` this namespace takes."""
        return self.exceptions.get(namespace, self.every)

    @functools.cached_property
    def every(self) -> tuple[int, ...]:
        """What most namespaces take: all of `objects`."""
        return tuple(range(len(self.objects)))

    @functools.cached_property
    def _count(self) -> int:
        every = len(self.objects) * (len(self.namespaces) - len(self.exceptions))
        return every + sum(len(group) for group in self.exceptions.values())

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[KubeObject]:
        for namespace in self.namespaces:
            for index in self.indexes(namespace):
                yield replace(self.objects[index], namespace=namespace)

    @overload
    def __getitem__(self, index: int) -> KubeObject: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[KubeObject]: ...
    def __getitem__(self, index: int | slice) -> KubeObject | Sequence[KubeObject]:
        return self._materialised[index]  # rare: tests, and code that wants one object

    @functools.cached_property
    def _materialised(self) -> tuple[KubeObject, ...]:
        return tuple(self)
