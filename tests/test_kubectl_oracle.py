"""`.dockerconfigjson` must be byte-for-byte what `kubectl create secret docker-registry` writes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from generator.app.pipeline import Request, run
from tests.builders import as_bytes, clusterfile_document
from tests.conftest import assert_valid, decode_data, kubectl_dockerconfigjson

# (username, password): every character class that Go's encoder treats specially.
CREDENTIALS = [
    ("sealer", "Sealer#2024:pw"),
    ("admin", "quote\"double'single"),
    ("html", "<script>&amp;</script>"),
    ("unicode-ü", "pässwörd-日本語-😀"),
    ("spaces in name", "  leading and trailing  "),
    ("back\\slash", "C:\\path\\to"),
    ("seps", "\u2028line\u2029para"),
    ("ctl", "tab\there\x01\x1f\x7f"),
    ("ff", "bell\b-feed\f-cr\r-nl\n"),
    ("yaml", "--- {{ jinja }} # not a comment: yes"),
    ("long", "x" * 4096),
    ("robot$ci", "$HOME%s%d"),
    ("u", "="),
    ("0123", "true"),
]
SERVERS = ["sea.hub:5000", "harbor.example.com", "10.0.0.11:5000", "registry.lab.local:8443"]


def clusterfile(server: str, username: str, password: str) -> bytes:
    """A local registry for `host:port`, an external one for a bare host."""
    domain, _, port = server.partition(":")
    port_number = int(port) if port else None
    return as_bytes(
        clusterfile_document(
            domain, port_number, username, password, external=not port, name="oracle"
        )
    )


@pytest.mark.parametrize(
    ("username", "password"), CREDENTIALS, ids=[u[:12] for u, _ in CREDENTIALS]
)
def test_dockerconfigjson_equals_kubectl(username: str, password: str, tmp_path: Path) -> None:
    server = "sea.hub:5000"
    result = run(clusterfile(server, username, password), "oracle", Request(ca_root=tmp_path))
    (secret,) = yaml.safe_load_all(result.stream)
    assert_valid(secret)
    ours = decode_data(secret)[".dockerconfigjson"]
    # Compared as booleans: a failure must not print the credentials.
    assert ours == kubectl_dockerconfigjson(server, username, password), (
        "bytes differ from kubectl's"
    )


@pytest.mark.parametrize("server", SERVERS)
def test_server_key_equals_kubectl(server: str, tmp_path: Path) -> None:
    result = run(clusterfile(server, "sealer", "pw"), "oracle", Request(ca_root=tmp_path))
    (secret,) = yaml.safe_load_all(result.stream)
    expected = kubectl_dockerconfigjson(server, "sealer", "pw")
    assert decode_data(secret)[".dockerconfigjson"] == expected, f"bytes differ for {server}"


def test_credentials_from_options_equal_kubectl(tmp_path: Path) -> None:
    request = Request(username="ci-bot", password="fr0m-stdin<&>", ca_root=tmp_path)
    result = run(clusterfile("sea.hub:5000", "file-user", "file-pass"), "oracle", request)
    (secret,) = yaml.safe_load_all(result.stream)
    expected = kubectl_dockerconfigjson("sea.hub:5000", "ci-bot", "fr0m-stdin<&>")
    assert decode_data(secret)[".dockerconfigjson"] == expected, "bytes differ from kubectl's"
