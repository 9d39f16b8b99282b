"""Every `auths` entry of the Secret and where it came from: the Clusterfile, the previous
login while the registry's password is rotated, and entries merged from other docker configs.

The kubelet keeps every credential whose key matches an image and tries them in turn
(`pkg/credentialprovider/keyring.go`: "This allows for rotation"). `sea.hub:5000` and
`https://sea.hub:5000` are two keys of the JSON but one key of its keyring, so the previous
login goes under the scheme-prefixed key and both serve exactly the same images.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from generator.errors import GenSecretError
from generator.model.clusterfile import Credentials

CLUSTERFILE = "Clusterfile"
PREVIOUS = "previous login (rotation)"
ROTATION_SCHEME = "https://"
# Which entry wins when a merged key is one the Clusterfile's registry also produces.
Override = Literal["clusterfile", "merged"]
OVERRIDES: tuple[Override, ...] = ("clusterfile", "merged")

# Field order of an entry, as kubectl writes it (username, password, email, auth) and then the
# token fields `docker login` may add, which the kubelet ignores but other clients read.
ENTRY_FIELDS = ("username", "password", "email", "auth", "identitytoken", "registrytoken")
SECRET_FIELDS = frozenset({"password", "auth", "identitytoken", "registrytoken"})


@dataclass(frozen=True)
class MergedEntry:
    """One `auths` entry taken from a --merge-auths file, its fields in the order to write."""

    key: str
    fields: tuple[tuple[str, str], ...] = field(repr=False)
    source: str

    @property
    def username(self) -> str | None:
        """The login the kubelet uses: `auth` wins over `username` when both are there."""
        values = dict(self.fields)
        if "auth" in values:
            decoded = base64.b64decode(values["auth"]).decode("utf-8", "replace")
            return decoded.partition(":")[0]
        return values.get("username")

    def same_as(self, other: MergedEntry) -> bool:
        return self.fields == other.fields


Entry = Credentials | MergedEntry | None


def entry_username(entry: Entry) -> str | None:
    """The username an entry logs in with, or None for an anonymous or token-only entry."""
    if entry is None:
        return None
    return entry.username or None


def is_anonymous(entry: Entry) -> bool:
    """No login the kubelet reads (it ignores tokens): it pulls without one for this entry."""
    if isinstance(entry, MergedEntry):
        return not {"username", "password", "auth"} & dict(entry.fields).keys()
    return entry is None


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class AuthEntries:
    """The `auths` map to write, each key's source, and what to tell the user about it."""

    entries: dict[str, Entry]
    sources: dict[str, str]
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def rotation_key(key: str) -> str:
    """The key that holds the previous login: the same registry, spelled with its scheme."""
    return ROTATION_SCHEME + key


def combine(
    base: Mapping[str, Credentials | None],
    registry_keys: Sequence[str],
    previous: Credentials | None = None,
    merged: Sequence[MergedEntry] = (),
    override: Override | None = None,
) -> AuthEntries:
    """The Clusterfile's entries, the previous login under each of `registry_keys` with its
    scheme, then the merged entries.

    A merged key that the Clusterfile (or the rotation) also produces is an error naming both
    sources, unless `override` says which wins; two merged files that disagree about one key
    are an error too. A merged key the kubelet reads as one of ours is a warning: both serve.
    """
    entries: dict[str, Entry] = dict(base)
    sources = dict.fromkeys(base, CLUSTERFILE)
    notes: list[str] = []
    warnings: list[str] = []
    if previous is not None:
        for key in registry_keys:
            entries[rotation_key(key)] = previous
            sources[rotation_key(key)] = PREVIOUS
    ours = set(entries)
    for entry in merged:
        key = entry.key
        earlier = entries.get(key)
        if isinstance(earlier, MergedEntry):
            if not earlier.same_as(entry):
                raise GenSecretError(
                    f"auths key {key!r} comes from both {earlier.source} and {entry.source}, "
                    "with different credentials; remove it from one of them"
                )
            continue
        if key in ours:
            if override is None:
                raise GenSecretError(
                    f"auths key {key!r} comes from both the {sources[key]} and {entry.source}; "
                    "--merge-auths-override clusterfile or merged says which one wins"
                )
            if override == "clusterfile":
                notes.append(f"auths key {key!r}: kept the {sources[key]}'s, not {entry.source}'s")
                continue
            notes.append(f"auths key {key!r}: {entry.source}'s replaces the {sources[key]}'s")
        entries[key] = entry
        sources[key] = entry.source
    warnings += _overlaps(ours, merged, sources)
    return AuthEntries(entries, sources, tuple(notes), tuple(warnings))


def _overlaps(ours: set[str], merged: Sequence[MergedEntry], sources: dict[str, str]) -> list[str]:
    """Merged keys that the kubelet files under the same registry as one of ours."""
    if not merged:
        return []
    from generator.model.matching import normalise_key  # only runs that merge pay for loading it

    by_registry: dict[str, str] = {}
    for key in sorted(ours):
        normalised = normalise_key(key).normalised
        if normalised is not None:
            by_registry.setdefault(normalised, key)
    warnings = []
    for entry in merged:
        normalised = normalise_key(entry.key).normalised
        if normalised is None:
            warnings.append(
                f"auths key {entry.key!r} from {entry.source} is not a URL the kubelet can "
                "parse: it ignores that entry"
            )
            continue
        twin = by_registry.get(normalised)
        if twin is not None and twin != entry.key and sources.get(entry.key) == entry.source:
            warnings.append(
                f"auths key {entry.key!r} from {entry.source} is the same registry as "
                f"{twin!r} for the kubelet, which tries both logins in turn"
            )
    return warnings
