"""The `.dockerconfigjson` bytes, exactly as kubectl's Go code marshals them."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from generator.model.clusterfile import Credentials

if TYPE_CHECKING:
    from generator.model.authsources import Entry

# Go's json.Marshal escapes these for safe embedding in HTML; Python's json does not.
_GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def auth_token(credentials: Credentials) -> str:
    """Standard padded base64 of `username:password`, the kubelet's `auth` field."""
    raw = f"{credentials.username}:{credentials.password}".encode()
    return base64.b64encode(raw).decode("ascii")


def dockerconfigjson(auths: Mapping[str, Entry]) -> bytes:
    """Compact JSON `{"auths": {...}}` with kubectl's field order, key order and escaping.

    A registry without credentials gets an empty entry, as Go's omitempty fields give. A
    merged entry is written with the fields it came with, in kubectl's order.
    """
    entries: dict[str, dict[str, str]] = {}
    for server in sorted(auths):
        credentials = auths[server]
        entry: dict[str, str] = {}
        if isinstance(credentials, Credentials):
            # Field order of DockerConfigEntry: username, password, email, auth; all omitempty.
            if credentials.username:
                entry["username"] = credentials.username
            if credentials.password:
                entry["password"] = credentials.password
            entry["auth"] = auth_token(credentials)
        elif credentials is not None:
            entry = dict(credentials.fields)
        entries[server] = entry
    # Python and Go agree on every other escape (\b and \f since Go 1.22); `<>&` and U+2028/9
    # only ever occur inside strings, so translating the finished text is safe.
    text = json.dumps({"auths": entries}, ensure_ascii=False, separators=(",", ":"))
    return text.translate(_GO_ESCAPES).encode("utf-8")
