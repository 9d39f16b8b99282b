"""--node-files: containerd's certs.d layout and the kubelet's config.json, parsed back."""

from __future__ import annotations

import base64
import datetime
import json
import stat
import tomllib
from pathlib import Path

import pytest
import yaml

from generator.render.templates import toml_quote
from tests.conftest import FIXTURES, Cli, Run, openssl_ca, self_signed_certificate
from tests.test_fanout import kubectl

HA = FIXTURES / "ha-auth-multidoc.yaml"  # sea.hub:5000, SANs registry.prod-east.internal, 10.0.0.11


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ca")
    openssl_ca(folder / "ca.key", folder / "ca.pem", "node files test CA")
    return folder / "ca.pem"


def render(cli: Cli, clusterfile: Path, out: Path, *args: str) -> Run:
    result: Run = cli("render", str(clusterfile), "--out", str(out), "--node-files", *args)
    assert result.code == 0, result.err
    return result


def secret_config(out: Path) -> bytes:
    """`.dockerconfigjson` as the rendered Secret holds it."""
    secret = yaml.safe_load((out / "secret.yaml").read_text())
    return base64.b64decode(secret["data"][".dockerconfigjson"])


def hosts_toml(out: Path, key: str) -> dict[str, object]:
    return tomllib.loads((out / "nodes" / "certs.d" / key / "hosts.toml").read_text())


def test_every_registry_key_gets_hosts_toml_and_ca(cli: Cli, ca_file: Path, tmp_path: Path) -> None:
    render(cli, HA, tmp_path, "--ca-file", str(ca_file), "--alias", "registry.internal:443")
    keys = sorted(json.loads(secret_config(tmp_path))["auths"])
    assert keys == [
        "10.0.0.11:5000",
        "registry.internal:443",
        "registry.prod-east.internal:5000",
        "sea.hub:5000",
    ]
    assert sorted(p.name for p in (tmp_path / "nodes" / "certs.d").iterdir()) == keys
    for key in keys:
        server = f"https://{key}"
        assert hosts_toml(tmp_path, key) == {
            "server": server,
            "host": {server: {"capabilities": ["pull", "resolve"], "ca": "ca.crt"}},
        }
        assert (tmp_path / "nodes" / "certs.d" / key / "ca.crt").read_bytes() == (
            ca_file.read_bytes()
        )


def test_config_json_is_the_dockerconfigjson_mode_0600(
    cli: Cli, ca_file: Path, tmp_path: Path
) -> None:
    render(cli, HA, tmp_path, "--ca-file", str(ca_file))
    config = tmp_path / "nodes" / "config.json"
    assert config.read_bytes() == secret_config(tmp_path)
    assert json.loads(config.read_bytes())["auths"]["sea.hub:5000"]["username"] == "sealer"
    for path in (tmp_path / "nodes").rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_node_files_stay_out_of_the_kustomization(cli: Cli, ca_file: Path, tmp_path: Path) -> None:
    render(cli, HA, tmp_path, "--ca-file", str(ca_file))
    kustomization = yaml.safe_load((tmp_path / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["secret.yaml"]
    kinds = [d["kind"] for d in yaml.safe_load_all(kubectl("kustomize", str(tmp_path)))]
    assert kinds == ["Secret"]


def test_an_insecure_registry_skips_verification(cli: Cli, tmp_path: Path) -> None:
    render(cli, FIXTURES / "insecure-custom.yaml", tmp_path)
    server = "http://registry.lab.local:8443"
    assert hosts_toml(tmp_path, "registry.lab.local:8443") == {
        "server": server,
        "host": {server: {"capabilities": ["pull", "resolve"], "skip_verify": True}},
    }
    assert not (tmp_path / "nodes" / "certs.d" / "registry.lab.local:8443" / "ca.crt").exists()


def test_an_external_registry_without_port(cli: Cli, tmp_path: Path) -> None:
    result = render(cli, FIXTURES / "external-registry.yaml", tmp_path)
    server = "https://harbor.example.com"
    assert hosts_toml(tmp_path, "harbor.example.com") == {
        "server": server,
        "host": {server: {"capabilities": ["pull", "resolve"]}},
    }
    assert "no CA certificate for harbor.example.com" in result.err


def test_a_wildcard_key_gets_no_folder(cli: Cli, ca_file: Path, tmp_path: Path) -> None:
    result = render(cli, HA, tmp_path, "--ca-file", str(ca_file), "--alias", "*.prod:5000")
    assert "*.prod:5000" in json.loads(secret_config(tmp_path))["auths"]
    assert not (tmp_path / "nodes" / "certs.d" / "*.prod:5000").exists()
    assert "--node-files: no certs.d folder for the wildcard key *.prod:5000" in result.err


def test_sealed_output_keeps_the_credentials_off_the_disk(
    cli: Cli, ca_file: Path, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=365)
    cert = tmp_path / "seal.pem"
    cert.write_bytes(self_signed_certificate(key.public_key(), key, later))
    out = tmp_path / "out"
    result = render(cli, HA, out, "--ca-file", str(ca_file), "--seal-cert", str(cert))
    assert not (out / "nodes" / "config.json").exists()
    assert (out / "nodes" / "certs.d" / "sea.hub:5000" / "hosts.toml").exists()
    assert "nodes/config.json is not written with --seal-cert" in result.err
    assert "Sealer#2024" not in "".join(p.read_text() for p in out.rglob("*") if p.is_file())


def test_node_files_need_out(cli: Cli) -> None:
    result = cli("render", str(HA), "--node-files")
    assert (result.code, result.err) == (
        2,
        "gen-secret: error: --node-files writes files, so it needs --out DIR\n",
    )


@pytest.mark.parametrize(
    "text", ["plain", 'a "quoted" \\ one', "tab\tnew\nline\x7f\x00", "ünï©ødé 🚢", ""]
)
def test_toml_quote_reads_back(text: str) -> None:
    assert tomllib.loads(f"k = {toml_quote(text)}\n") == {"k": text}
