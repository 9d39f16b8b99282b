"""Rotation: the previous login under the scheme-prefixed key serves exactly the same images."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from generator.model.authsources import rotation_key
from generator.model.matching import match, normalise_key
from tests.conftest import FIXTURES, Run, decode_data

Cli = Callable[..., Run]
HA = FIXTURES / "ha-auth-multidoc.yaml"  # sea.hub:5000, SANs 10.0.0.11 and another name
SEED = FIXTURES / "seed-clusterfile.yaml"  # a local registry without credentials
OLD = "0ld-Pa55word/rotated+out"


@pytest.fixture
def previous(tmp_path: Path) -> Path:
    path = tmp_path / "previous-password"
    path.write_text(OLD + "\n")
    return path


def auths(cli: Cli, *args: str, stdin: bytes = b"") -> dict[str, dict[str, str]]:
    result = cli("render", *args, stdin=stdin)
    assert result.code == 0, result.err
    secret = next(d for d in yaml.safe_load_all(result.out) if d["kind"] == "Secret")
    found: dict[str, dict[str, str]] = json.loads(decode_data(secret)[".dockerconfigjson"])["auths"]
    return found


def test_previous_login_goes_under_every_key_with_its_scheme(cli: Cli, previous: Path) -> None:
    plain = auths(cli, str(HA))
    rotated = auths(cli, str(HA), "--previous-password-file", str(previous))
    assert set(rotated) == set(plain) | {f"https://{k}" for k in plain}
    for key, entry in plain.items():
        assert rotated[key] == entry, "the current login is unchanged"
        old = rotated[rotation_key(key)]
        assert old["username"] == entry["username"], "default: the current username"
        same = old["password"] == OLD
        assert same, "the previous password is not under the https:// key"


def test_previous_username_and_password_from_stdin(cli: Cli) -> None:
    rotated = auths(
        cli,
        str(HA),
        "--previous-username",
        "old-robot",
        "--previous-password-stdin",
        stdin=f"{OLD}\n".encode(),
    )
    assert rotated["https://sea.hub:5000"]["username"] == "old-robot"
    assert rotated["sea.hub:5000"]["username"] == "sealer"


def test_aliases_are_rotated_too(cli: Cli, previous: Path) -> None:
    rotated = auths(
        cli, str(HA), "--alias", "*.prod.internal:5000", "--previous-password-file", str(previous)
    )
    assert "https://*.prod.internal:5000" in rotated


# Images every key below is tried against: ports, no port, IPs, paths, globs, Docker Hub.
IMAGES = [
    "sea.hub:5000/app",
    "sea.hub:5000/team/app:1",
    "sea.hub:5001/app",
    "sea.hub/app",
    "10.0.0.11:5000/app",
    "registry.prod-east.internal:5000/x",
    "a.prod.internal:5000/x",
    "a.b.prod.internal:5000/x",
    "harbor.example.com/p/app",
    "harbor.example.com:443/p/app",
    "[fd00::1]:5000/app",
    "busybox",
    "docker.io/library/nginx",
]
KEYS = [
    "sea.hub:5000",
    "sea.hub:5000/team",
    "10.0.0.11:5000",
    "registry.prod-east.internal:5000",
    "*.prod.internal:5000",
    "harbor.example.com",
    "[fd00::1]:5000",
    "index.docker.io",
]


@pytest.mark.parametrize("key", KEYS)
def test_both_keys_serve_exactly_the_same_images(key: str) -> None:
    # The kubelet's keyring normalisation (matching.py models keyring.go): the scheme is dropped.
    assert normalise_key(key).normalised == normalise_key(rotation_key(key)).normalised
    for image in IMAGES:
        plain = match(image, [key]).served
        rotated = match(image, [rotation_key(key)]).served
        assert plain == rotated, image
    assert any(match(image, [key]).served for image in IMAGES), "the key serves no image here"


def test_match_lists_both_logins_in_the_kubelets_order(cli: Cli, previous: Path) -> None:
    result = cli(
        "match",
        str(HA),
        "--previous-password-file",
        str(previous),
        "--previous-username",
        "old-robot",
        "-i",
        "sea.hub:5000/app",
    )
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "sea.hub:5000/app (sea.hub:5000/app:latest): served by https://sea.hub:5000, sea.hub:5000",
        "  the kubelet tries each login in turn until a pull succeeds:",
        "  1. https://sea.hub:5000: user old-robot, from the previous login (rotation)",
        "  1. sea.hub:5000: user sealer, from the Clusterfile",
        "  (one number, one registry to the kubelet: it tries those in either order)",
    ]
    document = json.loads(
        cli(
            "match",
            str(HA),
            "--previous-password-file",
            str(previous),
            "-i",
            "sea.hub:5000/app",
            "--output",
            "json",
        ).out
    )
    (image,) = document["images"]
    assert image["credentials"] == [
        {
            "key": "https://sea.hub:5000",
            "try": 1,
            "username": "sealer",
            "source": "previous login (rotation)",
        },
        {"key": "sea.hub:5000", "try": 1, "username": "sealer", "source": "Clusterfile"},
    ]
    assert OLD not in result.out + result.err


def test_a_more_specific_key_is_tried_first(cli: Cli, previous: Path, tmp_path: Path) -> None:
    merged = tmp_path / "team.json"
    merged.write_text(json.dumps({"auths": {"sea.hub:5000/team": {"auth": "dGVhbTpwdw=="}}}))
    result = cli(
        "match",
        str(HA),
        "--previous-password-file",
        str(previous),
        "--merge-auths",
        str(merged),
        "-i",
        "sea.hub:5000/team/app",
    )
    assert result.code == 0, result.err
    assert result.out.splitlines()[1:4] == [
        "  the kubelet tries each login in turn until a pull succeeds:",
        f"  1. sea.hub:5000/team: user team, from {merged}",
        "  2. https://sea.hub:5000: user sealer, from the previous login (rotation)",
    ]


def test_inspect_names_the_rotation_keys(cli: Cli, previous: Path) -> None:
    result = cli("inspect", str(HA), "--previous-password-file", str(previous), "--output", "json")
    summary = json.loads(result.out)
    assert summary["authSources"]["https://sea.hub:5000"] == "previous login (rotation)"
    assert summary["password"] == "********"
    assert OLD not in result.out


USAGE = {
    "--previous-username alone": (
        ["--previous-username", "x"],
        "--previous-username needs --previous-password-file or --previous-password-stdin",
    ),
    "two previous passwords": (
        ["--previous-password-stdin", "--previous-password-file", "{previous}"],
        "--previous-password-stdin and --previous-password-file cannot be used together",
    ),
    "both passwords from stdin": (
        ["--previous-password-stdin", "--password-stdin"],
        "only one input can come from stdin: --password-stdin and --previous-password-stdin",
    ),
}


@pytest.mark.parametrize("command", ["render", "inspect"])
@pytest.mark.parametrize(("args", "message"), USAGE.values(), ids=USAGE.keys())
def test_usage_errors(
    cli: Cli, previous: Path, command: str, args: list[str], message: str
) -> None:
    argv = [a.format(previous=previous) for a in args]
    result = cli(command, str(HA), *argv, stdin=b"x\n")
    assert (result.code, result.err) == (2, f"gen-secret: error: {message}\n")


def test_a_registry_without_a_username_needs_previous_username(cli: Cli, previous: Path) -> None:
    result = cli("render", str(SEED), "--previous-password-file", str(previous))
    assert result.code == 1
    assert result.err == (
        "gen-secret: error: registry sea.hub:5000 has no username to go with the previous "
        "password; give --previous-username\n"
    )
    rotated = auths(
        cli, str(SEED), "--previous-password-file", str(previous), "--previous-username", "u"
    )
    assert rotated["sea.hub:5000"] == {}
    assert rotated["https://sea.hub:5000"]["username"] == "u"


def test_rotating_to_the_same_login_is_a_warning(cli: Cli, tmp_path: Path) -> None:
    same = tmp_path / "same"
    same.write_text("Sealer#2024:pw\n")  # the fixture's own password
    result = cli("render", str(HA), "--previous-password-file", str(same))
    assert result.code == 0
    assert "the previous login is the current one: nothing is rotated" in result.err
    assert "Sealer#2024" not in result.err
