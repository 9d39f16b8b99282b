"""--merge-auths: other registries' entries, carried into the Secret as kubectl writes them."""

from __future__ import annotations

import base64
import functools
import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from generator.errors import GenSecretError
from generator.model.mergeauths import parse_merge_file
from tests.conftest import FIXTURES, Run, decode_data, require_tool
from tests.test_kubectl_oracle import CREDENTIALS

Cli = Callable[..., Run]
HA = FIXTURES / "ha-auth-multidoc.yaml"  # sea.hub:5000 and its SANs, user sealer
HUB = "https://index.docker.io/v1/"


@functools.cache  # an oracle's answer for the same question: several tests ask it again
def kubectl_secret(server: str, username: str, password: str, *extra: str, fmt: str) -> bytes:
    """`kubectl create secret docker-registry --dry-run=client -o FMT`: what a user would merge."""
    kubectl = require_tool("kubectl", "kubectl is on the machine image")
    proc = subprocess.run(
        [
            kubectl, "create", "secret", "docker-registry", "hub",
            f"--docker-server={server}", f"--docker-username={username}",
            f"--docker-password={password}", *extra, "--dry-run=client", "-o", fmt,
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        pytest.fail(f"kubectl failed with exit code {proc.returncode}", pytrace=False)
    return proc.stdout


def kubectl_config(secret_json: bytes) -> bytes:
    """The `.dockerconfigjson` bytes inside kubectl's JSON Secret."""
    return base64.b64decode(json.loads(secret_json)["data"][".dockerconfigjson"])


def only_entry(config: bytes, key: str) -> bytes:
    """The bytes of the one entry of a kubectl config: `{"auths":{"KEY":<this>}}`."""
    prefix = b'{"auths":{' + json.dumps(key).encode() + b":"
    assert config.startswith(prefix), "not kubectl's one-entry shape"
    assert config.endswith(b"}}"), "not kubectl's one-entry shape"
    return config[len(prefix) : -2]


def rendered_config(cli: Cli, *args: str) -> bytes:
    result = cli("render", str(HA), *args)
    assert result.code == 0, result.err
    (secret,) = yaml.safe_load_all(result.out)
    return decode_data(secret)[".dockerconfigjson"]


def entry_bytes(config: bytes, key: str) -> bytes | None:
    """The bytes of one entry of a rendered config, exactly as written."""
    text = config.decode()
    marker = json.dumps(key, ensure_ascii=False) + ":"
    # Entries are compact JSON objects: one starts right after its key, and the decoder says
    # where it ends. The key is searched outside strings only by its position after `{` or `,`.
    for start in (m.end() for m in re.finditer(re.escape(marker), text)):
        if text[start - len(marker) - 1] in "{,":
            _, end = json.JSONDecoder().raw_decode(text, start)
            return text[start:end].encode()
    return None


# --- kubectl is the oracle -----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "yaml"])
@pytest.mark.parametrize(
    ("username", "password"),
    [c for c in CREDENTIALS if len(c[1]) < 100],
    ids=[u[:12] for u, p in CREDENTIALS if len(p) < 100],
)
def test_merged_docker_hub_entry_is_byte_equal_to_kubectls(
    cli: Cli, tmp_path: Path, fmt: str, username: str, password: str
) -> None:
    if ":" in username:  # pragma: no cover - kubectl would make an entry the kubelet cannot read
        pytest.skip("a username with ':'")
    extra = ("--docker-email=ops@example.com",)
    secret = kubectl_secret(HUB, username, password, *extra, fmt=fmt)
    path = tmp_path / f"hub.{fmt}"
    path.write_bytes(secret)
    ours = rendered_config(cli, "--merge-auths", str(path))
    oracle = kubectl_secret(HUB, username, password, *extra, fmt="json")
    # A boolean only: a failure must not print credentials.
    same = entry_bytes(ours, HUB) == only_entry(kubectl_config(oracle), HUB)
    assert same, "the merged entry differs from kubectl's"


def test_config_json_without_auth_gets_kubectls_auth(cli: Cli, tmp_path: Path) -> None:
    # A hand-written config.json with username and password only: auth is added as kubectl would.
    username, password = "robot$ci", "pässwörd-<&>"
    path = tmp_path / "config.json"
    entry = {"password": password, "username": username}  # in the "wrong" order on purpose
    path.write_text(json.dumps({"auths": {"ghcr.io": entry}}))
    ours = rendered_config(cli, "--merge-auths", str(path))
    oracle = kubectl_config(kubectl_secret("ghcr.io", username, password, fmt="json"))
    same = entry_bytes(ours, "ghcr.io") == only_entry(oracle, "ghcr.io")
    assert same, "the entry differs from kubectl's"


def test_entry_with_only_auth_and_tokens_is_kept_as_it_is(cli: Cli, tmp_path: Path) -> None:
    # What `docker login` writes: only `auth`, plus an identity token for OAuth registries.
    auth = base64.b64encode(b"00000000-0000-0000-0000-000000000000:").decode()
    config = {
        "auths": {
            HUB: {"auth": "dXNlcjpwYXNz"},
            "acr.example.io": {"identitytoken": "tok-1", "auth": auth, "serveraddress": "x"},
            "quay.io": {"registrytoken": "tok-2", "email": "a@b.c", "auth": "cTpw"},
        },
        "HttpHeaders": {"User-Agent": "Docker-Client"},
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    ours = rendered_config(cli, "--merge-auths", str(path))
    assert entry_bytes(ours, HUB) == b'{"auth":"dXNlcjpwYXNz"}'
    assert entry_bytes(ours, "acr.example.io") == (
        b'{"auth":"' + auth.encode() + b'","identitytoken":"tok-1"}'
    )
    quay = b'{"email":"a@b.c","auth":"cTpw","registrytoken":"tok-2"}'
    assert entry_bytes(ours, "quay.io") == quay
    # The Clusterfile's own entries are still there, untouched.
    assert json.loads(ours)["auths"]["sea.hub:5000"]["username"] == "sealer"


def test_merged_entries_reach_the_pull_copies(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": {"ghcr.io": {"auth": "dXNlcjpwYXNz"}}}))
    out = tmp_path / "out"
    result = cli("render", str(HA), "--merge-auths", str(path), "--pull-namespace", "apps",
                 "--out", str(out))  # fmt: skip
    assert result.code == 0, result.err
    documents = list(yaml.safe_load_all((out / "pull-secrets.yaml").read_text()))
    copy = next(d for d in documents if d["kind"] == "Secret")
    assert "ghcr.io" in json.loads(decode_data(copy)[".dockerconfigjson"])["auths"]


# --- what is refused -----------------------------------------------------------------------

BAD_FILES: dict[str, tuple[str, str]] = {
    "credsStore": ('{"auths": {"ghcr.io": {}}, "credsStore": "desktop"}', "uses credsStore"),
    "credHelpers": ('{"auths": {}, "credHelpers": {"gcr.io": "gcloud"}}', "uses credHelpers"),
    "no auths": ('{"HttpHeaders": {}}', "has no auths"),
    "auths not a mapping": ('{"auths": ["ghcr.io"]}', "auths is not a mapping"),
    "entry not a mapping": ('{"auths": {"ghcr.io": "x"}}', "must be a mapping"),
    "field not a string": ('{"auths": {"ghcr.io": {"password": 12}}}', "field password"),
    "auth not base64": ('{"auths": {"ghcr.io": {"auth": "not base64!"}}}', "not base64 of"),
    "auth without a colon": ('{"auths": {"ghcr.io": {"auth": "bm9jb2xvbg=="}}}', "not base64"),
    "username with a colon": ('{"auths": {"q.io": {"username": "a:b"}}}', "must not contain"),
    "not JSON": ('{"auths": {"ghcr.io": }', "not valid JSON"),
    "a List": ("kind: List\napiVersion: v1\nitems: []\n", "a List of objects"),
    "another kind": ("kind: ConfigMap\napiVersion: v1\ndata: {}\n", "not a Secret"),
    "another Secret type": (
        "kind: Secret\napiVersion: v1\ntype: Opaque\ndata: {}\n",
        "Secret of type 'Opaque'",
    ),
    "no .dockerconfigjson": (
        "kind: Secret\napiVersion: v1\ntype: kubernetes.io/dockerconfigjson\ndata: {}\n",
        "has no data..dockerconfigjson",
    ),
    "two documents": ("a: 1\n---\nb: 2\n", "expected one document"),
    "a list at the top": ("- 1\n", "expected a mapping"),
}


@pytest.mark.parametrize(("text", "message"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_merge_files_are_one_line_errors(
    cli: Cli, tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "merge.json"
    path.write_text(text)
    result = cli("render", str(HA), "--merge-auths", str(path))
    assert result.code == 1
    assert result.out == ""
    assert len(result.err.splitlines()) == 1, result.err
    assert message in result.err
    assert str(path) in result.err


def test_creds_store_error_says_to_export_first(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"auths": {}, "credsStore": "osxkeychain"}')
    result = cli("render", str(HA), "--merge-auths", str(path))
    assert "docker login" in result.err
    assert "without one" in result.err


def test_a_bad_auth_never_shows_its_value(tmp_path: Path) -> None:
    secret_text = "c2VjcmV0LXZhbHVl"  # base64 without a colon inside: rejected
    with pytest.raises(GenSecretError) as info:
        parse_merge_file(json.dumps({"auths": {"q.io": {"auth": secret_text}}}).encode(), "f")
    assert secret_text not in str(info.value)
    assert str(info.value) == (
        "auth is not base64 of username:password; the kubelet would reject the whole Secret "
        "(auths['q.io'] in f)"
    )


def test_unknown_fields_are_dropped_with_a_warning(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": {"q.io": {"auth": "cTpw", "note": "x", "p@ss": "y"}}}))
    result = cli("render", str(HA), "--merge-auths", str(path))
    assert result.code == 0
    assert "dropped field 'note'" in result.err
    assert "p@ss" not in result.err  # not a field name: it could be anything
    assert "dropped field (unnamed)" in result.err


# --- keys the Clusterfile also writes --------------------------------------------------------


def clash(tmp_path: Path, key: str = "sea.hub:5000") -> Path:
    path = tmp_path / "clash.json"
    path.write_text(json.dumps({"auths": {key: {"auth": base64.b64encode(b"other:pw").decode()}}}))
    return path


def test_a_key_the_clusterfile_writes_is_an_error_naming_both(cli: Cli, tmp_path: Path) -> None:
    path = clash(tmp_path)
    result = cli("render", str(HA), "--merge-auths", str(path))
    assert result.code == 1
    assert result.err == (
        f"gen-secret: error: auths key 'sea.hub:5000' comes from both the Clusterfile and {path}; "
        "--merge-auths-override clusterfile or merged says which one wins\n"
    )


def test_override_clusterfile_keeps_ours(cli: Cli, tmp_path: Path) -> None:
    args = ("--merge-auths", str(clash(tmp_path)), "--merge-auths-override", "clusterfile")
    config = json.loads(rendered_config(cli, *args))
    assert config["auths"]["sea.hub:5000"]["username"] == "sealer"
    result = cli("render", str(HA), *args)
    assert "auths key 'sea.hub:5000': kept the Clusterfile's" in result.err


def test_override_merged_takes_theirs(cli: Cli, tmp_path: Path) -> None:
    args = ("--merge-auths", str(clash(tmp_path)), "--merge-auths-override", "merged")
    config = json.loads(rendered_config(cli, *args))
    assert config["auths"]["sea.hub:5000"] == {"auth": base64.b64encode(b"other:pw").decode()}
    # Only that key: the other names of the registry keep the Clusterfile's login.
    assert config["auths"]["10.0.0.11:5000"]["username"] == "sealer"


def test_override_also_settles_the_rotation_key(cli: Cli, tmp_path: Path) -> None:
    previous = tmp_path / "previous"
    previous.write_text("old-Pa55\n")
    path = clash(tmp_path, "https://sea.hub:5000")
    args = ("--previous-password-file", str(previous), "--merge-auths", str(path))
    result = cli("render", str(HA), *args)
    assert result.code == 1
    assert "comes from both the previous login (rotation) and" in result.err


def test_override_needs_merge_auths(cli: Cli) -> None:
    result = cli("render", str(HA), "--merge-auths-override", "merged")
    assert (result.code, result.err) == (
        2,
        "gen-secret: error: --merge-auths-override needs --merge-auths\n",
    )


def test_two_files_that_disagree_are_an_error(cli: Cli, tmp_path: Path) -> None:
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    one.write_text(json.dumps({"auths": {"q.io": {"auth": "cTpw"}}}))
    two.write_text(json.dumps({"auths": {"q.io": {"auth": "cTpx"}}}))
    result = cli("render", str(HA), "--merge-auths", str(one), "--merge-auths", str(two))
    assert result.code == 1
    assert f"comes from both {one} and {two}, with different credentials" in result.err
    # The same entry twice is no conflict.
    same = cli("render", str(HA), "--merge-auths", str(one), "--merge-auths", str(one))
    assert same.code == 0, same.err


def test_a_key_the_kubelet_reads_as_ours_is_a_warning(cli: Cli, tmp_path: Path) -> None:
    path = clash(tmp_path, "https://10.0.0.11:5000/v2/")
    result = cli("render", str(HA), "--merge-auths", str(path))
    assert result.code == 0
    assert (
        f"auths key 'https://10.0.0.11:5000/v2/' from {path} is the same registry as "
        "'10.0.0.11:5000' for the kubelet, which tries both logins in turn"
    ) in result.err


def test_merge_auths_from_stdin(cli: Cli) -> None:
    stdin = json.dumps({"auths": {"q.io": {"auth": "cTpw"}}}).encode()
    result = cli("render", str(HA), "--merge-auths", "-", stdin=stdin)
    assert result.code == 0, result.err
    both = cli("render", "-", "--merge-auths", "-", stdin=stdin)
    assert both.code == 2
    assert "only one input can come from stdin" in both.err


# --- match and inspect name the source ---------------------------------------------------------


def test_match_and_inspect_show_merged_keys_with_their_source(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_bytes(kubectl_secret(HUB, "me", "hub-Pa55", fmt="yaml"))
    result = cli("match", str(HA), "--merge-auths", str(path), "-i", "busybox")
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "busybox (docker.io/library/busybox:latest): served by https://index.docker.io/v1/ "
        "(the kubelet's Docker Hub fallback)",
        "  the kubelet tries each login in turn until a pull succeeds:",
        f"  1. https://index.docker.io/v1/: user me, from {path}",
    ]
    shown = cli("inspect", str(HA), "--merge-auths", str(path), "--output", "json")
    summary = json.loads(shown.out)
    assert summary["authSources"] == {HUB: str(path)}
    assert HUB in summary["auths"]
    text = cli("inspect", str(HA), "--merge-auths", str(path)).out
    assert f"{HUB} (from {path})" in text
