"""Fleet mode: many Clusterfiles in one run, one output folder per cluster, all or nothing."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import FIXTURES, Cli, decode_data, openssl_ca

SOURCE = (FIXTURES / "ha-auth-multidoc.yaml").read_text()


def clusterfile(folder: Path, relative: str, name: str, password: str = "pw") -> Path:  # noqa: S107
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    text = SOURCE.replace("name: prod-east", f"name: {name}").replace("Sealer#2024:pw", password)
    path.write_text(text)
    return path


def password_in(folder: Path) -> str:
    (secret,) = yaml.safe_load_all((folder / "secret.yaml").read_text())
    config = json.loads(decode_data(secret)[".dockerconfigjson"])
    auth = base64.b64decode(config["auths"]["sea.hub:5000"]["auth"]).decode()
    return auth.split(":", 1)[1]


def test_several_files_write_one_folder_per_cluster(cli: Cli, tmp_path: Path) -> None:
    a = clusterfile(tmp_path / "in", "a.yaml", "alpha", "pw-a")
    b = clusterfile(tmp_path / "in", "b/Clusterfile", "beta", "pw-b")
    out = tmp_path / "out"
    result = cli("render", str(a), str(b), "--out", str(out), "--pull-namespace", "apps")
    assert result.code == 0, result.err
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["alpha", "beta"]
    assert password_in(out / "alpha") == "pw-a", "alpha has another cluster's password"
    assert password_in(out / "beta") == "pw-b", "beta has another cluster's password"
    for cluster in ("alpha", "beta"):
        kustomization = yaml.safe_load((out / cluster / "kustomization.yaml").read_text())
        assert kustomization["resources"] == ["secret.yaml", "pull-secrets.yaml"]


def test_a_folder_is_scanned_for_clusters_only(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "repo"
    clusterfile(source, "prod/Clusterfile", "prod")
    clusterfile(source, "staging/cluster.yml", "staging")
    (source / "prod" / "app.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"
    )
    (source / "prod" / "notes.txt").write_text("kind: Cluster\n")  # not a YAML name: skipped
    clusterfile(source, ".git/objects/copy.yaml", "prod")  # hidden: skipped, else a duplicate
    configmap = (FIXTURES / "configmap-sealer-clusterfile.yaml").read_text()
    (source / "live.yaml").write_text(configmap.replace("name: prod-east", "name: live"))
    out = tmp_path / "out"
    result = cli("render", str(source), "--out", str(out))
    assert result.code == 0, result.err
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["live", "prod", "staging"]


def test_duplicate_names_are_an_error_naming_both_files(cli: Cli, tmp_path: Path) -> None:
    a = clusterfile(tmp_path, "a.yaml", "same")
    b = clusterfile(tmp_path, "b.yaml", "same")
    out = tmp_path / "out"
    result = cli("render", str(a), str(b), "--out", str(out))
    assert result.code == 1
    assert str(a) in result.err
    assert str(b) in result.err
    assert not out.exists()


def test_one_bad_file_fails_the_run_and_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    good = [clusterfile(tmp_path, f"c{i}.yaml", f"c{i}") for i in range(3)]
    bad = tmp_path / "c9.yaml"
    bad.write_text(SOURCE.replace("port: 5000", "port: fivethousand"))
    out = tmp_path / "out"
    result = cli("render", *map(str, good), str(bad), "--out", str(out))
    assert result.code == 1
    assert f"{bad}:" in result.err
    assert "spec.registry.localRegistry.port" in result.err
    assert len(result.err.splitlines()) == 1
    assert not out.exists()


def test_earlier_output_stays_when_a_later_run_fails(cli: Cli, tmp_path: Path) -> None:
    files = [clusterfile(tmp_path, f"c{i}.yaml", f"c{i}") for i in range(2)]
    out = tmp_path / "out"
    assert cli("render", *map(str, files), "--out", str(out)).code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    files[1].write_text("kind: Cluster\nspec: [\n")
    assert cli("render", *map(str, files), "--out", str(out)).code == 1
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_a_cluster_dropped_from_the_fleet_loses_its_folder(cli: Cli, tmp_path: Path) -> None:
    files = [clusterfile(tmp_path, f"c{i}.yaml", f"c{i}") for i in range(3)]
    out = tmp_path / "out"
    assert cli("render", *map(str, files), "--out", str(out)).code == 0
    assert cli("render", *map(str, files[:2]), "--out", str(out)).code == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["c0", "c1"]


@pytest.mark.parametrize("folder", [False, True])
def test_a_fleet_without_out_is_a_usage_error(cli: Cli, tmp_path: Path, folder: bool) -> None:
    files = [clusterfile(tmp_path, f"c{i}.yaml", f"c{i}") for i in range(2)]
    args = [str(tmp_path)] if folder else [str(f) for f in files]
    result = cli("render", *args)
    assert result.code == 2
    assert result.out == ""
    assert "--out" in result.err


def test_no_progress_or_summary_when_stderr_is_not_a_terminal(cli: Cli, tmp_path: Path) -> None:
    files = [clusterfile(tmp_path, f"c{i:02d}.yaml", f"c{i:02d}") for i in range(25)]
    result = cli("render", *map(str, files), "--out", str(tmp_path / "out"))
    assert result.code == 0
    assert result.err == ""


def test_other_tools_clusters_in_a_folder_are_not_sealer_clusters(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "repo"
    clusterfile(source, "prod/Clusterfile", "prod")
    (source / "kind.yaml").write_text("apiVersion: kind.x-k8s.io/v1alpha4\nkind: Cluster\n")
    (source / "capi.yaml").write_text(
        "apiVersion: cluster.x-k8s.io/v1beta1\nkind: Cluster\nmetadata: {name: capi}\n"
    )
    out = tmp_path / "out"
    result = cli("render", str(source), "--out", str(out))
    assert result.code == 0, result.err
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["prod"]


def test_a_fleet_never_takes_this_machines_node_ca(tmp_path: Path) -> None:
    from generator.pipeline import Request, run, run_fleet

    # A CA where this machine's containerd keeps it: it belongs to this machine's cluster only.
    node_ca = tmp_path / "root/etc/containerd/certs.d/sea.hub:5000/ca.crt"
    openssl_ca(tmp_path / "key.pem", node_ca, "node")
    files = [clusterfile(tmp_path, f"c{i}.yaml", f"c{i}") for i in range(2)]
    request = Request(ca_root=tmp_path / "root")
    results = run_fleet([(str(f), f.read_bytes()) for f in files], request)
    assert all("ca.crt" not in data_keys(r.stream) for r in results.values())
    # One cluster rendered on its own node does take it, and says so.
    single = run(files[0].read_bytes(), str(files[0]), request)
    assert "ca.crt" in data_keys(single.stream)
    assert single.notes == (f"using CA certificate {node_ca}",)


def data_keys(stream: str) -> set[str]:
    (secret,) = yaml.safe_load_all(stream)
    return set(secret["data"])
