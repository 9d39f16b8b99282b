"""`gen-secret check`: drift between an --out folder and what render would write, exit codes as
`diff`, and a diff that is safe in a CI log."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.conftest import FIXTURES, Run, require_tool, run_script

Cli = Callable[..., Run]
HA = FIXTURES / "ha-auth-multidoc.yaml"
HA_PASSWORD = "Sealer#2024:pw"  # the fixture's test password
NEW_PASSWORD = "n3w-Pa55word-for-the-check"
MASK = "'********'"
CHANGED = "'******** (changed)'"


def forms(password: str, username: str = "sealer") -> list[str]:
    """The password as a diff could leak it: plain, base64, base64 of user:password."""
    return [
        password,
        base64.b64encode(password.encode()).decode(),
        base64.b64encode(f"{username}:{password}".encode()).decode(),
    ]


def assert_masked(text: str, *passwords: str) -> None:
    leaked = [i for p in passwords for i, f in enumerate(forms(p)) if f in text]
    assert not leaked, f"a password reached the output (forms {leaked})"


def snapshot(folder: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file's bytes, mode and mtime: check must change none of them."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mode, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def committed(cli: Cli, tmp_path: Path) -> Path:
    """An --out folder as render wrote it, with the pull copy and a patch, and a README of
    the user's that gen-secret did not write."""
    out = tmp_path / "committed"
    args = ("--pull-namespace", "apps", "--patch", "apps/deployment/web", "--out", str(out))
    result = cli("render", str(HA), *args)
    assert result.code == 0, result.err
    (out / "README.md").write_text("not gen-secret's\n")
    return out


ARGS = ("--pull-namespace", "apps", "--patch", "apps/deployment/web")


def test_unchanged_folder_is_exit_0_and_writes_nothing(cli: Cli, committed: Path) -> None:
    before = snapshot(committed)
    result = cli("check", str(HA), *ARGS, "--out", str(committed))
    assert (result.code, result.out) == (0, "")
    assert f"{committed} is what the Clusterfile renders: no drift" in result.err
    assert snapshot(committed) == before


def test_a_new_password_is_a_masked_change(cli: Cli, committed: Path, tmp_path: Path) -> None:
    password_file = tmp_path / "password"
    password_file.write_text(NEW_PASSWORD + "\n")
    before = snapshot(committed)
    result = cli(
        "check", str(HA), *ARGS, "--out", str(committed), "--password-file", str(password_file)
    )
    assert result.code == 1
    assert snapshot(committed) == before
    assert_masked(result.out + result.err, HA_PASSWORD, NEW_PASSWORD)
    lines = result.out.splitlines()
    assert f"--- {committed}/secret.yaml\t(on disk, secrets masked)" in lines
    assert f"+++ {committed}/secret.yaml\t(rendered, secrets masked)" in lines
    assert f"-  password: {MASK}" in lines
    assert f"+  password: {CHANGED}" in lines
    assert f"+          auth: {CHANGED}" in lines
    assert "   username: sealer" in lines  # not a secret: shown, as inspect shows it
    assert "2 files would change (2 changed)" in result.err  # secret.yaml, pull-secrets.yaml


def test_json_lists_changed_added_and_removed_files(cli: Cli, committed: Path) -> None:
    # Patch dropped (removed), another pull namespace (pull-secrets.yaml changed), and the
    # kustomization changes with them; the user's README is not gen-secret's business.
    result = cli(
        "check", str(HA), "--pull-namespace", "apps", "--pull-namespace", "ops",
        "--out", str(committed), "-o", "json",
    )  # fmt: skip
    assert result.code == 1
    assert json.loads(result.out) == {
        "out": str(committed),
        "status": "differs",
        "changed": ["pull-secrets.yaml"],
        "added": [],
        "removed": ["patches/apps/deployment-web.yaml"],
        "unverified": [],
    }
    shutil.rmtree(committed / "patches")
    (committed / "pull-secrets.yaml").unlink()
    again = cli("check", str(HA), *ARGS, "--out", str(committed), "--output", "json")
    assert json.loads(again.out)["added"] == [
        "patches/apps/deployment-web.yaml",
        "pull-secrets.yaml",
    ]


@pytest.mark.parametrize(
    "change",
    ["nothing", "password", "namespace", "drop the patch", "delete a file", "edit a file"],
)
def test_exit_codes_are_diffs(cli: Cli, committed: Path, tmp_path: Path, change: str) -> None:
    """The oracle: `diff -ru` between the folder and a fresh render of the same options."""
    diff = require_tool("diff", "apt-get install diffutils")
    args = list(ARGS)
    if change == "password":
        (tmp_path / "pw").write_text(NEW_PASSWORD)
        args += ["--password-file", str(tmp_path / "pw")]
    elif change == "namespace":
        args += ["--pull-namespace", "ops"]
    elif change == "drop the patch":
        args = ["--pull-namespace", "apps"]
    elif change == "delete a file":
        (committed / "kustomization.yaml").unlink()
    elif change == "edit a file":
        with (committed / "kustomization.yaml").open("a") as handle:
            handle.write("# a comment someone added\n")
    fresh = tmp_path / "fresh"
    assert cli("render", str(HA), *args, "--out", str(fresh)).code == 0
    excluded = ["-x", ".gen-secret-files", "-x", "README.md"]
    proc = subprocess.run(
        [diff, "-ru", *excluded, str(committed), str(fresh)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    result = cli("check", str(HA), *args, "--out", str(committed))
    assert result.code == proc.returncode, change
    assert (result.code == 0) == (change == "nothing")


def test_trouble_is_exit_2(cli: Cli, committed: Path, tmp_path: Path) -> None:
    diff = require_tool("diff", "apt-get install diffutils")
    missing = tmp_path / "missing"
    proc = subprocess.run([diff, "-ru", str(missing), str(committed)], capture_output=True,
                          timeout=60, check=False)  # fmt: skip
    result = cli("check", str(HA), *ARGS, "--out", str(missing))
    assert result.code == proc.returncode == 2
    assert result.err == f"gen-secret: error: --out folder does not exist ({missing})\n"
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: sealer.io/v2\nkind: Cluster\nspec: [\n")
    assert cli("check", str(bad), "--out", str(committed)).code == 2  # render would exit 1
    assert cli("check", str(HA), "--out", str(bad)).code == 2  # not a folder
    assert cli("check", str(HA)).code == 2  # no --out
    assert cli("check", str(HA), "-w", str(committed), "--bogus").code == 2


def test_a_file_gen_secret_did_not_write_is_trouble(cli: Cli, committed: Path) -> None:
    # render would refuse to overwrite it, so check cannot say what render would do.
    (committed / ".gen-secret-files").write_text("secret.yaml\n")
    result = cli("check", str(HA), *ARGS, "--out", str(committed))
    assert result.code == 2
    assert "was not written by gen-secret; render would refuse to overwrite it" in result.err


def test_the_short_options(cli: Cli, committed: Path) -> None:
    result = cli("check", str(HA), *ARGS, "-w", str(committed), "-o", "json")
    assert result.code == 0
    assert json.loads(result.out)["status"] == "same"


def test_a_hand_edited_secret_never_shows_its_values(cli: Cli, committed: Path) -> None:
    # `kubectl get secret -o yaml` output pasted over ours: the last-applied annotation holds
    # the whole Secret, a stringData holds the password in clear; neither may reach the log.
    secret = yaml.safe_load((committed / "secret.yaml").read_text())
    applied = json.dumps(secret)
    secret["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": applied
    }
    secret["stringData"] = {"password": HA_PASSWORD}
    (committed / "secret.yaml").write_text(yaml.safe_dump(secret))
    with (committed / "pull-secrets.yaml").open("a") as handle:
        handle.write(f"---\npassword: [{HA_PASSWORD}\n")  # not even YAML
    result = cli("check", str(HA), *ARGS, "--out", str(committed))
    assert result.code == 1
    assert_masked(result.out + result.err, HA_PASSWORD)
    assert "-    kubectl.kubernetes.io/last-applied-configuration: '********'" in result.out
    assert "-# (not valid YAML: not shown)" in result.out


def test_a_symlink_in_place_of_a_file_is_a_change(cli: Cli, committed: Path) -> None:
    target = committed.parent / "elsewhere.yaml"
    shutil.move(committed / "secret.yaml", target)
    os.symlink(target, committed / "secret.yaml")
    result = cli("check", str(HA), *ARGS, "--out", str(committed), "-o", "json")
    assert result.code == 1
    assert json.loads(result.out)["changed"] == ["secret.yaml"]


# --- sealed output -----------------------------------------------------------------------------


@pytest.fixture
def seal_cert(tmp_path: Path) -> Path:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tests.conftest import self_signed_certificate

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    import datetime

    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30)
    path = tmp_path / "sealed-secrets.pem"
    path.write_bytes(self_signed_certificate(key.public_key(), key, later))
    return path


def test_sealed_files_compare_all_but_the_ciphertext(
    cli: Cli, tmp_path: Path, seal_cert: Path
) -> None:
    out = tmp_path / "sealed"
    args = ("--seal-cert", str(seal_cert), "--pull-namespace", "apps")
    assert cli("render", str(HA), *args, "--out", str(out)).code == 0
    result = cli("check", str(HA), *args, "--out", str(out))
    assert (result.code, result.out) == (0, "")
    assert (
        "gen-secret: 2 files (pull-secrets.yaml, secret.yaml): the ciphertext cannot be "
        "checked without the sealed-secrets controller's private key; everything else matches"
    ) in result.err
    document = json.loads(cli("check", str(HA), *args, "--out", str(out), "-o", "json").out)
    assert document["status"] == "same"
    assert document["unverified"][0]["files"] == ["pull-secrets.yaml", "secret.yaml"]
    # A new password cannot be seen in a sealed file: only the controller could tell.
    (tmp_path / "pw").write_text(NEW_PASSWORD)
    blind = cli("check", str(HA), *args, "--out", str(out), "--password-file", str(tmp_path / "pw"))
    assert blind.code == 0
    # Everything else can: a label, a scope, a key of encryptedData.
    scoped = cli("check", str(HA), *args, "--seal-scope", "cluster-wide", "--out", str(out))
    assert scoped.code == 1
    assert "+    sealedsecrets.bitnami.com/cluster-wide: 'true'" in scoped.out
    assert "<sealed: cannot be compared>" in scoped.out


# --- fleets ------------------------------------------------------------------------------------


def test_a_fleet_names_the_clusters_that_drifted(cli: Cli, tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    for name in ("east", "north", "west"):
        (fleet / name).mkdir(parents=True)
        text = HA.read_text().replace("name: prod-east", f"name: {name}")
        (fleet / name / "Clusterfile").write_text(text)
    out = tmp_path / "rendered"
    assert cli("render", str(fleet), "--out", str(out)).code == 0
    assert cli("check", str(fleet), "--out", str(out)).code == 0
    west = fleet / "west" / "Clusterfile"
    west.write_text(west.read_text().replace("port: 5000", "port: 5001"))
    shutil.rmtree(fleet / "north")
    result = cli("check", str(fleet), "--out", str(out), "--output", "json")
    assert result.code == 1
    document = json.loads(result.out)
    assert document["driftedClusters"] == ["north", "west"]
    assert document["removed"] == ["north/kustomization.yaml", "north/secret.yaml"]
    assert document["changed"] == ["west/secret.yaml"]
    assert "has drifted in clusters north, west: 3 files would change" in result.err


def test_installed_script_exit_codes(committed: Path) -> None:
    assert run_script("check", str(HA), *ARGS, "--out", str(committed)).code == 0
    assert run_script("check", str(HA), "--out", str(committed)).code == 1
    assert run_script("check", str(HA), "--out", str(committed / "nope")).code == 2
