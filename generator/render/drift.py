"""`check`: how an --out folder differs from what render would write there, safe for CI logs.

Pure: the rendered files and what the folder holds come in, a report goes out. A file counts as
unchanged when its bytes are the same, or when every document matches by its comparer (a
SealedSecret without its ciphertext). Only files gen-secret writes are looked at: the ones it
would write now and the ones its manifest lists; the manifest itself is not compared.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from generator.errors import GenSecretError
from generator.render.comparers import NOT_YAML, comparer_for, view, view_lines

Status = Literal["unchanged", "changed", "added", "removed"]
# Documents in our files are separated by `---` lines; YAML allows no such line inside one.
_DOCUMENT_START = re.compile(r"^---[ \t]*(?:#.*)?$", re.MULTILINE)
_NAMED = 5  # files named in a summary line; a fleet's thousand would drown the log


@dataclass(frozen=True)
class FileDrift:
    """One file: what render would do to it, the masked diff, and what could not be checked."""

    path: str
    status: Status
    diff: tuple[str, ...] = field(default=(), repr=False)
    unverified: tuple[str, ...] = ()


@dataclass(frozen=True)
class Drift:
    """Every file's drift, the clusters (fleet folders) that drifted, and notes for the summary."""

    files: tuple[FileDrift, ...]
    fleet: bool = False

    def paths(self, status: Status) -> list[str]:
        return [f.path for f in self.files if f.status == status]

    @property
    def differs(self) -> bool:
        return any(f.status != "unchanged" for f in self.files)

    @property
    def drifted_clusters(self) -> list[str]:
        if not self.fleet:
            return []
        names = {f.path.split("/", 1)[0] for f in self.files if f.status != "unchanged"}
        return sorted(names)

    @property
    def unverified(self) -> dict[str, list[str]]:
        """Per reason, the files that matched in everything but what that reason names."""
        out: dict[str, list[str]] = {}
        for f in self.files:
            if f.status == "unchanged":
                for reason in f.unverified:
                    out.setdefault(reason, []).append(f.path)
        return out


def compare(
    rendered: Mapping[str, str],
    present: Mapping[str, bytes | None],
    listed: frozenset[str],
    *,
    fleet: bool = False,
    shown_as: str = "",
    link: bytes = b"",
    sops_identity: bool = False,
) -> Drift:
    """Compare rendered files with the folder's: `present` maps paths to bytes (None: absent),
    `listed` is the manifest's list; `shown_as` prefixes paths in the diff headers.

    `sops_identity`: the age identity was at hand, so render kept every SOPS file whose values
    did not change byte for byte, and one it wrote anew holds a change: compare those exactly.
    """
    drifts: list[FileDrift] = []
    for path in sorted(set(rendered) | {p for p in listed if present.get(p) is not None}):
        text = rendered.get(path)
        old = present.get(path)
        if text is not None and old is not None and path not in listed:
            raise GenSecretError(
                "exists and was not written by gen-secret; render would refuse to overwrite it",
                f"{shown_as}{path}",
            )
        drifts.append(_file(path, text, old, shown_as, link, sops_identity))
    return Drift(tuple(drifts), fleet)


def _file(
    path: str, text: str | None, old: bytes | None, shown_as: str, link: bytes, exact_sops: bool
) -> FileDrift:
    name = f"{shown_as}{path}"
    if text is None:
        old_docs = _documents(_text(old, link))
        lines = _diff(view_lines([view(d) for _, d in old_docs]), [], name, "/dev/null")
        return FileDrift(path, "removed", lines)
    if old is None:
        new_docs = _documents(text)
        lines = _diff([], view_lines([view(d) for _, d in new_docs]), "/dev/null", name)
        return FileDrift(path, "added", lines)
    if old == text.encode("utf-8"):
        return FileDrift(path, "unchanged")
    old_docs, new_docs = _documents(_text(old, link)), _documents(text)
    old_keys = [comparer_for(d, exact_sops).key(t, d) for t, d in old_docs]
    new_keys = [comparer_for(d, exact_sops).key(t, d) for t, d in new_docs]
    if old_keys == new_keys:
        reasons = {comparer_for(d, exact_sops).unverified for _, d in new_docs} - {""}
        return FileDrift(path, "unchanged", unverified=tuple(sorted(reasons)))
    references = {_identity(d): d for _, d in old_docs}
    old_view = view_lines([view(d) for _, d in old_docs])
    new_view = view_lines([view(d, references.get(_identity(d))) for _, d in new_docs])
    lines = _diff(old_view, new_view, name, name)
    if not lines:  # the texts differ where the views cannot show it
        lines = (f"--- {name}", f"+++ {name}", "@@ differs in formatting or comments only @@")
    return FileDrift(path, "changed", lines)


def _text(data: bytes | None, link: bytes) -> str:
    if data is None:
        return ""
    if link and data == link:
        return "# (a symlink: render replaces it with a file)\n"
    return data.decode("utf-8", "replace")


def _documents(text: str) -> list[tuple[str, Any]]:
    """Each document's text and parsed value (a marker when it is not valid YAML)."""
    from generator.model.safeyaml import load_all

    parts = [p for p in _DOCUMENT_START.split(text) if p.strip()]
    documents: list[tuple[str, Any]] = []
    for part in parts:
        try:
            parsed = [d.value for d in load_all(part, "--out")]
        except GenSecretError:
            parsed = [NOT_YAML]
        documents.append((part, parsed[0] if len(parsed) == 1 else NOT_YAML))
    return documents


def _identity(document: Any) -> tuple[str, str, str]:
    """kind, namespace and name: which object on disk a rendered one is."""
    if not isinstance(document, dict):
        return ("", "", "")
    metadata = document.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    return (
        str(document.get("kind", "")),
        str(metadata.get("namespace", "")),
        str(metadata.get("name", "")),
    )


def _diff(old: list[str], new: list[str], old_name: str, new_name: str) -> tuple[str, ...]:
    return tuple(
        difflib.unified_diff(
            old,
            new,
            f"{old_name}\t(on disk, secrets masked)" if old_name != "/dev/null" else old_name,
            f"{new_name}\t(rendered, secrets masked)" if new_name != "/dev/null" else new_name,
            lineterm="",
        )
    )


def report_text(drift: Drift) -> str:
    """The masked unified diff of every file that differs, for stdout."""
    lines = [line for f in drift.files for line in f.diff]
    return "".join(f"{line}\n" for line in lines)


def summary(drift: Drift, out: str) -> list[str]:
    """One line or a few for stderr: what differs, in which clusters, and what was not checked."""
    counts = {s: len(drift.paths(s)) for s in ("changed", "added", "removed")}
    lines = []
    if drift.differs:
        total = sum(counts.values())
        parts = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        where = ""
        if drift.fleet:
            where = f" in clusters {', '.join(drift.drifted_clusters)}"
        lines.append(
            f"{out} has drifted{where}: {total} file{'s' * (total != 1)} would change ({parts})"
        )
    else:
        lines.append(f"{out} is what the Clusterfile renders: no drift")
    for reason, paths in drift.unverified.items():
        named = ", ".join(paths[:_NAMED]) + (", …" if len(paths) > _NAMED else "")
        lines.append(f"{len(paths)} file{'s' * (len(paths) != 1)} ({named}): {reason}")
    return lines


def as_dict(drift: Drift, out: str) -> dict[str, object]:
    """The JSON shape of `check --output json`."""
    document: dict[str, object] = {
        "out": out,
        "status": "differs" if drift.differs else "same",
        "changed": drift.paths("changed"),
        "added": drift.paths("added"),
        "removed": drift.paths("removed"),
        "unverified": [
            {"reason": reason, "files": paths} for reason, paths in drift.unverified.items()
        ],
    }
    if drift.fleet:
        document["driftedClusters"] = drift.drifted_clusters
    return document
