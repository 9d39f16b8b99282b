"""Read the `auths` entries of a --merge-auths file: a docker config.json, or a
`kubernetes.io/dockerconfigjson` Secret as `kubectl get secret -o yaml` (or `-o json`) prints it.

Entries are carried as they are, in kubectl's field order (username, password, email, auth, then
the tokens `docker login` may add); an entry with only `auth` stays that way. What the kubelet
would choke on is refused here: it parses the whole `.dockerconfigjson` at once, so one bad
`auth` would cost every image its credentials (`credentialprovider.DockerConfigEntry`).
Messages name files, keys and fields, never a value.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from generator.errors import GenSecretError, Location
from generator.model.authsources import ENTRY_FIELDS, MergedEntry

MAX_MERGE_BYTES = 1024 * 1024
SECRET_TYPE = "kubernetes.io/dockerconfigjson"  # noqa: S105 - a type name, not a password
DATA_KEY = ".dockerconfigjson"
# Fields docker's AuthConfig has that an `auths` entry does not need: the key is the server.
_DROPPED_FIELDS = frozenset({"serveraddress"})
# What an unknown field must look like to be named in a warning (it could be anything).
_FIELD_NAME = re.compile(r"[A-Za-z_]{1,40}")
_STD_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class MergeFile:
    """The entries one --merge-auths file adds, and what is worth a warning about them."""

    entries: tuple[MergedEntry, ...]
    warnings: tuple[str, ...] = ()


def parse_merge_file(data: bytes, source: str) -> MergeFile:
    """The `auths` entries of a docker config.json or a dockerconfigjson Secret."""
    if len(data) > MAX_MERGE_BYTES:
        raise GenSecretError("file is larger than 1 MiB", source)
    text = _text(data, source)
    if text.lstrip().startswith("{"):
        document = _json(text, source)
    else:
        from generator.model.safeyaml import load_all

        documents = [d for d in load_all(text, source) if d.value is not None]
        if len(documents) != 1:
            raise GenSecretError(
                "expected one document: a docker config.json or one Secret", source
            )
        document = documents[0].value
    if not isinstance(document, dict):
        raise GenSecretError("expected a mapping: a docker config.json or a Secret", source)
    if "kind" in document or "apiVersion" in document:
        config = _unwrap_secret(document, source)
        where = f"{source} ({DATA_KEY})"
    else:
        config, where = document, source
    return _entries(config, source, where)


def _text(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise GenSecretError("not valid UTF-8", source) from None


def _json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # Its message names what was expected and where, never the text around it.
        where = Location("", source, exc.lineno)
        raise GenSecretError(f"not valid JSON: {exc.msg}", where) from None
    except RecursionError:
        raise GenSecretError("not valid JSON: nested too deeply", source) from None


def _unwrap_secret(document: dict[str, Any], source: str) -> dict[str, Any]:
    """The docker config inside a dockerconfigjson Secret."""
    kind, secret_type = document.get("kind"), document.get("type")
    if kind == "List":
        raise GenSecretError("a List of objects: give each Secret as its own --merge-auths", source)
    if kind != "Secret":
        raise GenSecretError("not a Secret and not a docker config.json (it has a kind)", source)
    if secret_type != SECRET_TYPE:
        shown = secret_type if isinstance(secret_type, str) and len(secret_type) < 64 else "?"
        raise GenSecretError(f"Secret of type {shown!r}, not {SECRET_TYPE}", source)
    data, string_data = document.get("data"), document.get("stringData")
    if isinstance(string_data, dict) and isinstance(string_data.get(DATA_KEY), str):
        raw = string_data[DATA_KEY].encode("utf-8")
    elif isinstance(data, dict) and isinstance(data.get(DATA_KEY), str):
        try:
            raw = base64.b64decode(data[DATA_KEY], validate=True)
        except (binascii.Error, ValueError):
            raise GenSecretError(f"data.{DATA_KEY} is not base64", source) from None
    else:
        raise GenSecretError(f"the Secret has no data.{DATA_KEY}", source)
    config = _json(_text(raw, f"{source} ({DATA_KEY})"), f"{source} ({DATA_KEY})")
    if not isinstance(config, dict):
        raise GenSecretError(f"data.{DATA_KEY} is not a JSON object", source)
    return config


def _entries(config: dict[str, Any], source: str, where: str) -> MergeFile:
    # A credentials store keeps the secrets outside the file, where no offline tool reaches.
    for helper in ("credsStore", "credHelpers"):
        if config.get(helper):
            raise GenSecretError(
                f"uses {helper}: its credentials live in a helper, not in the file; export "
                "them first with `docker login` into a config without one "
                "(DOCKER_CONFIG=$(mktemp -d) docker login REGISTRY)",
                where,
            )
    auths = config.get("auths")
    if auths is None:
        raise GenSecretError("has no auths (is it a docker config.json?)", where)
    if not isinstance(auths, dict):
        raise GenSecretError("auths is not a mapping", where)
    entries: list[MergedEntry] = []
    warnings: list[str] = []
    for key in sorted(auths):
        if not isinstance(key, str) or not key:
            raise GenSecretError("an auths key is empty or not a string", where)
        entry, notes = _entry(key, auths[key], source, where)
        entries.append(entry)
        warnings += notes
    if not entries:
        warnings.append(f"{where} has no auths entries: it adds nothing")
    return MergeFile(tuple(entries), tuple(warnings))


def _entry(key: str, value: object, source: str, where: str) -> tuple[MergedEntry, list[str]]:
    at = f"auths[{key!r}] in {where}"
    if not isinstance(value, dict):
        raise GenSecretError("must be a mapping of credential fields", at)
    fields: dict[str, str] = {}
    warnings: list[str] = []
    for name, field_value in value.items():
        if name not in ENTRY_FIELDS:
            if name not in _DROPPED_FIELDS:
                named = repr(name) if isinstance(name, str) and _FIELD_NAME.fullmatch(name) else ""
                warnings.append(f"{at}: dropped field {named or '(unnamed)'}, not a login field")
            continue
        if field_value is None or field_value == "":
            continue  # Go's omitempty: an empty field is not written
        if not isinstance(field_value, str):
            raise GenSecretError(f"field {name} must be a string", at)
        fields[name] = field_value
    username = fields.get("username")
    if username is not None and any(ch in username for ch in ":\r\n"):
        # The kubelet splits `auth` at the first colon.
        raise GenSecretError("username must not contain ':' or a line break", at)
    if "auth" in fields:
        login = _decoded_auth(fields["auth"], at)
        given = (fields.get("username", ""), fields.get("password", ""))
        if ("username" in fields or "password" in fields) and login != given:
            warnings.append(
                f"{at}: auth is another login than username and password; the kubelet uses auth"
            )
    elif "username" in fields or "password" in fields:
        # As kubectl writes it: auth is base64 of username:password.
        raw = f"{fields.get('username', '')}:{fields.get('password', '')}".encode()
        fields["auth"] = base64.b64encode(raw).decode("ascii")
    elif fields:
        warnings.append(
            f"{at}: holds only a token, which the kubelet does not use: it pulls anonymously"
        )
    ordered = tuple((name, fields[name]) for name in ENTRY_FIELDS if name in fields)
    return MergedEntry(key, ordered, source), warnings


def _decoded_auth(auth: str, at: str) -> tuple[str, str]:
    """`auth` as the kubelet reads it: standard padded base64 of `username:password`."""
    problem = "auth is not base64 of username:password"
    consequence = "; the kubelet would reject the whole Secret"
    if not _STD_BASE64.fullmatch(auth):
        raise GenSecretError(problem + consequence, at)
    decoded = base64.b64decode(auth).decode("utf-8", "surrogateescape")
    username, colon, password = decoded.partition(":")
    if not colon:
        raise GenSecretError(problem + consequence, at)
    return username, password
