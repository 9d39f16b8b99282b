"""Whole outputs for every fixture, compared byte for byte; `make golden` regenerates them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from generator.app.pipeline import Request, run
from tests.conftest import FIXTURES, HERE, assert_valid

GOLDEN = HERE / "golden"
CASES = sorted(p.name for p in FIXTURES.glob("*.yaml"))


def render_fixture(name: str, ca_root: Path) -> str:
    path = FIXTURES / name
    # An empty CA root keeps sealer's on-disk CA files of this machine out of the output.
    return run(path.read_bytes(), name, Request(ca_root=ca_root)).stream


@pytest.mark.parametrize("name", CASES)
def test_fixture_matches_golden(name: str, tmp_path: Path) -> None:
    golden = GOLDEN / name
    text = render_fixture(name, tmp_path)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"no golden file for {name}: run `make golden`"
    # Compare without printing the texts: both hold (test) credentials.
    assert text == golden.read_text(encoding="utf-8"), f"{name} differs from {golden.name}"


@pytest.mark.parametrize("name", CASES)
def test_fixture_output_validates(name: str, tmp_path: Path) -> None:
    for document in yaml.safe_load_all(render_fixture(name, tmp_path)):
        assert_valid(document)


def test_every_fixture_has_a_golden_file() -> None:
    assert sorted(p.name for p in GOLDEN.glob("*.yaml")) == CASES


@pytest.mark.parametrize("name", CASES)
def test_argo_owns_the_instance_label(name: str, tmp_path: Path) -> None:
    """Argo CD's label tracking owns app.kubernetes.io/instance: no object may carry it, and
    the cluster's name goes to sealer.io/cluster on every object that has labels."""
    request = Request(ca_root=tmp_path, pull_namespaces=("apps",), patches=("apps/deployment/w",))
    result = run((FIXTURES / name).read_bytes(), name, request)
    for path, text in result.files.items():
        assert "app.kubernetes.io/instance" not in text, path
        for document in yaml.safe_load_all(text):
            labels = document.get("metadata", {}).get("labels")
            if labels is not None:
                assert labels["sealer.io/cluster"] == result.cluster, path
