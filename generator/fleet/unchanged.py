"""Skip the clusters of a fleet whose inputs and files are as the last run left them.

Beside the manifest, a fleet run writes `.gen-secret-inputs`: for each cluster, a keyed hash
(HMAC-SHA256) of everything its files came from, and one of the files themselves. The next
run renders a cluster again unless both hashes come out the same:

- inputs: the Clusterfile's path and bytes; every option of the run, with the bytes of each
  file an option names (the password too, as read); gen-secret's version, the hash of its
  code and templates, and the versions of Python, Jinja and PyYAML; what the search for the
  cluster's CA certificate found, path by path;
- files: each of the cluster's files as it is on disk now, which must be a plain 0600 file
  of ours (not a link), listed in the manifest.

So a changed input re-renders the cluster, and a deleted, edited or replaced file is
rendered anew: a skip never leaves a file that a render would not write. Sealed output is
the exception that is meant: its ciphertext is new in every render, and a skipped cluster
keeps the last one, so a repository does not churn.

The key is 32 random bytes made on first use in the user's cache folder
(`$XDG_CACHE_HOME/gen-secret/fingerprint.key`, else `~/.cache/...`, mode 0600), never in the
output folder: without it, a hash cannot be tested against guessed passwords, even by someone
who reads the output folder or the git repository it is committed to. With no usable key,
every cluster is rendered and no fingerprints are written.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import importlib.util
import json
import os
import secrets
import stat
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator import __version__
from generator.app.pipeline import Request, Result, Skipped
from generator.errors import GenSecretError
from generator.fleet.pool import run_fleet
from generator.io.certs import first_ca
from generator.io.output import KEPT, MANIFEST, Content
from generator.model.ca import CaSeen

if TYPE_CHECKING:
    from generator.render.files import Text

FINGERPRINTS = ".gen-secret-inputs"
_FORMAT = "gen-secret-inputs 1"
_HEADER = (
    "# Keyed hashes (HMAC-SHA256) of each cluster's inputs and files, so that the next run\n"
    "# skips the clusters that did not change; no secret can be read from them. Delete this\n"
    "# file to render every cluster again.\n"
)
_KEY_BYTES = 32
_MAX_OPTION_FILE = 16 * 1024 * 1024  # larger than any file an option may name
_PACKAGE = Path(__file__).resolve().parent.parent  # generator/, every layer


def render_fleet(
    inputs: Sequence[tuple[str, bytes]],
    request: Request,
    out_dir: Path,
    on_each: Callable[[int], None] | None = None,
) -> tuple[dict[str, Result | Skipped], dict[str, Content]]:
    """Render the clusters that changed since the last run into `out_dir`; keep the others.

    Returns the results, skipped clusters included, and the files to write: each cluster's
    under its folder (a skipped cluster's as KEPT), and the fingerprints.
    """
    key = fingerprint_key()
    if key is None:
        results = run_fleet(inputs, request, on_each)
        return results, _files(results)
    skipper = _Skipper(Fingerprints(key, request), out_dir)
    results = run_fleet(inputs, request, on_each, skipper.find)
    files = _files(results)
    data_of = dict(inputs)
    lines = [
        skipper.kept[result.source]
        if isinstance(result, Skipped)
        else skipper.fingerprints.line(result, data_of[result.source])
        for result in results.values()
    ]
    files[FINGERPRINTS] = f"{_HEADER}{_FORMAT}\n" + "".join(lines)
    return results, files


def _files(results: dict[str, Result | Skipped]) -> dict[str, Content]:
    files: dict[str, Content] = {}
    for name, result in results.items():
        if isinstance(result, Skipped):
            files.update({f"{name}/{rel}": KEPT for rel in result.files})
        else:
            files.update({f"{name}/{rel}": text for rel, text in result.files.items()})
    return files


class Fingerprints:
    """The keyed hashes of one run: its options and gen-secret hashed once, each cluster on
    top of that."""

    def __init__(self, key: bytes, request: Request) -> None:
        self._key = key
        self._base = hmac.new(key, digestmod=hashlib.sha256)
        _feed(self._base, _FORMAT.encode(), *_code_and_versions(), *_request_parts(request))

    def inputs(self, source: str, data: bytes) -> str:
        """The hash of everything a cluster's files come from, but what the CA search sees."""
        h = self._base.copy()
        _feed(h, _encode(source), data)
        return h.hexdigest()

    def digest(
        self, inputs: str, ca_seen: CaSeen, files: Iterable[tuple[str, Iterable[bytes]]]
    ) -> str:
        """The hash that must come out the same for a skip: inputs, CA search, files."""
        h = hmac.new(self._key, digestmod=hashlib.sha256)
        _feed(h, inputs.encode())
        for path, pem in ca_seen:
            _feed(h, _encode(path), b"-" if pem is None else b"+" + pem.encode())
        for rel, pieces in files:
            content = hashlib.sha256()  # of a file made piece by piece; never stored
            for piece in pieces:
                content.update(piece)
            _feed(h, _encode(rel), content.digest())
        return h.hexdigest()

    def line(self, result: Result, data: bytes) -> str:
        """The fingerprint line of a cluster rendered in this run, from the bytes to write."""
        inputs = self.inputs(result.source, data)
        names = sorted(result.files)
        digest = self.digest(
            inputs, result.ca_seen, ((rel, _pieces(result.files[rel])) for rel in names)
        )
        record = {
            "inputs": inputs,
            "cluster": result.cluster,
            "files": names,
            "ca": [path for path, _ in result.ca_seen],
            "digest": digest,
            "warnings": list(result.warnings),
            "notes": list(result.notes),
        }
        return json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"


class _Skipper:
    """Finds, for each Clusterfile of this run, whether the last run left its cluster as
    this run would write it."""

    def __init__(self, fingerprints: Fingerprints, out_dir: Path) -> None:
        self.fingerprints = fingerprints
        self.out_dir = out_dir
        self.kept: dict[str, str] = {}  # source -> its fingerprint line, reused as it is
        # As the manifest spells them: a file it lists another way is rendered again.
        self.listed = {line.rstrip("\n") for line in _read_lines(out_dir / MANIFEST)}
        self.previous: dict[str, tuple[dict[str, Any], str]] = {}
        if FINGERPRINTS in self.listed:  # only a file the last run wrote
            for line in _read_lines(out_dir / FINGERPRINTS, _FORMAT):
                record = _record(line)
                if record is not None:
                    self.previous[record["inputs"]] = (record, line)

    def find(self, source: str, data: bytes) -> Skipped | None:
        found = self.previous.get(self.fingerprints.inputs(source, data))
        if found is None:
            return None
        record, line = found
        cluster, names = record["cluster"], tuple(record["files"])
        if not all(f"{cluster}/{rel}" in self.listed for rel in names):
            return None
        seen: CaSeen = tuple((path, None) for path in record["ca"])
        if any(map(os.path.isfile, record["ca"])):  # a Path each only when there is a CA
            try:
                _, seen = first_ca([Path(p) for p in record["ca"]])
            except GenSecretError:  # unreadable now: a render says why
                return None
        files = _read_files(self.out_dir, cluster, names)
        if files is None:
            return None
        digest = self.fingerprints.digest(record["inputs"], seen, files)
        if not hmac.compare_digest(digest, record["digest"]):
            return None
        self.kept[source] = line
        return Skipped(cluster, source, names, tuple(record["warnings"]), tuple(record["notes"]))


def _record(line: str) -> dict[str, Any] | None:
    """A fingerprint line, or None for one that is not as this version writes them."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    texts = {"inputs", "cluster", "digest"}
    lists = {"files", "ca", "warnings", "notes"}
    if not isinstance(record, dict) or set(record) != texts | lists:
        return None
    if not all(isinstance(record[k], str) for k in texts):
        return None
    if not all(
        isinstance(record[k], list) and all(isinstance(v, str) for v in record[k]) for k in lists
    ):
        return None
    return record


def _read_lines(path: Path, form: str | None = None) -> list[str]:
    """The lines of a file gen-secret wrote, comments left out; none unless one of its first
    lines is `form`. Never through a link."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return []
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return []
        text = handle.read().decode("utf-8", "replace")
    lines = text.splitlines(keepends=True)
    if form is not None and form + "\n" not in lines[:4]:
        return []
    return [line for line in lines if not line.startswith("#") and line.strip()]


def _read_files(
    out_dir: Path, cluster: str, names: tuple[str, ...]
) -> list[tuple[str, list[bytes]]] | None:
    """Each file's bytes, if each is as write_tree leaves a file: a plain 0600 file with one
    link, reached through folders that are not links; else None."""
    opened: dict[str, int] = {}
    try:
        root = os.open(out_dir, os.O_RDONLY | os.O_DIRECTORY)
        opened[""] = root
        files = []
        for rel in names:
            *parents, name = f"{cluster}/{rel}".split("/")
            fd, path = root, ""
            for part in parents:
                path = f"{path}/{part}"
                if path not in opened:
                    opened[path] = os.open(part, _FOLDER_FLAGS, dir_fd=fd)
                fd = opened[path]
            data = _read_ours(fd, name)
            if data is None:
                return None
            files.append((rel, [data]))
        return files
    except OSError:
        return None
    finally:
        for fd in opened.values():
            os.close(fd)


_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def _read_ours(dir_fd: int, name: str) -> bytes | None:
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    try:
        info = os.fstat(fd)
        if (
            not stat.S_ISREG(info.st_mode)
            or stat.S_IMODE(info.st_mode) != 0o600
            or info.st_nlink != 1
        ):
            return None
        chunks = []
        while chunk := os.read(fd, max(info.st_size, 1 << 16)):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def fingerprint_key() -> bytes | None:
    """The user's fingerprint key, made on first use; None where there is no place for it."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    try:
        folder = (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / "gen-secret"
    except (KeyError, RuntimeError):  # no home folder at all
        return None
    path = folder / "fingerprint.key"
    key = _read_key(path)
    if key is not None:
        return key
    temporary = folder / f".fingerprint.key.{secrets.token_hex(6)}.tmp"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, secrets.token_bytes(_KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        # A link, never a rename: a key another run made meanwhile stays, and is used.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    except OSError:
        return None
    finally:  # whatever happened, an interrupt too: no stray copy of the key
        with contextlib.suppress(OSError):
            os.unlink(temporary)
    return _read_key(path)


def _read_key(path: Path) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o077:
            return None  # a key others can read is no key
        key = handle.read(_KEY_BYTES + 1)
    return key if len(key) == _KEY_BYTES else None


def _code_and_versions() -> Iterator[bytes]:
    """gen-secret's version, its code and templates, and the versions of what it runs on."""
    yield __version__.encode()
    yield sys.version.encode()
    package = _PACKAGE
    # Where render.templates_dir() finds them, without loading Jinja to ask it.
    templates = package / "templates"
    if not templates.is_dir():
        templates = package.parent / "templates"
    paths = sorted(package.rglob("*.py")) + sorted(templates.glob("*.j2"))
    for path in paths:
        if "__pycache__" not in path.parts:
            yield _encode(str(path.relative_to(path.parent.parent)))
            yield _file_bytes(path)
    for library in ("jinja2", "yaml"):  # the file that holds its __version__, not imported
        spec = importlib.util.find_spec(library)
        yield _file_bytes(Path(spec.origin)) if spec and spec.origin else b"-"


def _request_parts(request: Request) -> Iterator[bytes]:
    """Every option of the run, by name; a file an option names, with its bytes."""
    for option in sorted(fields(request), key=lambda f: f.name):
        yield option.name.encode()
        yield from _value(getattr(request, option.name))


def _value(value: object) -> Iterator[bytes]:
    if value is None:
        yield b"n"
    elif isinstance(value, bool):
        yield b"b1" if value else b"b0"
    elif isinstance(value, int):
        yield b"i" + str(value).encode()
    elif isinstance(value, str):
        yield b"s" + _encode(value)
    elif isinstance(value, Path):
        yield b"p" + _encode(str(value))
        yield _file_bytes(value)
    elif isinstance(value, tuple):
        yield b"t" + str(len(value)).encode()
        for item in value:
            yield from _value(item)
    else:
        yield b"r" + _encode(repr(value))


def _file_bytes(path: Path) -> bytes:
    try:
        if not path.is_file():
            return b"-"
        with path.open("rb") as handle:
            return b"f" + handle.read(_MAX_OPTION_FILE + 1)
    except OSError:
        return b"?"


def _pieces(text: Text) -> Iterator[bytes]:
    if isinstance(text, str):
        yield text.encode("utf-8")
    else:
        yield from text.byte_chunks()


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _feed(h: hmac.HMAC, *parts: bytes) -> None:
    """Each part with its length first, so that no two lists of parts feed the same bytes."""
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
