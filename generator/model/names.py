"""Kubernetes name and label syntax (kubernetes-validate does not check names)."""

from __future__ import annotations

import re

from generator.errors import GenSecretError, Location

_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
# A cluster's output folder or certificate file: one path component, never `.` or `..`.
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def is_subdomain(name: str) -> bool:
    return len(name) <= 253 and _SUBDOMAIN.fullmatch(name) is not None


def is_dns_label(name: str) -> bool:
    return len(name) <= 63 and _DNS_LABEL.fullmatch(name) is not None


def is_label_value(value: str) -> bool:
    return len(value) <= 63 and _LABEL_VALUE.fullmatch(value) is not None


def is_file_name(name: str) -> bool:
    """Whether a cluster name can name a file or folder of its own, safely."""
    return _FILE_NAME.fullmatch(name) is not None


def shown(value: str, limit: int = 64) -> str:
    """A user's value quoted for a message: on one line and cut at `limit` characters."""
    return f"'{printable(value[:limit])}'" + ("…" if len(value) > limit else "")


def printable(text: str) -> str:
    """`text` safe to show on a terminal: on one line, nothing it can make the terminal do.

    Control characters (ESC, BEL, line breaks) and format characters (the bidirectional
    overrides that reorder what a line seems to say) are escaped as `\\x1b`, `\\u202e`; the
    bytes of an argument that was not valid in the locale (U+DC80-U+DCFF, Python's
    surrogateescape) stay as they were, never `\\udcXX` text.
    """
    if text.isprintable():
        return text
    return "".join(
        ch
        if ch.isprintable() or "\udc80" <= ch <= "\udcff"
        else ch.encode("unicode_escape").decode()
        for ch in text
    )


def check_object_name(name: str, where: Location | str) -> str:
    """An object name: a DNS-1123 subdomain."""
    if not is_subdomain(name):
        raise GenSecretError(
            f"invalid name {shown(name)}: lower-case letters, digits, '-' and '.', "
            "at most 253, starting and ending with a letter or digit",
            where,
        )
    return name


def check_namespace(name: str, where: Location | str) -> str:
    """A namespace name: a DNS-1123 label."""
    if not is_dns_label(name):
        raise GenSecretError(
            f"invalid namespace {shown(name)}: lower-case letters, digits and '-', "
            "at most 63, starting and ending with a letter or digit",
            where,
        )
    return name
