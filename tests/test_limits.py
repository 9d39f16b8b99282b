"""Limits on what a run produces: no Secret the API server refuses, bounded output and input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from generator.plan import limits
from tests.conftest import FIXTURES, Cli, decode_data

CLUSTERFILE = FIXTURES / "ha-auth-multidoc.yaml"
MIB = 1024 * 1024


def with_sans(tmp_path: Path, count: int) -> Path:
    """The fixture with `count` more IP SANs, each a further auths key."""
    ips = ", ".join(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(count))
    text = CLUSTERFILE.read_text().replace("ips: [10.0.0.11]", f"ips: [{ips}]")
    path = tmp_path / "Clusterfile"
    path.write_text(text)
    return path


def data_size(stream: str) -> int:
    """What the API server counts: the Secret's data values, decoded."""
    (secret,) = yaml.safe_load_all(stream)
    return sum(len(value) for value in decode_data(secret).values())


def test_ten_thousand_sans_are_refused_naming_the_cause(cli: Cli, tmp_path: Path) -> None:
    result = cli("render", str(with_sans(tmp_path, 10_000)))
    assert result.code == 1
    assert result.out == ""
    assert result.err.startswith("gen-secret: error: Secret kube-system/sealer-registry would")
    assert "over Kubernetes' limit of 1 MiB for a Secret" in result.err
    assert "each of its 10,002 auths keys (10,001 from cert.subjectAltName, 0 from --alias)" in (
        result.err
    )
    assert len(result.err.splitlines()) == 1


def test_the_limit_is_the_api_servers_own_sum(cli: Cli, tmp_path: Path) -> None:
    # A 60 KiB password: each auths key repeats it, and its base64 in `auth` (140 KiB a key),
    # and the `password` key holds it once more. Six keys keep the data under 1 MiB; seven
    # take it over.
    password = tmp_path / "password"
    password.write_text("p" * 60 * 1024 + "\n")
    base = ["render", str(CLUSTERFILE), "--password-file", str(password)]
    aliases = [f"--alias=alias{i}.internal:5000" for i in range(4)]  # 2 SAN keys + the URL
    under = cli(*base, *aliases[:3])
    assert under.code == 0, under.err
    assert MIB - 200 * 1024 < data_size(under.out) <= MIB
    over = cli(*base, *aliases)
    assert over.code == 1
    assert "7 auths keys (2 from cert.subjectAltName, 4 from --alias)" in over.err
    assert "the password is 60 KiB" in over.err


def test_a_huge_ca_is_named(cli: Cli, tmp_path: Path) -> None:
    from tests.conftest import openssl_ca

    pem = openssl_ca(tmp_path / "key.pem", tmp_path / "ca.pem")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pem * (MIB // len(pem) - 8))  # just under the 1 MiB input limit
    password = tmp_path / "password"
    password.write_text("p" * 40 * 1024 + "\n")
    result = cli(
        "render", str(CLUSTERFILE), "--ca-file", str(bundle), "--password-file", str(password)
    )
    assert result.code == 1
    assert re.search(r"the password is 40 KiB; ca\.crt is 10[0-9][0-9] KiB$", result.err)


def test_a_fan_out_over_the_output_limit_is_refused_before_it_is_built(
    cli: Cli, tmp_path: Path
) -> None:
    listing = "".join(f"team-{i}\n" for i in range(80_000)).encode()
    result = cli("render", str(CLUSTERFILE), "--pull-namespaces-from", "-", stdin=listing)
    assert result.code == 1
    assert result.out == ""
    assert "more than the limit of 64 MiB: 80,000 pull namespaces" in result.err
    assert len(result.err.splitlines()) == 1


def test_a_large_pull_copy_counts_for_every_namespace(cli: Cli, tmp_path: Path) -> None:
    # A .dockerconfigjson of 830 KiB is a legal Secret, but not 80 copies of it.
    args = ["render", str(with_sans(tmp_path, 8_000)), "--out", str(tmp_path / "out")]
    namespaces = [f"--pull-namespace=team-{i}" for i in range(80)]
    assert cli(*args).code == 0
    result = cli(*args, *namespaces)
    assert result.code == 1
    assert "80 pull namespaces, each with a copy of .dockerconfigjson (830 KiB)" in result.err


def test_the_estimate_is_close_to_what_is_written_and_never_over(cli: Cli, tmp_path: Path) -> None:
    # Over would refuse a fan-out that fits; far under would let memory grow past the limit
    # before the exact count after rendering stops it.
    listing = "".join(f"team-{i}\n" for i in range(2_000)).encode()
    out = tmp_path / "out"
    accounts = ["--service-account", "default", "--service-account", "builder"]
    result = cli(
        "render", str(CLUSTERFILE), "--out", str(out), "--pull-namespaces-from", "-", *accounts,
        stdin=listing,
    )  # fmt: skip
    assert result.code == 0, result.err
    written = (out / "pull-secrets.yaml").stat().st_size
    (secret,) = yaml.safe_load_all((out / "secret.yaml").read_text())
    config = len(decode_data(secret)[".dockerconfigjson"])
    names = len("- name: sealer-registry\n")
    estimate = limits.fan_out_estimate(config, 2_000, 2, names, 0)
    assert 0.9 * written <= estimate <= written


def test_a_fleet_past_the_output_limit_is_refused(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tests.builders as builders

    files = [builders.fleet_member(tmp_path, f"c{i}.yaml", f"c{i}") for i in range(5)]
    one = len(cli("render", str(files[0])).out)
    monkeypatch.setattr(limits, "MAX_OUTPUT", 3 * one)
    out = tmp_path / "out"
    result = cli("render", *map(str, files), "--out", str(out))
    assert result.code == 1
    assert "the output of this run passes the limit" in result.err
    assert not out.exists()


@pytest.mark.parametrize(("limit", "value"), [("MAX_CLUSTERS", 3), ("MAX_INPUT", 5000)])
def test_a_fleet_past_the_input_limits_is_refused(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: str, value: int
) -> None:
    import tests.builders as builders
    from generator.io import inputs

    for i in range(5):
        builders.fleet_member(tmp_path / "fleet", f"c{i}.yaml", f"c{i}")
    monkeypatch.setattr(inputs, limit, value)
    result = cli("render", str(tmp_path / "fleet"), "--out", str(tmp_path / "out"))
    assert result.code == 1
    assert len(result.err.splitlines()) == 1
    assert "Clusterfiles" in result.err
    assert not (tmp_path / "out").exists()


def test_sizes_read_as_people_write_them() -> None:
    assert [limits.size(n) for n in (512, 1536, 3 * MIB // 2)] == ["512 bytes", "1 KiB", "1.5 MiB"]
