"""`auths` keys the kubelet can read: one it cannot parse is silently ignored, so never written."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from generator.errors import GenSecretError
from generator.model.names import shown

# Keys made only of these parse whatever else holds (host name or IP literal, a port): no
# need to load the kubelet's rules (matching.py) for them, which is every key in practice.
_PLAIN_KEY = re.compile(r"(?:[A-Za-z0-9*][A-Za-z0-9.*-]*|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?")


def check_auths_keys(keys: Iterable[str], origin: Callable[[str], str], source: str) -> None:
    """Refuse a key that `match` (the kubelet's keyring) would call invalid, naming its origin.

    An IPv6 address with a zone id (`fe80::1%eth0`) is a valid IP to Python, so the
    Clusterfile checks let it through, but the kubelet cannot parse `[fe80::1%eth0]:5000`
    and skips the key: the Secret would look right and never serve a pull.
    """
    for key in keys:
        if _PLAIN_KEY.fullmatch(key):
            continue
        from generator.model.matching import normalise_key

        if normalise_key(key).normalised is not None:
            continue
        why = (
            "a registry host cannot carry an IPv6 zone id (the part from '%')"
            if "%" in key
            else "it is not a host[:port] the kubelet can parse"
        )
        raise GenSecretError(
            f"auths key {shown(key)} from {origin(key)} would be ignored by the kubelet: {why}",
            source,
        )
