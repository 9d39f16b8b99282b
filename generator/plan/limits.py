"""Limits on what a run produces: nothing Kubernetes refuses, and output and memory bounded.

10,000 certificate SANs gave a Secret the API server refuses without a word, and with
10,000 pull namespaces that run grew to 24 GB. These checks run before the objects are built
or rendered, so an input that would produce too much is refused cheaply, in one line.
"""

from __future__ import annotations

from collections.abc import Mapping

from generator.errors import GenSecretError

# The API server refuses a Secret whose data values (decoded) add up to more than this:
# `ValidateSecret`, core.MaxSecretSize, in pkg/apis/core/validation of Kubernetes.
MAX_SECRET_DATA = 1024 * 1024
# Rendered text of one run, every file of every cluster. Rendering and checking it takes
# about three times as much memory (10,000 pull namespaces: 12 MB of files, 70 MB peak).
MAX_OUTPUT = 64 * 1024 * 1024
# Clusterfiles of one run: each is held in memory from reading until the run ends.
MAX_CLUSTERS = 10_000
MAX_INPUT = 100 * 1024 * 1024
# Rendered bytes of a pull copy and of a ServiceAccount besides their data and names: what
# the templates add (metadata, labels, comments), rounded down so the estimate stays under.
_OBJECT_OVERHEAD = 390


def size(n: int) -> str:
    """A byte count for people: 1.25 MiB, 900 KiB, 512 bytes."""
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.2f}".rstrip("0").rstrip(".") + " MiB"
    if n >= 1024:
        return f"{n // 1024} KiB"
    return f"{n} bytes"


def check_secret_data(
    where: str,
    data: tuple[tuple[str, bytes], ...],
    *,
    auths_keys: int,
    from_sans: int,
    from_aliases: int,
    password: int,
) -> None:
    """Refuse a Secret the API server would refuse, naming what made it that large.

    `password` is the password's length in bytes: large ones only are named, by size rounded
    to KiB, so the message says nothing about an ordinary password.
    """
    total = sum(len(value) for _, value in data)
    if total <= MAX_SECRET_DATA:
        return
    values = dict(data)
    causes: list[str] = []
    config = len(values.get(".dockerconfigjson", b""))
    if auths_keys > 1 and config * 4 >= total:
        causes.append(
            f".dockerconfigjson repeats the credentials for each of its {auths_keys:,} auths "
            f"keys ({from_sans:,} from cert.subjectAltName, {from_aliases:,} from --alias)"
        )
    if password >= 1024:
        causes.append(f"the password is {size(password)}")
    ca = len(values.get("ca.crt", b""))
    if ca * 4 >= total:
        causes.append(f"ca.crt is {size(ca)}")
    why = "; ".join(causes) or "its values are too large"
    raise GenSecretError(
        f"Secret {where} would hold {size(total)} of data, over Kubernetes' limit of 1 MiB "
        f"for a Secret: {why}"
    )


def check_fan_out(
    config: int, namespaces: int, accounts: int, account_names: int, patches: int
) -> None:
    """Refuse a fan-out whose files would pass MAX_OUTPUT, before one object is built.

    `config` is the length of .dockerconfigjson, which every pull copy carries in base64;
    `account_names` the length of the pull-secret names each ServiceAccount lists.
    """
    estimate = fan_out_estimate(config, namespaces, accounts, account_names, patches)
    if estimate > MAX_OUTPUT:
        raise GenSecretError(
            f"the output would be over {size(estimate)}, more than the limit of "
            f"{size(MAX_OUTPUT)}: {namespaces:,} pull namespaces, each with a copy of "
            f".dockerconfigjson ({size(config)}) and {accounts} ServiceAccount(s); "
            "use fewer namespaces or auths keys, or split the run"
        )


def fan_out_estimate(
    config: int, namespaces: int, accounts: int, account_names: int, patches: int
) -> int:
    """About what the fan-out's files hold, a little under: the exact count comes after."""
    copy = 4 * -(-config // 3) + _OBJECT_OVERHEAD
    account = _OBJECT_OVERHEAD + account_names
    return namespaces * (copy + accounts * account) + patches * _OBJECT_OVERHEAD


class OutputBudget:
    """The rendered bytes of a run so far, refused once they pass MAX_OUTPUT."""

    def __init__(self) -> None:
        self.used = 0

    def add(self, files: Mapping[str, object], source: str) -> None:
        # A stamped fan-out file knows its size without being made (stamping.StampedText).
        self.used += sum(
            len(text) if isinstance(text, str) else getattr(text, "byte_size", 0)
            for text in files.values()
        )
        if self.used > MAX_OUTPUT:
            raise GenSecretError(
                f"the output of this run passes the limit of {size(MAX_OUTPUT)}; "
                "render fewer clusters or namespaces at a time",
                source,
            )
