"""Every Clusterfile sealer reads, gen-secret reads the same way: eras, Go's decoding, verdicts.

The real-world cases in tests/realworld/ were taken as they are from sealer's public
repositories (Apache-2.0; each `*.source.txt` names the repository, path and commit), with what
sealer's own decoders, compiled from its source, make of each (`expected.json`).
"""

from __future__ import annotations

import base64
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.errors import GenSecretError
from generator.model.clusterfile import Cluster, Credentials, read_clusterfile
from generator.plan.context import RenderOptions, build_context
from tests.conftest import HERE, Cli

REALWORLD = HERE / "realworld"
SEALER_READS = HERE / "sealer_reads"
SOURCE = "Clusterfile"


def read(document: str, cluster: str | None = None) -> Cluster:
    return read_clusterfile(textwrap.dedent(document).encode(), SOURCE, cluster)


def refused(document: str) -> str:
    with pytest.raises(GenSecretError) as caught:
        read(document)
    message = str(caught.value)
    assert "\n" not in message
    return message


def secret_data(cluster: Cluster) -> dict[str, str]:
    secret = build_context(cluster, RenderOptions()).main_secret
    return {key: value.decode() for key, value in secret.data}


# --- the real-world sample, judged by sealer's own decoders ----------------------------------

CASES = json.loads((REALWORLD / "expected.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_real_clusterfile_gets_sealers_verdict_and_registry(case: dict[str, Any]) -> None:
    data = (REALWORLD / "cases" / case["case"]).read_bytes()
    if case["sealer"] == "rejects":
        with pytest.raises(GenSecretError):
            read_clusterfile(data, case["case"])
        return
    values = secret_data(read_clusterfile(data, case["case"]))
    got = {
        "url": values["url"],
        "username": values.get("username"),
        "password": bool(values.get("password")),
        "ha": values["ha"] == "true",
        "insecure": values["insecure"] == "true",
    }
    # A key missing from the expectation is one that more than one sealer answers differently.
    assert {key: got[key] for key in case["registry"]} == case["registry"]


# --- eras: which sealer wrote the file decides how it is read --------------------------------

LEGACY_CONFIG = """\
---
apiVersion: sealer.aliyun.com/v1alpha1
kind: Config
metadata:
  name: registry
spec:
  path: {path}
  data: |
    domain: old.hub
    port: {port}
    username: olduser
    password: {password}
"""


def legacy(api_version: str, path: str = "etc/registry.yml", port: str = "5443") -> str:
    head = f"apiVersion: {api_version}\nkind: Cluster\nmetadata:\n  name: c\n"
    return head + LEGACY_CONFIG.format(path=path, port=port, password="oldpass")


@pytest.mark.parametrize("api_version", ["sealer.aliyun.com/v1alpha1", "zlink.aliyun.com/v1alpha1"])
def test_legacy_era_one_registry_credentials_from_registry_yml(api_version: str) -> None:
    cluster = read(legacy(api_version))
    assert cluster.era == "legacy"
    assert cluster.registry.url == "old.hub:5443"
    assert cluster.registry.ha is False
    assert cluster.registry.credentials == Credentials("olduser", "oldpass")


@pytest.mark.parametrize("path", ["./etc/registry.yml", "/etc/registry.yml", "etc//registry.yml"])
def test_legacy_config_path_is_joined_to_the_rootfs_as_sealer_does(path: str) -> None:
    assert read(legacy("sealer.aliyun.com/v1alpha1", path)).registry.domain == "old.hub"


def test_legacy_last_registry_config_wins_as_the_last_file_written() -> None:
    later = LEGACY_CONFIG.format(path="etc/registry.yml", port="6000", password="x")
    cluster = read(legacy("sealer.aliyun.com/v1alpha1") + later)
    assert cluster.registry.url == "old.hub:6000"


def test_legacy_registry_yml_takes_numbers_as_text() -> None:
    # sealer 0.8's RegistryConfig is all strings, and sigs.k8s.io/yaml turns numbers into text.
    document = legacy("sealer.aliyun.com/v1alpha1").replace("password: oldpass", "password: 1234")
    assert read(document).registry.credentials == Credentials("olduser", "1234")


def test_legacy_unreadable_registry_yml_falls_back_to_the_default_with_a_warning() -> None:
    document = legacy("sealer.aliyun.com/v1alpha1").replace("port: 5443", "port: [1]")
    cluster = read(document)
    assert cluster.registry.url == "sea.hub:5000"
    assert cluster.registry.credentials is None
    assert any("default registry sea.hub:5000" in w for w in cluster.warnings)


def test_current_era_defaults_are_as_today() -> None:
    cluster = read("apiVersion: sealer.io/v2\nkind: Cluster\nmetadata:\n  name: c\n")
    assert (cluster.era, cluster.registry.url, cluster.registry.ha) == (
        "current",
        "sea.hub:5000",
        True,
    )


@pytest.mark.parametrize("api_version", ["sealer.cloud/v2", "sealer.aliyun.com/v2alpha1"])
def test_transitional_api_versions_follow_what_the_file_holds(api_version: str) -> None:
    # Written on both sides of sealer 0.9: a spec.registry is 0.9's, a registry.yml 0.8's.
    with_registry = read(
        f"""\
        apiVersion: {api_version}
        kind: Cluster
        spec:
          registry:
            localRegistry:
              domain: new.hub
              username: u
              password: p
        """
    )
    assert with_registry.era == "current"
    assert (with_registry.registry.domain, with_registry.registry.ha) == ("new.hub", True)
    with_config = read(legacy(api_version))
    assert with_config.era == "legacy"
    assert with_config.registry.credentials == Credentials("olduser", "oldpass")


def test_unknown_api_version_is_read_as_v2_with_a_note() -> None:
    cluster = read("apiVersion: example.com/v7\nkind: Cluster\nmetadata:\n  name: c\n")
    assert cluster.era == "current"
    assert cluster.registry.ha is True
    assert cluster.notes == (
        "apiVersion 'example.com/v7' is not one sealer wrote; read as sealer 0.9 and later "
        "read any Cluster (the v2 shape)",
    )


# --- several Clusters, none named ------------------------------------------------------------

TWO = """\
apiVersion: {v}
kind: Cluster
metadata:
  name: first
---
apiVersion: {v}
kind: Cluster
metadata:
  name: second
"""


@pytest.mark.parametrize(
    ("api_version", "taken"),
    [("sealer.aliyun.com/v1alpha1", "first"), ("sealer.io/v2", "second")],
)
def test_several_clusters_take_the_one_that_eras_sealer_takes(api_version: str, taken: str) -> None:
    cluster = read(TWO.format(v=api_version))
    assert cluster.name == taken
    assert len(cluster.notes) == 1
    assert f"Cluster '{taken}'" in cluster.notes[0]


def test_cluster_option_picks_one_and_names_the_others_when_missing() -> None:
    assert read(TWO.format(v="sealer.io/v2"), "first").name == "first"
    assert read(TWO.format(v="sealer.aliyun.com/v1alpha1"), "second").name == "second"
    with pytest.raises(GenSecretError) as caught:
        read(TWO.format(v="sealer.io/v2"), "third")
    assert caught.value.exit_code == 2
    assert "'first', 'second'" in str(caught.value)


def test_a_cluster_without_a_name_renders_without_an_instance_label(cli: Cli) -> None:
    result = cli("render", str(SEALER_READS / "no-name.yaml"))
    assert result.code == 0, result.err
    secret = yaml.safe_load(result.out)
    assert "sealer.io/cluster" not in secret["metadata"]["labels"]
    assert "label" not in result.err


def test_fleet_folder_of_an_unnamed_cluster_comes_from_its_file(cli: Cli, tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    (fleet / "east").mkdir(parents=True)
    unnamed = (SEALER_READS / "no-name.yaml").read_text()
    (fleet / "west.yaml").write_text(unnamed)
    (fleet / "east" / "Clusterfile").write_text(unnamed)
    (fleet / "two.yaml").write_text(TWO.format(v="sealer.io/v2"))
    result = cli("render", str(fleet), "--out", str(tmp_path / "out"))
    assert result.code == 0, result.err
    # A file with several Clusters is one cluster, as sealer sees it: the last one here.
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_dir()) == [
        "east",
        "second",
        "west",
    ]
    (fleet / "more").mkdir()
    (fleet / "more" / "west.yml").write_text(unnamed)
    clash = cli("render", str(fleet), "--out", str(tmp_path / "out2"))
    assert clash.code == 1
    assert "cluster name 'west' is used by both" in clash.err


# --- what sealer's YAML reader and Go decoder accept -----------------------------------------

HEAD = "apiVersion: sealer.io/v2\nkind: Cluster\nmetadata:\n  name: c\n"


def test_document_end_marker_ends_the_part_sealer_reads() -> None:
    # go-yaml reads the first document of each `---` part: what follows `...` is never read.
    cluster = read(HEAD + "...\napiVersion: sealer.io/v2\nkind: Cluster\nmetadata:\n  name: x\n")
    assert (cluster.name, cluster.notes) == ("c", ())


def test_a_separator_with_a_comment_splits_only_for_sealer_09() -> None:
    # sealer 0.8's apimachinery split only at a bare `---` line, and go-yaml then read the
    # first document of the part; 0.9's splits at `--- # comment` too.
    legacy = HEAD.replace("sealer.io/v2", "sealer.aliyun.com/v1alpha1")
    cluster = read(legacy + "--- # next\n" + legacy.replace("name: c", "name: hidden"))
    assert (cluster.name, cluster.notes) == ("c", ())
    cluster = read(HEAD + "--- # next\n" + HEAD.replace("name: c", "name: seen"))
    assert cluster.name == "seen"
    assert "2 Cluster documents" in cluster.notes[0]


def test_sealer_09_refuses_other_text_after_a_separator() -> None:
    message = refused(HEAD + "--- !tag\n" + HEAD)
    assert message.startswith("a line that starts with --- may hold only a comment")
    assert message.endswith("(Clusterfile:5)")


def test_duplicate_key_the_last_wins_with_a_warning_that_hides_odd_keys() -> None:
    cluster = read((SEALER_READS / "duplicate-key.yaml").read_text())
    assert cluster.registry.credentials is not None
    assert cluster.warnings == (
        "duplicate key: the last value wins, as sealer reads it "
        "(spec.registry.localRegistry.password at Clusterfile:12)",
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("env:\n    key: value", "must be a list, not a mapping (spec.env at Clusterfile:6)"),
        ("env: A=1 # not a list", "must be a list, not a string (spec.env at Clusterfile:6)"),
        ("hosts:\n    ips: [192.168.0.2]", "must be a list, not a mapping (spec.hosts at"),
        ("hosts:\n  - ips: [192.168.0.300]", "not an IP address (spec.hosts[0].ips[0] at"),
        ("hosts:\n  - env:\n      A: b", "must be a list, not a mapping (spec.hosts[0].env at"),
        ("image: {a: b}", "must be a string, not a mapping; put it in quotes (spec.image at"),
        ("ssh:\n    encrypted: 'yes'", "must be true or false, not a string (spec.ssh.encrypted"),
        ("registry:\n    localRegistry:\n      password: 123456", "must be a string, not a number"),
        ("registry:\n    localRegistry:\n      port: '5000'", "must be a number, not a string"),
        ("env: [SvcCIDR=10.96.0.0/29]", "SvcCIDR must start with a CIDR"),
        ("env: [SvcCIDR=10.96.0.0]", "SvcCIDR must start with a CIDR"),
        ("registry:\n    externalRegistry:\n      port: 443", "external registry domain can not"),
    ],
)
def test_what_sealers_decoder_refuses_is_refused(spec: str, message: str) -> None:
    assert message in refused(HEAD + "spec:\n  " + spec + "\n")


@pytest.mark.parametrize(
    "spec",
    [
        "ssh:\n    port: 22\n    passwd: 123456",  # numbers become text in string fields
        "hosts:\n  - ips: [192.168.0.2]\n    labels: {zone: 1}",
        "env: [SvcCIDR=10.96.0.0/22, 'KEY=1']",
        "registry:\n    localRegistry:\n      port: 5000.0",  # JSON's 5000
        "masters: {cpu: [4]}",  # unknown to the v2 shape, so never looked at
    ],
)
def test_what_sealers_decoder_takes_is_taken(spec: str) -> None:
    read(HEAD + "spec:\n  " + spec + "\n")


def test_legacy_v1_shape_is_checked_with_its_own_types() -> None:
    zlink = "apiVersion: zlink.aliyun.com/v1alpha1\nkind: Cluster\nmetadata:\n  name: c\nspec:\n"
    read(zlink + "  masters:\n    cpu: 4\n    ipList: [10.0.0.1]\n")
    assert "must be a list" in refused(zlink + "  certSANS: a.example.com\n")
    assert "not an IP address" in refused(zlink + "  nodes:\n    ipList: [x]\n")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("apiVersion: sealer.io/v1\nkind: Config\nspec:\n  data: x\n", "needs spec.path"),
        ("apiVersion: sealer.io/v1\nkind: Config\nspec:\n  path: x\n", "needs spec.data"),
        (
            "apiVersion: sealer.io/v2\nkind: Application\nspec:\n  configs:\n  - env: [a]\n",
            "an application config needs a name",
        ),
        (
            "apiVersion: sealer.io/v2\nkind: Application\nspec:\n  configs:\n"
            "  - name: a\n    launch: {}\n",
            "launch needs cmds",
        ),
        ("apiVersion: sealer.io/v1\nkind: Plugin\nspec:\n  data: [1]\n", "must be a string"),
    ],
)
def test_other_kinds_sealer_refuses_make_the_file_refused(document: str, message: str) -> None:
    assert message in refused(HEAD + "---\n" + document)


def test_legacy_config_without_path_is_taken_as_sealer_08_did() -> None:
    head = HEAD.replace("sealer.io/v2", "sealer.aliyun.com/v1alpha1")
    read(head + "---\napiVersion: sealer.aliyun.com/v1alpha1\nkind: Config\nspec:\n  data: x\n")


# --- files that sealer takes and gen-secret once refused -------------------------------------


@pytest.mark.parametrize(
    ("name", "stderr"),
    [
        ("two-clusters.yaml", "gen-secret: 2 Cluster documents: using Cluster 'corpus'"),
        ("bad-api-version.yaml", "gen-secret: apiVersion 'sealer.io/v9' is not one sealer wrote"),
        ("no-name.yaml", ""),
        ("password-date.yaml", ""),
        ("password-impossible-date.yaml", ""),
        ("password-no-username.yaml", "gen-secret: warning: password is set but username is not"),
        ("duplicate-key.yaml", "gen-secret: warning: duplicate key: the last value wins"),
        ("duplicate-long-key.yaml", "gen-secret: warning: duplicate key (not shown"),
    ],
)
def test_file_sealer_reads_renders(cli: Cli, name: str, stderr: str) -> None:
    result = cli("render", str(SEALER_READS / name))
    assert result.code == 0, result.err
    assert result.err.startswith(stderr)
    assert len(result.err.splitlines()) <= 1
    assert "hyg1ene-Pa55w0rd" not in result.err
    assert "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk" not in result.err


def test_a_date_like_password_is_text_as_in_sealer() -> None:
    values = secret_data(read((SEALER_READS / "password-date.yaml").read_text()))
    assert values["password"] == "2024-01-31"
    auth = json.loads(values[".dockerconfigjson"])["auths"]["sea.hub:5000"]["auth"]
    assert base64.b64decode(auth) == b"hyg1ene-user:2024-01-31"


def test_no_credentials_is_a_terminal_note_and_inspect_says_it(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(REALWORLD / "cases" / "042-6e12edccc941.yaml")
    quiet = cli("render", path)
    assert (quiet.code, quiet.err) == (0, "")
    inspected = cli("inspect", path, "--output", "json")
    assert any("no credentials" in n for n in json.loads(inspected.out)["notes"])
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    loud = cli("render", path)
    assert loud.err.count("gen-secret: note: registry sea.hub:5000 has no credentials") == 1


@pytest.mark.parametrize(
    ("case", "read_as"),
    [
        ("001-e0e409257e96.yaml", "sealer 0.8 and earlier (apiVersion sealer.aliyun.com/v1alpha1)"),
        ("072-8dce6f3ba67f.yaml", "sealer 0.9 and later (apiVersion sealer.io/v1)"),
    ],
)
def test_inspect_says_which_sealer_rules_it_followed(cli: Cli, case: str, read_as: str) -> None:
    result = cli("inspect", str(REALWORLD / "cases" / case), "--output", "json")
    assert json.loads(result.out)["readAs"] == read_as
