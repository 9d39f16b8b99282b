"""Secrets as SOPS files for age recipients, written offline as `sops --encrypt` writes them.

The format, from getsops/sops (`sops.go`, `aes/cipher.go`, `stores/`): a random 32-byte data
key; every string leaf whose key path the crypt rule selects becomes
`ENC[AES256_GCM,data:..,iv:..,tag:..,type:str]` (AES-256-GCM, a 32-byte random IV, the key
path joined by `:` plus a trailing `:` as additional data); `mac` is SHA-512 over every leaf's
plain text in document order, upper-case hex, encrypted the same way with `lastmodified` as its
additional data; each age recipient gets the data key as an armored age file. The age and
AES-GCM primitives come from pyrage and cryptography, imported only when something is encrypted.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import functools
import hashlib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from generator.errors import GenSecretError, InternalError
from generator.plan.context import PULL_FILE, RenderContext
from generator.plan.objects import (
    SOPS_CRYPT_KEYS as _CRYPT_KEYS,
)
from generator.plan.objects import (
    KeptSopsFile,
    KubeObject,
    OutputFile,
    SecretObject,
    SopsSecretObject,
)
from generator.render.sopsconfig import DEFAULT_REGEX, CryptRule, check_recipient

if TYPE_CHECKING:
    from generator.render.sopsconfig import SopsConfig

# The sops release whose output this follows, and which decrypts it in the tests. sops reads
# `version` as a semantic version (to work around old releases' bugs), so it must be one.
SOPS_VERSION = "3.11.0"
# Kubernetes objects keep apiVersion, kind, metadata and type readable (kustomize and Flux
# need them); the values are what is secret. Flux's documentation encrypts Secrets this way.
DATA_KEY_BYTES = 32
IV_BYTES = 32  # sops's nonce size, not GCM's usual 12
TAG_BYTES = 16
_B64 = r"[A-Za-z0-9+/]*={0,2}"
ENC = re.compile(rf"ENC\[AES256_GCM,data:({_B64}),iv:({_B64}),tag:({_B64}),type:([a-z]+)\]")
# What sops stores a key under in each file: `sops: {age: [...]}` for a single key group.
_OTHER_KEY_KINDS = ("kms", "gcp_kms", "hckms", "azure_kv", "hc_vault", "pgp", "key_groups")
# A pull copy of the Secret per namespace, each in a file of its own (below); the
# ServiceAccounts that shared their file stay plain in this one.
ACCOUNTS_FILE = "service-accounts.yaml"
MAX_PREVIOUS_BYTES = 1024 * 1024


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class SopsSettings:
    """How this run encrypts: for whom, by which rules, and what it can compare with.

    `recipients` (from --sops-age) win; without them `config` (a .sops.yaml) chooses per file.
    A file's path, for the rules' path_regex, is `out_dir` (absolute) joined with its name.
    `previous` holds the files an earlier render wrote there, by name, and `identities` the age
    secret keys (SOPS_AGE_KEY_FILE, SOPS_AGE_KEY) that may open them: a file whose values and
    recipients did not change is kept as it is, byte for byte.
    """

    out_dir: str
    now: datetime.datetime
    recipients: tuple[str, ...] = ()
    crypt: CryptRule = field(default_factory=CryptRule)
    config: SopsConfig | None = None
    identities: tuple[str, ...] = field(default=(), repr=False)
    previous: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reencrypted:
    """A SOPS file written anew though it may hold the same values, and why."""

    path: str
    reason: str  # NO_IDENTITY or NOT_OPENED


NO_IDENTITY = "no-identity"
NOT_OPENED = "not-opened"


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class Encrypted:
    """A context whose Secrets are SOPS files, with what to tell the user about it."""

    context: RenderContext
    reencrypted: tuple[Reencrypted, ...] = ()
    warnings: tuple[str, ...] = ()


# --- recipients and identities ---------------------------------------------------------------


def recipient_list(values: Sequence[str], where: str) -> tuple[str, ...]:
    """Recipients as given (each value may hold several, comma-separated, as sops's --age
    does), checked, without duplicates, in order."""
    found: list[str] = []
    for number, value in enumerate(values, 1):
        for part in value.split(","):
            if part.strip():
                found.append(check_recipient(part, f"{where} value {number}"))
    if not found:
        raise GenSecretError("no age recipient given", where)
    return tuple(dict.fromkeys(found))


def parse_identities(sources: Sequence[tuple[str, str, bool]]) -> tuple[tuple[str, ...], list[str]]:
    """Age X25519 secret keys from (where, text, several per line) sources, as sops reads
    SOPS_AGE_KEY (words) and SOPS_AGE_KEY_FILE (lines); `#` lines and blank lines skipped.

    A line that is no such key is a warning that names its place, never its text.
    """
    identities: list[str] = []
    warnings: list[str] = []
    for where, text, several in sources:
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            for word in line.split() if several else [line]:
                if word.startswith("AGE-SECRET-KEY-1"):
                    identities.append(word)
                else:
                    warnings.append(
                        f"{where}, line {number}: not an age X25519 secret key "
                        "(AGE-SECRET-KEY-1...), skipped"
                    )
    return tuple(dict.fromkeys(identities)), warnings


@functools.lru_cache(maxsize=8)
def _identities(keys: tuple[str, ...]) -> list[Any]:
    import pyrage

    parsed = []
    for key in keys:
        try:
            parsed.append(pyrage.x25519.Identity.from_str(key))
        except (pyrage.IdentityError, ValueError):
            continue  # a damaged key opens nothing; the files are re-encrypted and the user told
    return parsed


# --- encrypting and opening one document ---------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _encrypt_value(cipher: Any, text: str, additional: str) -> str:
    if not text:  # sops leaves an empty value empty, and it adds nothing to the MAC
        return ""
    iv = os.urandom(IV_BYTES)
    sealed: bytes = cipher.encrypt(iv, text.encode("utf-8"), additional.encode("utf-8"))
    data, tag = sealed[:-TAG_BYTES], sealed[-TAG_BYTES:]
    return f"ENC[AES256_GCM,data:{_b64(data)},iv:{_b64(iv)},tag:{_b64(tag)},type:str]"


def _decrypt_value(cipher: Any, value: str, additional: str) -> str:
    """The plain text of an ENC[...] value; ValueError when it is not one or does not open."""
    if not value:
        return ""
    match = ENC.fullmatch(value)
    if match is None or match.group(4) != "str":
        raise ValueError("not an encrypted string")
    try:
        data, iv, tag = (base64.b64decode(match.group(i), validate=True) for i in (1, 2, 3))
    except binascii.Error:
        raise ValueError("bad base64") from None
    from cryptography.exceptions import InvalidTag

    try:
        plain: bytes = cipher.decrypt(iv, data + tag, additional.encode("utf-8"))
    except InvalidTag:
        raise ValueError("does not open") from None
    return plain.decode("utf-8")


def _walk(value: Any, path: tuple[str, ...], leaf: Callable[[str, tuple[str, ...]], str]) -> Any:
    """The same tree with every string leaf replaced, in document order (the MAC's order)."""
    if isinstance(value, dict):
        return {key: _walk(item, (*path, key), leaf) for key, item in value.items()}
    if isinstance(value, list):  # sops does not put list indices on the path
        return [_walk(item, path, leaf) for item in value]
    if not isinstance(value, str):
        raise ValueError("a value that is not a string")
    return leaf(value, path)


def lastmodified(now: datetime.datetime) -> str:
    """Go's RFC 3339 in UTC, as sops writes it: whole seconds, `Z`."""
    return now.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def encrypt_document(
    plain: dict[str, Any], recipients: Sequence[str], crypt: CryptRule, now: datetime.datetime
) -> dict[str, Any]:
    """The document as `sops --encrypt` writes it for these age recipients and this rule."""
    import pyrage
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if "sops" in plain:
        raise InternalError("a document to encrypt already has a sops key")
    data_key = os.urandom(DATA_KEY_BYTES)
    cipher = AESGCM(data_key)
    digest = hashlib.sha512()

    def leaf(text: str, path: tuple[str, ...]) -> str:
        digest.update(text.encode("utf-8"))  # every value, encrypted or not, in order
        if crypt.encrypts(path):
            return _encrypt_value(cipher, text, ":".join(path) + ":")
        return text

    body: dict[str, Any] = _walk(plain, (), leaf)
    stamp = lastmodified(now)
    stanzas = []
    for recipient in recipients:
        armored = pyrage.encrypt(
            data_key, [pyrage.x25519.Recipient.from_str(recipient)], armored=True
        )
        enc = armored.decode("ascii").rstrip("\n") + "\n"
        stanzas.append({"recipient": recipient, "enc": enc})
    body["sops"] = {
        "age": stanzas,
        "lastmodified": stamp,
        "mac": _encrypt_value(cipher, digest.hexdigest().upper(), stamp),
        crypt.key: crypt.value,
        "version": SOPS_VERSION,
    }
    return body


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class Opened:
    """A SOPS file decrypted with its MAC checked: the plain document, for whom, which rule."""

    plain: dict[str, Any] = field(repr=False)
    recipients: frozenset[str]
    crypt: CryptRule


def open_document(document: Any, identities: Sequence[str]) -> Opened | None:
    """Decrypt a SOPS document gen-secret could have written, or None when it cannot: no
    identity opens it, its MAC does not match, or it uses what gen-secret never writes."""
    import pyrage
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not isinstance(document, dict) or not isinstance(document.get("sops"), dict):
        return None
    meta = document["sops"]
    if any(kind in meta for kind in _OTHER_KEY_KINDS) or meta.get("mac_only_encrypted"):
        return None  # a file for other keys: a new one would drop them, so it is rewritten
    rules = [CryptRule(key, meta[key]) for key in _CRYPT_KEYS if key in meta]
    stanzas, stamp, mac = meta.get("age"), meta.get("lastmodified"), meta.get("mac")
    if len(rules) != 1 or not isinstance(stanzas, list) or not stanzas:
        return None
    if not isinstance(stamp, str) or not isinstance(mac, str):
        return None
    keys = _identities(tuple(identities))
    data_key = None
    for stanza in stanzas:
        if not isinstance(stanza, dict) or not isinstance(stanza.get("enc"), str):
            return None
        if data_key is None and keys:
            try:
                data_key = pyrage.decrypt(stanza["enc"].encode("utf-8"), keys)
            except (pyrage.DecryptError, ValueError):
                continue
    if data_key is None or len(data_key) != DATA_KEY_BYTES:
        return None
    cipher = AESGCM(data_key)
    digest = hashlib.sha512()
    crypt = rules[0]

    def leaf(value: str, path: tuple[str, ...]) -> str:
        text = (
            _decrypt_value(cipher, value, ":".join(path) + ":") if crypt.encrypts(path) else value
        )
        digest.update(text.encode("utf-8"))
        return text

    body = {key: value for key, value in document.items() if key != "sops"}
    try:
        plain = _walk(body, (), leaf)
        if _decrypt_value(cipher, mac, stamp) != digest.hexdigest().upper():
            return None
    except (ValueError, UnicodeDecodeError):
        return None
    recipients = frozenset(str(s.get("recipient", "")).strip() for s in stanzas)
    return Opened(plain, recipients, crypt)


# --- a render context with every Secret as a SOPS file --------------------------------------


def may_hold_secret(path: str) -> bool:
    """Whether an earlier render's file of this name can be a SOPS Secret worth comparing."""
    name = path.rsplit("/", 1)[-1]
    return name == "secret.yaml" or path.rsplit("/", 2)[-2:-1] == [PULL_FILE.removesuffix(".yaml")]


def one_secret_per_file(context: RenderContext) -> RenderContext:
    """Each Secret in a file of its own: a SOPS file is one document with one data key and one
    MAC, which `sops --decrypt` and Flux (one resource at a time) both need.

    The pull copies of `pull-secrets.yaml` go to `pull-secrets/<namespace>.yaml`, and the
    ServiceAccounts beside them to `service-accounts.yaml`, plain.
    """
    files: list[OutputFile] = []
    for output in context.files:
        secrets = [o for o in output.objects if isinstance(o, SecretObject)]
        if len(output.objects) == 1 or not secrets:
            files.append(output)
            continue
        if output.path != PULL_FILE:
            raise InternalError(f"no SOPS layout for {output.path}")
        folder = output.path.removesuffix(".yaml")
        files += [OutputFile(f"{folder}/{s.namespace}.yaml", (s,)) for s in secrets]
        others = tuple(o for o in output.objects if not isinstance(o, SecretObject))
        if others:
            files.append(OutputFile(ACCOUNTS_FILE, others))
    paths = [f.path for f in files]
    if len(set(paths)) != len(paths):
        raise InternalError("two SOPS files would share a name")
    return replace(context, files=tuple(files))


def sops_context(context: RenderContext, settings: SopsSettings, folder: str = "") -> Encrypted:
    """The same objects with every Secret a SOPS file, one a file; `folder` is where this
    cluster's files go below the output folder (`<cluster>/` in a fleet)."""
    context = one_secret_per_file(context)
    files: list[OutputFile] = []
    reencrypted: list[Reencrypted] = []
    warnings: list[str] = []
    for output in context.files:
        objects: list[KubeObject] = []
        for obj in output.objects:
            if not isinstance(obj, SecretObject):
                objects.append(obj)
                continue
            path = folder + output.path
            recipients, crypt, found = _recipients(settings, path)
            warnings += found
            kept, reason = _keep(settings, path, obj.expected(), recipients, crypt)
            if kept is not None:
                objects.append(kept)
                continue
            if reason is not None:
                reencrypted.append(Reencrypted(path, reason))
            document = encrypt_document(obj.expected(), recipients, crypt, settings.now)
            _check_values_encrypted(document, crypt, path)
            objects.append(SopsSecretObject(document))
        files.append(replace(output, objects=tuple(objects)))
    # Whatever kinds the context grows, SOPS output must hold no plain Secret.
    for output in files:
        for o in output.objects:
            document = o.expected()
            if document.get("kind") == "Secret" and "sops" not in document:
                raise InternalError("a Secret would be written unencrypted")
    unique = tuple(dict.fromkeys(warnings))
    return Encrypted(replace(context, files=tuple(files)), tuple(reencrypted), unique)


def _recipients(settings: SopsSettings, path: str) -> tuple[tuple[str, ...], CryptRule, list[str]]:
    if settings.recipients:
        return settings.recipients, settings.crypt, []
    if settings.config is None:
        raise InternalError("SOPS without recipients or a .sops.yaml")
    absolute = f"{settings.out_dir.rstrip('/')}/{path}"
    rule = settings.config.rule_for(absolute)
    return rule.recipients, rule.crypt, list(rule.warnings)


def _keep(
    settings: SopsSettings,
    path: str,
    plain: dict[str, Any],
    recipients: Sequence[str],
    crypt: CryptRule,
) -> tuple[KeptSopsFile | None, str | None]:
    """The earlier file when it holds these values for these recipients; else why not, if
    there was one."""
    previous = settings.previous.get(path)
    if previous is None or b"\nsops:" not in previous:
        return None, None  # nothing to compare with: the file is new, or was not SOPS
    if not settings.identities:
        return None, NO_IDENTITY
    from generator.model.safeyaml import decode, load_all

    try:
        text = decode(previous, path)
        documents = load_all(text, path)
    except GenSecretError:
        return None, NOT_OPENED
    opened = open_document(documents[0].value, settings.identities) if len(documents) == 1 else None
    if opened is None:
        return None, NOT_OPENED
    if opened.plain != plain or opened.recipients != set(recipients) or opened.crypt != crypt:
        return None, None  # something changed: a new file is what the user asked for
    return KeptSopsFile(text, documents[0].value), None


def _check_values_encrypted(document: dict[str, Any], crypt: CryptRule, path: str) -> None:
    """A rule that leaves a Secret's value readable is refused: the file goes to git."""
    for section in ("data", "stringData"):
        for key, value in (document.get(section) or {}).items():
            if value and not ENC.fullmatch(value):
                raise GenSecretError(
                    f"the {crypt.key} {crypt.value!r} leaves {section}.{key} unencrypted, "
                    "readable by anyone who can read the file; use encrypted_regex "
                    f"{DEFAULT_REGEX!r}",
                    path,
                )


def reencrypted_notes(items: Sequence[Reencrypted]) -> list[str]:
    """One line per reason for files whose ciphertext changed though their values may not."""
    lines = []
    blind = [i.path for i in items if i.reason == NO_IDENTITY]
    if blind:
        lines.append(
            f"re-encrypted {_count(blind)} without comparing their values: no age identity "
            "in SOPS_AGE_KEY_FILE or SOPS_AGE_KEY to open them, so their ciphertext changes "
            "even where nothing else did"
        )
    closed = [i.path for i in items if i.reason == NOT_OPENED]
    if closed:
        lines.append(
            f"re-encrypted {_count(closed)}: the age identity in SOPS_AGE_KEY_FILE or "
            "SOPS_AGE_KEY does not open them (or their MAC does not match)"
        )
    return lines


def _count(paths: Sequence[str]) -> str:
    if len(paths) == 1:
        return f"1 SOPS file ({paths[0]})"
    return f"{len(paths)} SOPS files ({paths[0]}, ...)"
