"""Read what the user points at: Clusterfiles (or folders of them), passwords, lists."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from generator.defaults import STDIN
from generator.errors import GenSecretError
from generator.model.safeyaml import MAX_BYTES
from generator.plan.limits import MAX_CLUSTERS, MAX_INPUT, size

if TYPE_CHECKING:  # SOPS and its cryptography load only when SOPS is asked for
    pass

DEFAULT_SEARCH = (Path("Clusterfile"), Path("~/.sealer/Clusterfile"))
MAX_PASSWORD_BYTES = 64 * 1024
MAX_LIST_BYTES = 10 * 1024 * 1024
# A cheap first look while scanning a folder; the real parse decides. Indented too, for the
# ConfigMap form whose Clusterfile is a block scalar.
_CLUSTER_KIND = rb"(?m)^\s*kind:\s*[\"']?Cluster[\"']?\s*(#.*)?$"
_SEALER_API = (
    rb"(?m)^\s*apiVersion:\s*[\"']?(sealer\.io/v2|sealer\.io/v1|sealer\.aliyun\.com/v1alpha1)\b"
)


@dataclass(frozen=True, eq=False)  # identity is enough; see errors.Location
class Inputs:
    """The Clusterfiles to render, as (display name, bytes), and whether a folder was scanned."""

    files: tuple[tuple[str, bytes], ...] = field(repr=False)
    notes: tuple[str, ...] = ()
    scanned: bool = False

    @property
    def is_fleet(self) -> bool:
        return self.scanned or len(self.files) > 1


def read_bytes(path: Path | str, limit: int, label: str | None = None) -> bytes:
    """A file's bytes, or a one-line error that names it; never more than `limit` + 1 bytes."""
    try:
        with open(path, "rb") as handle:
            return handle.read(limit + 1)
    except IsADirectoryError:
        raise GenSecretError("is a directory, not a file", label or str(path)) from None
    except OSError as exc:
        raise GenSecretError(f"cannot read file: {exc.strerror}", label or str(path)) from None


def read_stdin(limit: int) -> bytes:
    """stdin's bytes, never more than `limit` + 1; a closed stdin is a one-line error."""
    try:
        return sys.stdin.buffer.read(limit + 1)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or "it is closed"
        raise GenSecretError(f"cannot read stdin: {reason}") from None


def read_clusterfiles(arguments: list[str]) -> Inputs:
    """Files as given, '-' for stdin, folders scanned for Clusterfiles; none: sealer's places."""
    if not arguments:
        for candidate in DEFAULT_SEARCH:
            path = candidate.expanduser()
            if path.is_file():
                return Inputs(((str(path), read_bytes(path, MAX_BYTES)),), (f"reading {path}",))
        raise GenSecretError(
            "no Clusterfile given, and none at ./Clusterfile or ~/.sealer/Clusterfile"
        )
    files = _Collected()
    scanned = False
    for argument in arguments:
        if not argument:
            raise GenSecretError("an empty Clusterfile path")  # Path("") would mean "."
        if argument == STDIN:
            files.append(("<stdin>", read_stdin(MAX_BYTES)))
        elif Path(argument).is_dir():
            scanned = True
            scan_folder(Path(argument), files)
        else:
            files.append((argument, read_bytes(Path(argument), MAX_BYTES)))
    if scanned and not files:
        raise GenSecretError("no file with a kind: Cluster document", " ".join(arguments))
    return Inputs(tuple(files), scanned=scanned)


class _Collected(list[tuple[str, bytes]]):
    """Clusterfiles read so far, refused once there are more than a run may hold."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def append(self, item: tuple[str, bytes]) -> None:
        self.total += len(item[1])
        if len(self) >= MAX_CLUSTERS:
            raise GenSecretError(f"more than {MAX_CLUSTERS:,} Clusterfiles in one run", item[0])
        if self.total > MAX_INPUT:
            raise GenSecretError(
                f"the Clusterfiles of this run pass {size(MAX_INPUT)} together", item[0]
            )
        super().append(item)


def scan_folder(
    folder: Path, found: list[tuple[str, bytes]] | None = None
) -> list[tuple[str, bytes]]:
    """Every `Clusterfile` and `*.yaml`/`*.yml` below `folder` that holds a kind: Cluster line,
    added to `found`.

    Sorted, hidden folders (`.git`) skipped, symlinks to folders not followed.
    """
    found = [] if found is None else found

    def unreadable(error: OSError) -> None:
        # A folder skipped in silence would drop its clusters, and the next run would remove
        # their output as stale.
        raise GenSecretError(f"cannot read folder: {error.strerror}", str(error.filename))

    for root, dirs, names in os.walk(folder, onerror=unreadable):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        # Spelled as str(Path(root) / name), without a Path each: a fleet has 1,000 files.
        base = str(Path(root))
        prefix = "" if base == "." else base if base.endswith("/") else base + "/"
        for name in sorted(names):
            if name != "Clusterfile" and not name.endswith((".yaml", ".yml")):
                continue
            path = prefix + name
            if not os.path.isfile(path):  # a FIFO or a device: reading it could wait forever
                continue
            data = read_bytes(path, MAX_BYTES)
            # Other tools have a kind: Cluster too (kind, Cluster API): only sealer's count.
            if re.search(_CLUSTER_KIND, data) and re.search(_SEALER_API, data):
                found.append((path, data))
    return found


def read_password(data: bytes, source: str, what: str = "password") -> str:
    """A password from stdin or a file: one trailing newline stripped, as `docker login` does."""
    if len(data) > MAX_PASSWORD_BYTES:
        raise GenSecretError(f"{what} is longer than 64 KiB", source)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise GenSecretError(f"{what} is not valid UTF-8", source) from None
    # A byte-order mark is how some editors begin a UTF-8 file, not part of the password;
    # a Clusterfile's is dropped too.
    text = text.removeprefix("\ufeff").removesuffix("\n").removesuffix("\r")
    if not text:
        raise GenSecretError(f"{what} is empty", source)
    if "\n" in text or "\r" in text:
        raise GenSecretError(f"{what} holds a line break", source)
    return text


def read_small(name: str, limit: int) -> tuple[str, bytes]:
    """A small input file ('-' is stdin) as (display name, bytes), refused over `limit`."""
    if name == STDIN:
        data, source = sys.stdin.buffer.read(limit + 1), "<stdin>"
    else:
        data, source = read_bytes(Path(name), limit), name
    if len(data) > limit:
        raise GenSecretError(f"file is larger than {limit // 1024} KiB", source)
    return source, data


def prompt_password() -> str:
    """The password typed at the terminal, not echoed (getpass turns echo off on /dev/tty)."""
    import getpass

    try:
        typed = getpass.getpass("Registry password: ")
    except EOFError:  # Ctrl-D at the prompt
        typed = ""
    return read_password(typed.encode("utf-8", "surrogateescape"), "the terminal")


def read_text(name: str) -> tuple[str, str]:
    """A small text input (a namespace list) and its display name; '-' is stdin."""
    if name == STDIN:
        data, source = read_stdin(MAX_LIST_BYTES), "<stdin>"
    else:
        data, source = read_bytes(Path(name), MAX_LIST_BYTES), name
    if len(data) > MAX_LIST_BYTES:
        raise GenSecretError("file is larger than 10 MiB", source)
    try:
        return data.decode("utf-8").removeprefix("\ufeff"), source  # a BOM, as in a Clusterfile
    except UnicodeDecodeError:
        raise GenSecretError("not valid UTF-8", source) from None


def read_documents(names: list[str]) -> tuple[tuple[str, bytes], ...]:
    """YAML or JSON inputs (a --cluster-state dump) as (display name, bytes); '-' is stdin.

    One byte over the limit is read, so that the parser reports the file as too large.
    """
    documents: list[tuple[str, bytes]] = []
    for name in names:
        if not name:
            raise GenSecretError("an empty file name")  # Path("") would mean "."
        if name == STDIN:
            documents.append(("<stdin>", sys.stdin.buffer.read(MAX_BYTES + 1)))
        else:
            documents.append((name, read_bytes(Path(name), MAX_BYTES)))
    return tuple(documents)
