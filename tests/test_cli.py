"""The command line: typer's runner, the real entry point in-process, and the console script."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from generator.cli.app import typer_app
from generator.errors import GenSecretError
from tests.conftest import (
    FIXTURES,
    Run,
    assert_valid,
    decode_data,
    gen_secret_script,
    kubectl_dockerconfigjson,
    openssl_ca,
    require_tool,
    run_script,
)

Cli = Callable[..., Run]
SEED = FIXTURES / "seed-clusterfile.yaml"
# A domain no machine has CA files for under /etc/{containerd,docker}/certs.d.
DOMAIN = "registry.gen-secret.test"


def secret(out: str) -> dict[str, object]:
    """The one Secret on stdout, checked against the upstream schema."""
    documents = list(yaml.safe_load_all(out))
    assert len(documents) == 1, f"want one document, got {len(documents)}"
    (document,) = documents
    assert isinstance(document, dict)
    assert document["kind"] == "Secret"
    assert_valid(document)
    return document


def data_of(out: str) -> dict[str, bytes]:
    return decode_data(secret(out))


def assert_one_line_error(result: Run, code: int) -> str:
    assert result.code == code, f"exit code {result.code}, want {code}"
    assert result.out == "", "nothing on stdout after an error"
    lines = result.err.splitlines()
    assert len(lines) == 1, f"want one line on stderr, got {len(lines)}"
    assert lines[0].startswith("gen-secret: error: ")
    assert "Traceback" not in result.err
    return lines[0]


def assert_secret_not_in(text: str, password: str) -> None:
    # Never let pytest print the password itself.
    b64 = base64.b64encode(password.encode()).decode()
    assert password not in text, "the password leaked into a message"
    assert b64 not in text, "the base64 of the password leaked into a message"


def clusterfile(
    tmp_path: Path,
    *,
    name: str = "cli-test",
    registry: str = f"domain: {DOMAIN}\n      port: 5000",
    data_root: Path | None = None,
) -> Path:
    """A Clusterfile in tmp whose CA search stays inside tmp (or finds nothing)."""
    root = data_root or tmp_path / "no-data-root"
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"apiVersion: sealer.io/v2\nkind: Cluster\nmetadata:\n  name: {name}\n"
        f"spec:\n  dataRoot: {root}\n  registry:\n    localRegistry:\n      {registry}\n",
        encoding="utf-8",
    )
    return path


# --- typer's runner ---------------------------------------------------------------------------


def test_runner_help_offers_no_password_value_option() -> None:
    result = CliRunner().invoke(typer_app(), ["render", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in ("--password-stdin", "--password-file", "--username", "--ca-file", "--out"):
        assert option in result.stdout
    # A password on the command line lands in shell history and `ps`.
    assert "--password " not in result.stdout
    assert "--password=" not in result.stdout


def test_runner_renders_a_file(tmp_path: Path) -> None:
    path = clusterfile(tmp_path)
    result = CliRunner().invoke(typer_app(), ["render", str(path)])
    assert result.exit_code == 0
    assert data_of(result.stdout)["url"] == f"{DOMAIN}:5000".encode()
    # No credentials is sealer's default: a note for a terminal, nothing in a pipeline.
    assert "anonymous" not in result.stderr


def test_runner_core_raises_and_does_not_print(tmp_path: Path) -> None:
    # Only `main` turns errors into one line; the command itself raises GenSecretError.
    result = CliRunner().invoke(typer_app(), ["render", str(tmp_path / "missing")])
    assert isinstance(result.exception, GenSecretError)
    assert result.stdout == ""


def test_runner_version() -> None:
    from generator import __version__

    result = CliRunner().invoke(typer_app(), ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"gen-secret {__version__}\n"


# --- input: file, stdin, ConfigMap, default search --------------------------------------------


def test_stdin_dash_equals_the_file_argument(cli: Cli, tmp_path: Path) -> None:
    path = clusterfile(tmp_path)
    from_file = cli("render", str(path))
    from_stdin = cli("render", "-", stdin=path.read_bytes())
    assert from_file.code == from_stdin.code == 0
    assert from_stdin.out == from_file.out
    assert secret(from_stdin.out)["metadata"] == secret(from_file.out)["metadata"]


def test_configmap_on_stdin_renders_like_the_clusterfile_inside(cli: Cli) -> None:
    wrapped = cli(
        "render", "-", stdin=(FIXTURES / "configmap-sealer-clusterfile.yaml").read_bytes()
    )
    plain = cli("render", str(FIXTURES / "ha-auth-multidoc.yaml"))
    assert wrapped.code == plain.code == 0
    assert wrapped.out == plain.out
    assert data_of(wrapped.out)["username"] == b"sealer"


def test_configmap_piped_into_the_console_script() -> None:
    result = run_script(
        "render", "-", stdin=(FIXTURES / "configmap-sealer-clusterfile.yaml").read_bytes()
    )
    assert result.code == 0
    data = data_of(result.out)
    assert data["url"] == b"sea.hub:5000"
    assert data["password"] == b"Sealer#2024:pw", "password differs"


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A working folder and a HOME, both empty; the test process works in the first."""
    work, home = tmp_path / "work", tmp_path / "home"
    (home / ".sealer").mkdir(parents=True)
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(home))
    return work, home


def instance(out: str) -> object:
    """The cluster's name, from the Secret's label."""
    metadata = secret(out)["metadata"]
    assert isinstance(metadata, dict)
    return metadata["labels"]["sealer.io/cluster"]


def test_default_search_order(cli: Cli, places: tuple[Path, Path], tmp_path: Path) -> None:
    work, home = places
    in_home = home / ".sealer" / "Clusterfile"
    in_home.write_bytes(clusterfile(tmp_path, name="from-home").read_bytes())
    (work / "Clusterfile").write_bytes(clusterfile(tmp_path, name="from-cwd").read_bytes())

    first = cli("render")
    assert first.code == 0
    assert instance(first.out) == "from-cwd"
    assert "gen-secret: reading Clusterfile\n" in first.err

    (work / "Clusterfile").unlink()
    second = cli("render")
    assert second.code == 0
    assert instance(second.out) == "from-home"
    assert f"gen-secret: reading {in_home}\n" in second.err

    in_home.unlink()
    line = assert_one_line_error(cli("render"), 1)
    assert "./Clusterfile" in line
    assert "~/.sealer/Clusterfile" in line


def test_default_search_in_the_console_script(tmp_path: Path) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    (home / ".sealer").mkdir(parents=True)
    work.mkdir()
    in_home = home / ".sealer" / "Clusterfile"
    in_home.write_bytes(clusterfile(tmp_path, name="script-home").read_bytes())
    env = {**os.environ, "HOME": str(home)}
    result = run_script("render", cwd=work, env=env)
    assert result.code == 0
    assert instance(result.out) == "script-home"
    assert f"reading {in_home}" in result.err

    in_home.unlink()
    line = assert_one_line_error(run_script("render", cwd=work, env=env), 1)
    assert "no Clusterfile" in line


def test_missing_file_is_one_line(cli: Cli, tmp_path: Path) -> None:
    line = assert_one_line_error(cli("render", str(tmp_path / "nope")), 1)
    assert str(tmp_path / "nope") in line


def test_error_in_the_file_names_field_and_line(cli: Cli, tmp_path: Path) -> None:
    path = clusterfile(tmp_path, registry='domain: x.test\n      port: "80a"')
    line = assert_one_line_error(cli("render", str(path)), 1)
    assert line.endswith(f"(spec.registry.localRegistry.port at {path}:10)")


# --- credentials ------------------------------------------------------------------------------

WITH_CREDENTIALS = f"domain: {DOMAIN}\n      port: 5000\n      username: file-user\n" + (
    "      password: file-pass"
)


def test_username_option_overrides_the_file(cli: Cli, tmp_path: Path) -> None:
    path = clusterfile(tmp_path, registry=WITH_CREDENTIALS)
    result = cli("render", str(path), "--username", "ci-bot")
    assert result.code == 0
    data = data_of(result.out)
    assert data["username"] == b"ci-bot"
    assert data["password"] == b"file-pass", "password differs"
    expected = kubectl_dockerconfigjson(f"{DOMAIN}:5000", "ci-bot", "file-pass")
    assert data[".dockerconfigjson"] == expected, ".dockerconfigjson differs from kubectl's"


def test_username_with_colon_is_an_error(cli: Cli, tmp_path: Path) -> None:
    line = assert_one_line_error(cli("render", str(clusterfile(tmp_path)), "--username", "a:b"), 2)
    assert "--username" in line


@pytest.mark.parametrize(
    ("stdin", "password"),
    [
        (b"from-stdin\n", "from-stdin"),
        (b"from-stdin\r\n", "from-stdin"),
        (b"from-stdin", "from-stdin"),
        (b" spaced out \n", " spaced out "),
        ("pässwörd<&>\n".encode(), "pässwörd<&>"),
    ],
    ids=["lf", "crlf", "bare", "spaces", "unicode"],
)
def test_password_stdin_strips_one_line_end(
    cli: Cli, tmp_path: Path, stdin: bytes, password: str
) -> None:
    path = clusterfile(tmp_path, registry=WITH_CREDENTIALS)
    result = cli("render", str(path), "--username", "ci", "--password-stdin", stdin=stdin)
    assert result.code == 0
    data = data_of(result.out)
    assert data["password"] == password.encode(), "password differs"
    expected = kubectl_dockerconfigjson(f"{DOMAIN}:5000", "ci", password)
    assert data[".dockerconfigjson"] == expected, ".dockerconfigjson differs from kubectl's"
    assert_secret_not_in(result.err, password)


@pytest.mark.parametrize("stdin", [b"two\n\n", b"line\nbreak\n", b"", b"\n", b"\xff\xfe"], ids=str)
def test_password_stdin_rejects(cli: Cli, tmp_path: Path, stdin: bytes) -> None:
    path = clusterfile(tmp_path, registry=WITH_CREDENTIALS)
    result = cli("render", str(path), "--password-stdin", stdin=stdin)
    line = assert_one_line_error(result, 1)
    assert "password" in line
    assert_secret_not_in(result.err, "file-pass")


def test_password_file(cli: Cli, tmp_path: Path) -> None:
    path = clusterfile(tmp_path, registry=WITH_CREDENTIALS)
    secret_file = tmp_path / "password"
    secret_file.write_bytes(b"from-file\n")
    result = cli("render", str(path), "--password-file", str(secret_file))
    assert result.code == 0
    data = data_of(result.out)
    assert data["username"] == b"file-user"
    assert data["password"] == b"from-file", "password differs"
    assert_secret_not_in(result.err, "from-file")


def test_password_file_missing(cli: Cli, tmp_path: Path) -> None:
    path = clusterfile(tmp_path, registry=WITH_CREDENTIALS)
    missing = tmp_path / "no-such-password"
    line = assert_one_line_error(cli("render", str(path), "--password-file", str(missing)), 1)
    assert str(missing) in line


def test_password_without_any_username_is_an_error(cli: Cli, tmp_path: Path) -> None:
    result = cli("render", str(clusterfile(tmp_path)), "--password-stdin", stdin=b"lonely-pw\n")
    assert_one_line_error(result, 1)
    assert_secret_not_in(result.err, "lonely-pw")


def test_password_stdin_and_file_together_is_usage(cli: Cli, tmp_path: Path) -> None:
    password = tmp_path / "pw"
    password.write_text("x")
    result = cli(
        "render",
        str(clusterfile(tmp_path)),
        "--password-stdin",
        "--password-file",
        str(password),
        stdin=b"y\n",
    )
    assert "--password-file" in assert_one_line_error(result, 2)


def test_password_stdin_with_clusterfile_on_stdin_is_usage(cli: Cli, tmp_path: Path) -> None:
    result = cli("render", "-", "--password-stdin", stdin=clusterfile(tmp_path).read_bytes())
    assert "stdin" in assert_one_line_error(result, 2)


@pytest.mark.parametrize(
    "args",
    [
        ["render", "--bogus"],
        ["render", "--password", "x"],
        ["frobnicate"],
        [
            "render",
            str(FIXTURES / "ha-auth-multidoc.yaml"),
            str(FIXTURES / "seed-clusterfile.yaml"),
        ],
    ],
    ids=["unknown-option", "password-value", "unknown-command", "two-files-without-out"],
)
def test_usage_errors_exit_2_with_one_line(cli: Cli, args: list[str]) -> None:
    assert_one_line_error(cli(*args), 2)


def test_unknown_option_in_the_console_script() -> None:
    result = run_script("render", "--bogus")
    assert "--bogus" in assert_one_line_error(result, 2)


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--name", "Sealer-Registry"),
        ("--name", "under_score"),
        ("--name", "-leading"),
        ("--name", "trailing."),
        ("--name", "a" * 254),
        ("--name", ""),
        ("--namespace", "has.dot"),
        ("--namespace", "a" * 64),
        ("--namespace", "Kube-System"),
        ("--namespace", ""),
    ],
    ids=lambda v: v if len(v) < 20 else f"{v[:3]}...x{len(v)}",
)
def test_invalid_names_are_one_line_errors(
    cli: Cli, tmp_path: Path, option: str, value: str
) -> None:
    # A malformed option value is usage: exit code 2.
    line = assert_one_line_error(cli("render", str(clusterfile(tmp_path)), option, value), 2)
    assert f"({option})" in line


def test_valid_names_land_in_metadata(cli: Cli, tmp_path: Path) -> None:
    name = "registry.pull-" + "a" * 200
    path = str(clusterfile(tmp_path))
    result = cli("render", path, "--name", name, "--namespace", "team-" + "b" * 58)
    assert result.code == 0
    metadata = secret(result.out)["metadata"]
    assert isinstance(metadata, dict)
    assert metadata["name"] == name
    assert metadata["namespace"] == "team-" + "b" * 58


# --- CA certificate ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Authority:
    cert: bytes
    key: bytes


def make_ca(folder: Path) -> Authority:
    """A real self-signed CA from the openssl CLI."""
    key, cert = folder / "ca.key", folder / "ca.crt"
    openssl_ca(key, cert, DOMAIN)
    return Authority(cert.read_bytes(), key.read_bytes())


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return make_ca(tmp_path_factory.mktemp("ca"))


def test_ca_file_lands_in_ca_crt(cli: Cli, tmp_path: Path, ca: Authority) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.cert)
    result = cli("render", str(clusterfile(tmp_path)), "--ca-file", str(ca_file))
    assert result.code == 0
    assert data_of(result.out)["ca.crt"] == ca.cert


def test_ca_bundle_never_carries_its_private_key(cli: Cli, tmp_path: Path, ca: Authority) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(ca.key + ca.cert + ca.key)
    result = cli("render", str(clusterfile(tmp_path)), "--ca-file", str(bundle))
    assert result.code == 0
    data = data_of(result.out)
    assert data["ca.crt"] == ca.cert
    key_lines = [line for line in ca.key.splitlines() if line and not line.startswith(b"-----")]
    everything = b"".join(data.values()) + result.out.encode() + result.err.encode()
    assert b"PRIVATE KEY" not in everything, "the private key reached the output"
    assert not any(line in everything for line in key_lines), "key material reached the output"


@pytest.mark.parametrize(
    "content",
    [
        b"not a certificate\n",
        b"",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    ],
    ids=["text", "empty", "key-only"],
)
def test_ca_file_that_is_not_a_certificate(cli: Cli, tmp_path: Path, content: bytes) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(content)
    line = assert_one_line_error(
        cli("render", str(clusterfile(tmp_path)), "--ca-file", str(ca_file)), 1
    )
    assert str(ca_file) in line


def sealer_ca_layout(tmp_path: Path, ca: Authority, name: str) -> tuple[Path, Path]:
    """`<dataRoot>/<name>/rootfs/certs/<domain>.crt`, where sealer keeps the registry's CA."""
    data_root = tmp_path / "sealer-data"
    crt = data_root / name / "rootfs" / "certs" / f"{DOMAIN}.crt"
    crt.parent.mkdir(parents=True)
    crt.write_bytes(ca.cert)
    return data_root, crt


def test_ca_discovered_in_sealer_data_root(cli: Cli, tmp_path: Path, ca: Authority) -> None:
    data_root, crt = sealer_ca_layout(tmp_path, ca, "found-ca")
    path = clusterfile(tmp_path, name="found-ca", data_root=data_root)
    result = cli("render", str(path))
    assert result.code == 0
    assert data_of(result.out)["ca.crt"] == ca.cert
    assert f"gen-secret: using CA certificate {crt}\n" in result.err


def test_ca_file_option_wins_over_discovery(cli: Cli, tmp_path: Path, ca: Authority) -> None:
    data_root, _ = sealer_ca_layout(tmp_path, ca, "found-ca")
    other = make_ca(tmp_path / "other")
    ca_file = tmp_path / "other.pem"
    ca_file.write_bytes(other.cert)
    path = clusterfile(tmp_path, name="found-ca", data_root=data_root)
    result = cli("render", str(path), "--ca-file", str(ca_file))
    assert result.code == 0
    assert data_of(result.out)["ca.crt"] == other.cert
    assert "using CA certificate" not in result.err


def test_insecure_registry_does_not_look_for_a_ca(cli: Cli, tmp_path: Path, ca: Authority) -> None:
    data_root, _ = sealer_ca_layout(tmp_path, ca, "found-ca")
    registry = f"domain: {DOMAIN}\n      port: 5000\n      insecure: true"
    path = clusterfile(tmp_path, name="found-ca", data_root=data_root, registry=registry)
    result = cli("render", str(path))
    assert result.code == 0
    data = data_of(result.out)
    assert "ca.crt" not in data
    assert data["insecure"] == b"true"
    assert "CA" not in result.err


def test_discovered_file_that_is_not_a_certificate_is_an_error(cli: Cli, tmp_path: Path) -> None:
    data_root = tmp_path / "sealer-data"
    crt = data_root / "bad-ca" / "rootfs" / "certs" / f"{DOMAIN}.crt"
    crt.parent.mkdir(parents=True)
    crt.write_text("garbage\n")
    result = cli("render", str(clusterfile(tmp_path, name="bad-ca", data_root=data_root)))
    assert str(crt) in assert_one_line_error(result, 1)


# --- warnings and stability -------------------------------------------------------------------


def test_anonymous_pull_is_a_note_on_a_terminal_only(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    anonymous = cli("render", str(clusterfile(tmp_path)))
    assert anonymous.code == 0
    assert anonymous.err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    on_terminal = cli("render", str(clusterfile(tmp_path)))
    assert "gen-secret: note: registry " in on_terminal.err
    assert "anonymous" in on_terminal.err
    auths = json.loads(data_of(anonymous.out)[".dockerconfigjson"])
    assert auths == {"auths": {f"{DOMAIN}:5000": {}}}

    with_credentials = cli("render", str(clusterfile(tmp_path, registry=WITH_CREDENTIALS)))
    assert with_credentials.code == 0
    assert "anonymous pulls" not in with_credentials.err
    assert_secret_not_in(with_credentials.err, "file-pass")


def test_output_is_byte_stable_in_process(cli: Cli) -> None:
    path = str(FIXTURES / "ha-auth-multidoc.yaml")
    first, second = cli("render", path), cli("render", path)
    assert first.code == second.code == 0
    assert first.out.encode() == second.out.encode(), "two runs differ"


def test_output_is_byte_stable_across_processes_and_environments(tmp_path: Path) -> None:
    path = str(FIXTURES / "ha-auth-multidoc.yaml")
    outputs = []
    for seed, tz, lang in (("1", "UTC", "C.UTF-8"), ("2", "Asia/Tokyo", "C"), ("3", "", "")):
        env = {**os.environ, "PYTHONHASHSEED": seed, "TZ": tz, "LANG": lang, "LC_ALL": lang}
        result = run_script("render", path, cwd=tmp_path, env=env)
        assert result.code == 0
        outputs.append(result.out)
    assert outputs[0] == outputs[1] == outputs[2], "runs differ"
    assert outputs[0].endswith("\n")
    assert "\r" not in outputs[0]


def test_private_key_relabelled_as_certificate_is_refused(cli: Cli, tmp_path: Path) -> None:
    openssl = require_tool("openssl", "apt-get install openssl")
    key = tmp_path / "key.pem"
    subprocess.run(
        [openssl, "genpkey", "-algorithm", "RSA", "-out", str(key)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    fake = tmp_path / "ca.pem"
    fake.write_text(key.read_text().replace("PRIVATE KEY", "CERTIFICATE"))
    result = cli("render", str(clusterfile(tmp_path)), "--ca-file", str(fake))
    assert "not X.509" in assert_one_line_error(result, 1)
    assert result.out == ""


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["--out", ""], 2, "--out needs a folder name"),
        (["--username", ""], 2, "username is empty"),
    ],
)
def test_empty_values_are_refused(
    cli: Cli, tmp_path: Path, args: list[str], code: int, fragment: str
) -> None:
    result = cli("render", str(clusterfile(tmp_path)), *args)
    assert fragment in assert_one_line_error(result, code)


def test_an_empty_clusterfile_path_is_not_the_current_folder(cli: Cli) -> None:
    assert "empty Clusterfile path" in assert_one_line_error(cli("render", ""), 1)


@pytest.mark.parametrize("version", [False, True], ids=["render", "version"])
def test_a_full_disk_on_stdout_is_one_line(tmp_path: Path, version: bool) -> None:
    # render flushes in main(); --version's print() stays buffered until the console script's
    # last flush before os._exit, which must report it all the same (BUFFERED: see below).
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    args = ["--version"] if version else ["render", str(clusterfile(tmp_path))]
    with Path("/dev/full").open("wb") as full:
        proc = subprocess.run(
            [gen_secret_script(), *args],
            stdout=full,
            stderr=subprocess.PIPE,
            env=BUFFERED,
            timeout=60,
            check=False,
        )
    assert proc.returncode == 1
    lines = proc.stderr.decode().splitlines()
    assert [line for line in lines if ": error: " in line] == lines[-1:]  # reported once
    last = lines[-1]
    assert last == "gen-secret: error: cannot write to stdout: No space left on device"
    assert "Traceback" not in proc.stderr.decode()


def test_a_render_with_a_ca_does_not_load_cryptography(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    openssl_ca(tmp_path / "key.pem", ca)
    probe = (
        "import contextlib, io, sys\n"
        "from generator.cli.app import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        f"    code = main(['render', {str(clusterfile(tmp_path))!r}, '--ca-file', {str(ca)!r}])\n"
        "loaded = any(m.startswith('cryptography') for m in sys.modules)\n"
        "print(code, 'ca.crt' in out.getvalue(), loaded)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stdout.split() == ["0", "True", "False"]


# The console script ends with os._exit (the interpreter's teardown was 15 ms of a
# run); whatever it printed must still arrive whole, and a write that fails must still fail.
# Python's usual buffering, whatever this shell exports: unbuffered, nothing waits for a flush.
BUFFERED = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def test_the_console_script_delivers_all_its_output_before_it_exits(tmp_path: Path) -> None:
    names = tmp_path / "ns.txt"
    names.write_text("".join(f"team-{i}\n" for i in range(3000)))
    result = run_script(
        "render",
        str(FIXTURES / "insecure-custom.yaml"),  # no CA to look for: nothing to note
        "--pull-namespaces-from",
        str(names),
        env=BUFFERED,
    )
    assert (result.code, result.err) == (0, "")
    documents = list(yaml.load_all(result.out, Loader=yaml.CSafeLoader))  # C: 6,000 documents
    assert len(documents) == 1 + 2 * 3000  # the Secret, then a copy and a ServiceAccount each
    assert documents[-1]["metadata"]["namespace"] == "team-999"  # sorted: the last one is here
    assert result.out.endswith("\n")


def test_the_console_script_flushes_what_it_printed_unflushed() -> None:
    from generator import __version__

    # --version is a print() to a pipe: still in Python's buffer when main() returns.
    assert run_script("--version", env=BUFFERED) == Run(0, f"gen-secret {__version__}\n", "")


def test_ctrl_c_as_the_console_script_starts_is_quiet() -> None:
    # strace sends SIGINT at the first system call that touches generator/io, that is, while
    # the entry point imports its first module: the signal must end the run with 130 and
    # nothing said, not a KeyboardInterrupt traceback from the import it landed in.
    import generator.io

    strace = require_tool("strace", "apt-get install strace")
    io_folder = os.path.dirname(generator.io.__file__)
    proc = subprocess.run(
        [strace, "-f", "-qq", "-o", "/dev/null", "-P", io_folder,
         "-e", "inject=all:signal=INT:when=1",
         gen_secret_script(), "render", str(FIXTURES / "insecure-custom.yaml")],
        capture_output=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert (proc.returncode, proc.stdout, proc.stderr) == (130, b"", b"")


def test_the_console_script_is_quiet_when_its_reader_leaves(tmp_path: Path) -> None:
    names = tmp_path / "ns.txt"
    names.write_text("".join(f"team-{i}\n" for i in range(20000)))
    proc = subprocess.Popen(
        [gen_secret_script(), "render", str(FIXTURES / "insecure-custom.yaml"),
         "--pull-namespaces-from", str(names)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=BUFFERED,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.read(10) == b"apiVersion"
    proc.stdout.close()  # `| head -c 10`
    _, err = proc.communicate(timeout=60)
    assert err == b""
