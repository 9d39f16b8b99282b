"""Clusterfiles for tests, built in one place: one cluster, or a fleet of them.

Two ways to write one, for two kinds of test:
- `as_bytes(clusterfile_document(...))`: a sealer v2 Cluster emitted by PyYAML, which quotes
  whatever needs quoting, so any username or password reaches gen-secret as the value it is;
- `fleet_member` / `big_fleet`: the multi-document fixture `ha-auth-multidoc.yaml` with its
  name and password replaced, the shape of a real cluster's file, written into a folder.
Tests about how text is read (line numbers, YAML corners) write their text themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.conftest import FIXTURES

# The fixture a fleet's members are made of, and the two things that differ between them.
MEMBER_SOURCE = (FIXTURES / "ha-auth-multidoc.yaml").read_text()
_MEMBER_NAME = "name: prod-east"
_MEMBER_PASSWORD = "Sealer#2024:pw"
# A fleet large enough to be spread over several worker processes.
BIG = 70


def clusterfile_document(
    domain: str = "sea.hub",
    port: int | None = 5000,
    username: str | None = None,
    password: str | None = None,
    *,
    external: bool = False,
    name: str = "unit",
) -> dict[str, Any]:
    """A sealer v2 Cluster whose registry is local (with a port) or external."""
    registry: dict[str, Any] = {"domain": domain}
    if port is not None:
        registry["port"] = port
    if username is not None:
        registry["username"] = username
    if password is not None:
        registry["password"] = password
    section = "externalRegistry" if external else "localRegistry"
    return {
        "apiVersion": "sealer.io/v2",
        "kind": "Cluster",
        "metadata": {"name": name},
        "spec": {"registry": {section: registry}},
    }


def as_bytes(document: dict[str, Any]) -> bytes:
    """A document as a Clusterfile's bytes, emitted by PyYAML, UTF-8 as written."""
    return yaml.safe_dump(document, allow_unicode=True).encode("utf-8")


def fleet_member(folder: Path, relative: str, name: str, password: str = "pw") -> Path:  # noqa: S107
    """One cluster of a fleet at `folder/relative`, named `name`, with its own password."""
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    text = MEMBER_SOURCE.replace(_MEMBER_NAME, f"name: {name}").replace(_MEMBER_PASSWORD, password)
    path.write_text(text)
    return path


def big_fleet(folder: Path, count: int = BIG) -> list[Path]:
    """`count` clusters c000, c001, ... in `folder`, each with its own password."""
    return [fleet_member(folder, f"c{i:03d}.yaml", f"c{i:03d}", f"pw-{i}") for i in range(count)]
