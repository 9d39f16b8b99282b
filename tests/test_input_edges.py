"""Smaller edges of input: byte-order marks, a password typed at a terminal, one password for a
whole fleet, a registry without a CA, keys the kubelet cannot read, new --out folders."""

from __future__ import annotations

import fcntl
import os
import select
import stat
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
import yaml

import tests.builders as builders
import tests.test_fleet as fleet
from tests.conftest import FIXTURES, Cli, decode_data, gen_secret_script, run_script

CLUSTERFILE = FIXTURES / "ha-auth-multidoc.yaml"


def password_of(stream: str) -> bytes:
    (secret,) = yaml.safe_load_all(stream)
    return decode_data(secret)["password"]


# --- byte-order marks -------------------------------------------------------------------------


def test_a_bom_in_the_password_file_is_not_part_of_the_password(cli: Cli, tmp_path: Path) -> None:
    password = tmp_path / "password"
    password.write_bytes(b"\xef\xbb\xbffrom-notepad\r\n")
    result = cli("render", str(CLUSTERFILE), "--password-file", str(password))
    assert result.code == 0, result.err
    same = password_of(result.out) == b"from-notepad"  # never shown: a password
    assert same, "the byte-order mark went into the password"


def test_a_bom_in_the_namespace_list_is_not_part_of_the_first_name(
    cli: Cli, tmp_path: Path
) -> None:
    listing = tmp_path / "namespaces.txt"
    listing.write_bytes(b"\xef\xbb\xbfteam-a\nteam-b\n")
    result = cli("render", str(CLUSTERFILE), "--pull-namespaces-from", str(listing))
    assert result.code == 0, result.err
    namespaces = {d["metadata"]["namespace"] for d in yaml.safe_load_all(result.out)}
    assert {"team-a", "team-b"} <= namespaces


# --- a password typed at a terminal -----------------------------------------------------------


def read_until(fd: int, wanted: bytes, deadline: float) -> bytes:
    """What a terminal shows until `wanted` appears, the program closes it, or time is up."""
    shown = b""
    while wanted not in shown and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the program closed the terminal
                break
            if not chunk:
                break
            shown += chunk
    return shown


def test_password_stdin_on_a_terminal_prompts_and_does_not_echo() -> None:
    master, slave = os.openpty()

    def controlling_terminal() -> None:  # as a login shell would have it
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [gen_secret_script(), "render", str(CLUSTERFILE), "--password-stdin"],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=controlling_terminal,
    )
    os.close(slave)
    deadline = time.monotonic() + 60
    try:
        shown = read_until(master, b"Registry password: ", deadline)
        assert b"Registry password: " in shown
        os.write(master, b"typed-at-terminal\n")
        shown += read_until(master, b"\x00never", time.monotonic() + 3)
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    echoed = b"typed-at-terminal" in shown  # never shown: a password
    assert not echoed, "the password was echoed on the terminal"
    same = password_of(out.decode()) == b"typed-at-terminal"
    assert same, "the Secret does not hold the password typed"


# --- one password for a fleet -----------------------------------------------------------------


@pytest.fixture
def two_clusters(tmp_path: Path) -> list[str]:
    return [
        str(builders.fleet_member(tmp_path / "fleet", f"{name}.yaml", name, f"own-{name}"))
        for name in ("east", "west")
    ]


def test_a_fleet_takes_one_password_only_when_told(
    cli: Cli, two_clusters: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    refused = cli("render", *two_clusters, "--out", str(out), "--password-stdin", stdin=b"x\n")
    assert refused.code == 2
    assert "--password-for-all" in refused.err
    assert len(refused.err.splitlines()) == 1
    assert not out.exists()
    args = ["--out", str(out), "--password-stdin", "--password-for-all"]
    result = cli("render", *two_clusters, *args, stdin=b"shared\n")
    assert result.code == 0, result.err
    shared = {fleet.password_in(out / name) for name in ("east", "west")} == {"shared"}
    assert shared, "not every cluster got the password given"


def test_password_for_all_needs_a_password(cli: Cli, two_clusters: list[str]) -> None:
    result = cli("render", two_clusters[0], "--password-for-all")
    assert result.code == 2
    assert "--password-for-all needs --password-stdin or --password-file" in result.err


def test_a_fleet_without_a_password_option_needs_nothing(
    cli: Cli, two_clusters: list[str], tmp_path: Path
) -> None:
    result = cli("render", *two_clusters, "--out", str(tmp_path / "out"))
    assert result.code == 0, result.err
    assert fleet.password_in(tmp_path / "out" / "east") == "own-east"


# --- new --out folders ------------------------------------------------------------------------


def test_new_parent_folders_of_out_are_0700(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "out"
    prefix = ["sh", "-c", 'umask 022 && exec "$0" "$@"']
    result = run_script("render", str(CLUSTERFILE), "--out", str(out), prefix=prefix)
    assert result.code == 0, result.err
    modes = {
        str(p.relative_to(tmp_path)): f"{stat.S_IMODE(p.stat().st_mode):o}"
        for p in (tmp_path / "a", tmp_path / "a" / "b", out)
    }
    assert modes == {"a": "700", "a/b": "700", "a/b/out": "700"}


def test_a_failed_write_removes_the_parent_folders_it_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tests.test_safe_writes as safe_writes
    from generator.errors import GenSecretError
    from generator.io.output import write_tree

    safe_writes.short_write_on_call(monkeypatch, 2)
    with pytest.raises(GenSecretError):
        write_tree(tmp_path / "a" / "b" / "out", safe_writes.SECOND)
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


# --- a registry without a CA ------------------------------------------------------------------


def tls_clusterfile(tmp_path: Path) -> Path:
    """A TLS registry whose CA no machine has, where sealer or the nodes would keep it."""
    path = tmp_path / "Clusterfile"
    text = CLUSTERFILE.read_text()
    path.write_text(text.replace("domain: sea.hub", "domain: registry.gen-secret.test"))
    return path


def test_a_tls_registry_without_a_ca_gets_a_note_on_a_terminal(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # sealer's CA is seldom on the machine that renders: a pipeline hears nothing of it.
    quiet = cli("render", str(tls_clusterfile(tmp_path)))
    assert (quiet.code, quiet.err) == (0, "")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    result = cli("render", str(tls_clusterfile(tmp_path)))
    assert result.code == 0
    assert (
        "gen-secret: note: no CA certificate found for registry.gen-secret.test:5000 where "
        "sealer keeps it: the Secret has no ca.crt; give one with --ca-file\n"
    ) in result.err
    (secret,) = yaml.safe_load_all(result.out)
    assert "ca.crt" not in secret["data"]


def test_no_ca_note_for_an_insecure_registry_or_a_given_ca(cli: Cli, tmp_path: Path) -> None:
    from tests.conftest import openssl_ca

    assert cli("render", str(FIXTURES / "insecure-custom.yaml")).err == ""
    openssl_ca(tmp_path / "key.pem", tmp_path / "ca.pem")
    given = cli("render", str(tls_clusterfile(tmp_path)), "--ca-file", str(tmp_path / "ca.pem"))
    assert (given.code, given.err) == (0, "")


# --- keys the kubelet cannot read -------------------------------------------------------------


def test_an_ipv6_zone_id_is_refused_where_the_file_has_it(cli: Cli, tmp_path: Path) -> None:
    # The kubelet's keyring cannot read a key whose host carries a zone id, and Go's
    # net.ParseIP, with which sealer reads the file, refuses it too.
    path = tmp_path / "Clusterfile"
    zone = '"fe80::1%eth0"'
    text = CLUSTERFILE.read_text().replace("ips: [10.0.0.11]", f"ips: [10.0.0.11, {zone}]")
    path.write_text(text)
    result = cli("render", str(path))
    assert (result.code, result.out) == (1, "")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "fe80::1%eth0" in row)
    assert result.err == (
        "gen-secret: error: not an IP address: an IPv6 zone id (the part from '%') is not "
        f"allowed (spec.registry.localRegistry.cert.subjectAltName.ips[1] at {path}:{line})\n"
    )


def test_a_registry_domain_with_a_zone_id_is_refused(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "Clusterfile"
    path.write_text(CLUSTERFILE.read_text().replace("domain: sea.hub", 'domain: "fe80::1%eth0"'))
    result = cli("render", str(path))
    assert result.code == 1
    assert "domain must not carry an IPv6 zone id (the part from '%')" in result.err
