"""How `check` compares and shows one YAML document of an output file, per kind of document.

A comparer decides what of a document must be equal for it to count as unchanged (its `key`)
and says when that leaves something unchecked. Adding an output kind whose bytes change on
every render (SealedSecrets today, SOPS files next) means adding one comparer to COMPARERS.

Every document is shown through `view`, which masks what could be a secret: `data` and
`stringData` values, `.dockerconfigjson` decoded with its passwords, `auth` and tokens masked,
and a Secret's annotations (`kubectl apply` keeps the whole Secret in one).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

MASK = "********"
CHANGED = f"{MASK} (changed)"
SEALED = "<sealed: cannot be compared>"
DOCKERCONFIGJSON = ".dockerconfigjson"
# Data keys gen-secret writes that hold no secret: shown decoded, so a diff says what changed.
PLAIN_DATA_KEYS = frozenset({"domain", "port", "url", "ha", "insecure", "username"})
# Fields of an auths entry that are secrets (the rest: username, email).
SECRET_ENTRY_FIELDS = frozenset({"password", "auth", "identitytoken", "registrytoken"})


@dataclass(frozen=True)
class Note:
    """Shown in place of a document that cannot be shown safely."""

    text: str


NOT_YAML = Note("not valid YAML: not shown")
NOT_OURS = Note("a document gen-secret does not write: not shown")


@dataclass(frozen=True)
class Comparer:
    """One kind of document: which documents it takes, what must match, what it cannot check."""

    name: str
    claims: Callable[[Any], bool]
    # What must be equal for two documents of this kind to count as the same.
    key: Callable[[str, Any], str]
    # Said in the summary when documents of this kind matched in every part that can be checked.
    unverified: str = ""


def _is_kind(kind: str) -> Callable[[Any], bool]:
    return lambda document: isinstance(document, dict) and document.get("kind") == kind


def _text_key(text: str, document: Any) -> str:
    """Plain documents: the exact text, since render rewrites a file that differs at all."""
    return text


def _sealed_key(text: str, document: Any) -> str:
    """A SealedSecret without its ciphertext: a fresh random key seals every render anew."""
    stripped = dict(document)
    spec = dict(stripped.get("spec") or {})
    encrypted = spec.get("encryptedData")
    if isinstance(encrypted, dict):
        spec["encryptedData"] = dict.fromkeys(encrypted, "")
    stripped["spec"] = spec
    return json.dumps(stripped, sort_keys=True, default=str)


SEALED_SECRETS = Comparer(
    name="sealed",
    claims=_is_kind("SealedSecret"),
    key=_sealed_key,
    unverified="the ciphertext cannot be checked without the sealed-secrets controller's "
    "private key; everything else matches",
)


def _is_sops(document: Any) -> bool:
    return isinstance(document, dict) and isinstance(document.get("sops"), dict)


def _sops_key(text: str, document: Any) -> str:
    """A SOPS file without what a fresh encryption changes: the values' ciphertext, the data
    key wrapped for each recipient, the MAC and the time. With the age identity at hand,
    render keeps an unchanged file byte for byte, so this still sees every real change of
    recipient, rule or plain field; only the values themselves need the identity."""
    stripped = {k: v for k, v in document.items() if k not in ("data", "stringData", "sops")}
    for field in ("data", "stringData"):
        values = document.get(field)
        if isinstance(values, dict):
            stripped[field] = dict.fromkeys(values, "")
    meta = dict(document["sops"])
    for volatile in ("lastmodified", "mac"):
        meta.pop(volatile, None)
    if isinstance(meta.get("age"), list):
        meta["age"] = [
            {k: v for k, v in entry.items() if k != "enc"} if isinstance(entry, dict) else entry
            for entry in meta["age"]
        ]
    stripped["sops"] = meta
    return json.dumps(stripped, sort_keys=True, default=str)


SOPS_FILES = Comparer(
    name="sops",
    claims=_is_sops,
    key=_sops_key,
    unverified="SOPS values cannot be compared without the age identity (SOPS_AGE_KEY_FILE "
    "or SOPS_AGE_KEY); everything else matches",
)
PLAIN = Comparer(name="plain", claims=lambda document: True, key=_text_key)
# First that claims a document wins; PLAIN takes the rest.
COMPARERS: list[Comparer] = [SEALED_SECRETS, SOPS_FILES]


def comparer_for(document: Any, exact_sops: bool = False) -> Comparer:
    """The comparer of a document; `exact_sops` compares SOPS files by their text."""
    chosen = next((c for c in COMPARERS if c.claims(document)), PLAIN)
    return PLAIN if exact_sops and chosen is SOPS_FILES else chosen


# --- views ---------------------------------------------------------------------------------


def view(document: Any, reference: Any = None) -> Any:
    """The document with every secret masked; a masked value that differs from the one at the
    same place in `reference` (the same object on disk) reads `******** (changed)`."""
    if isinstance(document, Note):
        return document
    if not isinstance(document, dict):
        return NOT_OURS
    ref = reference if isinstance(reference, dict) else {}
    shown = dict(document)
    is_secret = document.get("kind") == "Secret"
    for field in ("data", "stringData"):
        values = document.get(field)
        if isinstance(values, dict):
            old = _mapping(ref.get(field))
            encoded = field == "data"
            shown[field] = {
                k: _data_value(k, v, old.get(k), encoded, k in old) for k, v in values.items()
            }
        elif values is not None:
            shown[field] = _mask(values, ref.get(field), field in ref)
    metadata = document.get("metadata")
    if is_secret and isinstance(metadata, dict) and isinstance(metadata.get("annotations"), dict):
        old_meta = ref.get("metadata") if isinstance(ref.get("metadata"), dict) else {}
        old_notes = old_meta.get("annotations") if isinstance(old_meta, dict) else None
        old_notes = old_notes if isinstance(old_notes, dict) else {}
        shown["metadata"] = {
            **metadata,
            "annotations": {
                k: _mask(v, old_notes.get(k), k in old_notes)
                for k, v in metadata["annotations"].items()
            },
        }
    spec = document.get("spec")
    if document.get("kind") == "SealedSecret" and isinstance(spec, dict):
        encrypted = spec.get("encryptedData")
        if isinstance(encrypted, dict):
            shown["spec"] = {**spec, "encryptedData": dict.fromkeys(encrypted, SEALED)}
    return shown


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _mask(value: Any, old: Any, had_old: bool) -> str:
    return CHANGED if had_old and old != value else MASK


def _data_value(key: str, value: Any, old: Any, encoded: bool, had_old: bool) -> Any:
    if not isinstance(value, str):
        return _mask(value, old, had_old)
    raw = _decoded(value) if encoded else value.encode("utf-8")
    if raw is None:
        return _mask(value, old, had_old)
    old_raw = (_decoded(old) if encoded else old.encode("utf-8")) if isinstance(old, str) else None
    if key == DOCKERCONFIGJSON:
        return _config_view(raw, old_raw, had_old)
    if key in PLAIN_DATA_KEYS:
        text = raw.decode("utf-8", "replace")
        if text.isprintable() and len(text) <= 253:
            return text
    return _mask(raw, old_raw, had_old)


def _decoded(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _config_view(raw: bytes, old_raw: bytes | None, had_old: bool) -> Any:
    """`.dockerconfigjson` decoded, with each entry's secrets masked."""
    config, old = _json(raw), _json(old_raw) if old_raw is not None else None
    auths = config.get("auths") if isinstance(config, dict) else None
    if not isinstance(auths, dict):
        return {"(decoded)": _mask(raw, old_raw, had_old)}
    old_auths = old.get("auths") if isinstance(old, dict) else None
    old_auths = old_auths if isinstance(old_auths, dict) else {}
    entries: dict[str, Any] = {}
    for server, entry in auths.items():
        old_entry = old_auths.get(server)
        old_entry = old_entry if isinstance(old_entry, dict) else {}
        if not isinstance(entry, dict):
            entries[server] = _mask(entry, old_entry, server in old_auths)
            continue
        entries[server] = {
            k: _mask(v, old_entry.get(k), k in old_entry) if k in SECRET_ENTRY_FIELDS else v
            for k, v in entry.items()
        }
    return {"(decoded)": {"auths": entries}}


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def view_lines(documents: Sequence[Any]) -> list[str]:
    """Masked documents as YAML lines, `---` between them, for a unified diff."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    lines: list[str] = []
    for i, document in enumerate(documents):
        if i:
            lines.append("---")
        if isinstance(document, Note):
            lines.append(f"# ({document.text})")
            continue
        text = yaml.dump(
            document, Dumper=dumper, sort_keys=False, allow_unicode=True, width=1 << 16
        )
        lines += text.splitlines()
    return lines
