"""What a SOPS render reads from the disk: the .sops.yaml that applies, age identities, and the
SOPS files an earlier render wrote (to leave unchanged ones untouched)."""

from __future__ import annotations

import os
from pathlib import Path

from generator.errors import GenSecretError
from generator.io.inputs import MAX_LIST_BYTES, read_bytes
from generator.render.sops import SopsSettings

# sops looks for its config this many folders up, and reads no other name.
SOPS_SEARCH_DEPTH = 100
SOPS_CONFIG = ".sops.yaml"
MAX_SOPS_CONFIG_BYTES = 1024 * 1024


def find_sops_config(start: Path) -> tuple[Path | None, list[str]]:
    """The nearest `.sops.yaml` in `start` (which need not exist yet) or a folder above it, as
    sops looks from where it runs; and a warning about a `.sops.yml` it would ignore."""
    warnings: list[str] = []
    folder = Path(os.path.abspath(start))
    for _ in range(SOPS_SEARCH_DEPTH):
        candidate = folder / SOPS_CONFIG
        if candidate.is_file():
            return candidate, warnings
        if (folder / ".sops.yml").is_file() and not warnings:
            warnings.append(f"ignoring {folder / '.sops.yml'}: sops reads only {SOPS_CONFIG}")
        if folder.parent == folder:
            break
        folder = folder.parent
    return None, warnings


def sops_settings(
    recipients: list[str], config: Path | None, out: str | None, environ: dict[str, str]
) -> SopsSettings:
    """Everything a SOPS render reads: the recipients or the creation rules that choose them,
    the age identities that open earlier files, and those files (with --out).

    Rules are looked for from the output folder upward (stdout: the current folder), and a
    file's path, for their path_regex, is the output folder joined with its name.
    """
    import datetime

    from generator.io.output import read_previous
    from generator.render import sops
    from generator.render.sopsconfig import parse

    start = Path(out) if out is not None else Path()
    warnings: list[str] = []
    rules = None
    checked: tuple[str, ...] = ()
    if recipients:
        checked = sops.recipient_list(recipients, "--sops-age")
    else:
        path = config
        if path is None:
            path, warnings = find_sops_config(start)
        if path is None:
            also = f" ({warnings[0]})" if warnings else ""
            raise GenSecretError(
                f"no {SOPS_CONFIG} in {os.path.abspath(start)} or a folder above it to choose "
                f"age recipients: give --sops-age RECIPIENT or --sops-config FILE{also}"
            )
        data = read_bytes(path, MAX_SOPS_CONFIG_BYTES)
        if len(data) > MAX_SOPS_CONFIG_BYTES:
            raise GenSecretError("file is larger than 1 MiB", str(path))
        from generator.model.safeyaml import decode

        rules = parse(decode(data, str(path)), str(path), os.path.abspath(path.parent))
    sources: list[tuple[str, str, bool]] = []
    if "SOPS_AGE_KEY" in environ:  # sops: several keys a line, split at white space
        sources.append(("SOPS_AGE_KEY", environ["SOPS_AGE_KEY"], True))
    if "SOPS_AGE_KEY_FILE" in environ:
        key_file = environ["SOPS_AGE_KEY_FILE"]
        try:
            data = read_bytes(Path(key_file), MAX_LIST_BYTES, f"SOPS_AGE_KEY_FILE {key_file}")
            sources.append((f"SOPS_AGE_KEY_FILE {key_file}", data.decode("utf-8"), False))
        except (GenSecretError, UnicodeDecodeError) as exc:
            reason = exc if isinstance(exc, GenSecretError) else "not UTF-8 text"
            warnings.append(f"cannot use SOPS_AGE_KEY_FILE: {reason}")
    identities, problems = sops.parse_identities(sources)
    previous = {}
    if out is not None:
        previous = read_previous(Path(out), sops.may_hold_secret, sops.MAX_PREVIOUS_BYTES)
    return sops.SopsSettings(
        out_dir=os.path.abspath(start),
        now=datetime.datetime.now(datetime.UTC),
        recipients=checked,
        config=rules,
        identities=identities,
        previous=previous,
        warnings=(*warnings, *problems),
    )
