"""`gen-secret inspect` and `gen-secret match` as users run them, and every command's --help."""

from __future__ import annotations

import base64
import gc
import json
import os
import re
import select
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from generator.app.pipeline import Request, prepare
from generator.plan.summary import summarise
from tests.conftest import (
    FIXTURES,
    HERE,
    ROOT,
    Run,
    decode_data,
    openssl_ca,
    require_tool,
    run_script,
)

Cli = Callable[..., Run]

HA = FIXTURES / "ha-auth-multidoc.yaml"
HA_USERNAME = "sealer"
HA_PASSWORD = "Sealer#2024:pw"  # the fixture's test password
OTHER_PASSWORD = "0ther-Pa55word/for+the=cli"
FIXTURE_NAMES = sorted(p.name for p in FIXTURES.glob("*.yaml"))
GOLDEN_HELP = HERE / "golden" / "help"
HELP_COMMANDS = {
    "root": (),
    "render": ("render",),
    "inspect": ("inspect",),
    "match": ("match",),
    "check": ("check",),
}

BOTH_REGISTRIES = """\
apiVersion: sealer.io/v2
kind: Cluster
metadata:
  name: both
spec:
  registry:
    localRegistry:
      domain: sea.hub
      port: 5000
      username: local-user
      password: local-Pa55
      ha: false
    externalRegistry:
      domain: harbor.example.com
      username: robot
      password: harbor-Pa55
"""


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def assert_no_secret(text: str, username: str, password: str, rendered: str = "") -> None:
    """Fail, without showing either, when `text` holds the password in any form we know of."""
    forms = [password, b64(password), b64(f"{username}:{password}")]
    if rendered:
        # The Secret's own base64 values that carry the password.
        (secret,) = yaml.safe_load_all(rendered)
        forms += [secret["data"]["password"], secret["data"][".dockerconfigjson"]]
    leaked = [i for i, form in enumerate(forms) if form in text]
    if leaked:
        pytest.fail(f"output holds the password (forms {leaked})", pytrace=False)


def fields(text: str) -> dict[str, str]:
    """`Field: value` lines of inspect's plain text."""
    out = {}
    for line in text.splitlines():
        if not line.startswith(" ") and ":" in line:
            field, _, value = line.partition(":")
            out[field] = value.strip()
    return out


def rendered_auths(cli: Cli, *args: str) -> list[str]:
    """The `auths` keys of the `.dockerconfigjson` that `render` writes: the oracle for keys."""
    result = cli("render", *args)
    assert result.code == 0, result.err
    (secret,) = yaml.safe_load_all(result.out)
    return sorted(json.loads(decode_data(secret)[".dockerconfigjson"])["auths"])


# --- inspect -------------------------------------------------------------------------------


def test_inspect_text_shows_the_secret_with_the_password_masked(cli: Cli) -> None:
    result = cli("inspect", str(HA))
    assert result.code == 0, result.err
    shown = fields(result.out)
    assert shown["Cluster"] == "prod-east"
    assert shown["Secret"] == "kube-system/sealer-registry"
    assert shown["Registry"] == "sea.hub:5000"
    assert shown["Username"] == HA_USERNAME
    assert shown["Password"] == "********"
    assert shown["auths keys"].split(", ") == rendered_auths(cli, str(HA))
    assert "  local    sea.hub:5000  TLS on  HA on  the Secret's registry" in result.out
    assert_no_secret(result.out + result.err, HA_USERNAME, HA_PASSWORD)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_inspect_json_describes_what_render_writes(cli: Cli, name: str) -> None:
    path = str(FIXTURES / name)
    result = cli("inspect", path, "--output", "json", "--name", "pull", "--namespace", "team-a")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert set(summary) == {
        "auths",
        "authSources",
        "ca",
        "cluster",
        "notes",
        "password",
        "readAs",
        "registries",
        "registry",
        "secret",
        "source",
        "username",
        "warnings",
    }
    rendered = cli("render", path, "--name", "pull", "--namespace", "team-a")
    (secret,) = yaml.safe_load_all(rendered.out)
    data = decode_data(secret)
    assert summary["auths"] == sorted(json.loads(data[".dockerconfigjson"])["auths"])
    assert summary["secret"] == {
        "name": secret["metadata"]["name"],
        "namespace": secret["metadata"]["namespace"],
        "dataKeys": sorted(secret["data"]),
    }
    assert summary["registry"] == data["url"].decode()
    assert summary["username"] == (data["username"].decode() if "username" in data else None)
    assert summary["password"] == ("********" if data.get("password") else None)
    main = [r for r in summary["registries"] if r["main"]]
    assert len(main) == 1
    assert main[0]["url"] == data["url"].decode()
    assert main[0]["tls"] is (data["insecure"] == b"false")
    assert set(summary["ca"]) == {"file", "status", "searched"}
    # The warnings are render's own, on stderr as well.
    assert [f"gen-secret: warning: {w}" for w in summary["warnings"]] == result.err.splitlines()
    assert rendered.err.count("warning") == len(summary["warnings"])


def test_inspect_shows_every_registry(cli: Cli, tmp_path: Path) -> None:
    clusterfile = tmp_path / "Clusterfile"
    clusterfile.write_text(BOTH_REGISTRIES)
    result = cli("inspect", str(clusterfile), "--output", "json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["auths"] == rendered_auths(cli, str(clusterfile))
    assert summary["auths"] == ["harbor.example.com", "sea.hub:5000"]
    assert summary["registries"] == [
        {
            "role": "local",
            "url": "sea.hub:5000",
            "tls": True,
            "ha": False,
            "main": True,
            "inAuths": True,
        },
        {
            "role": "external",
            "url": "harbor.example.com",
            "tls": True,
            "ha": None,
            "main": False,
            "inAuths": True,
        },
    ]
    text = cli("inspect", str(clusterfile)).out
    assert "  external harbor.example.com  TLS on  HA -  in auths" in text
    for user, password in (("local-user", "local-Pa55"), ("robot", "harbor-Pa55")):
        assert_no_secret(result.out + text, user, password)


@pytest.mark.parametrize("output", [(), ("--output", "json")], ids=["text", "json"])
@pytest.mark.parametrize("command", ["inspect", "match"])
def test_password_never_shown(
    cli: Cli, tmp_path: Path, command: str, output: tuple[str, ...]
) -> None:
    extra = ("--image", "sea.hub:5000/app", "--image", "busybox") if command == "match" else ()
    result = cli(command, str(HA), *extra, *output)
    assert result.code in (0, 1), result.err
    rendered = cli("render", str(HA)).out
    assert_no_secret(result.out + result.err, HA_USERNAME, HA_PASSWORD, rendered)
    # A password from the command line is masked just the same.
    secret_file = tmp_path / "password"
    secret_file.write_text(OTHER_PASSWORD + "\n")
    overridden = ("--username", "ci", "--password-file", str(secret_file))
    result = cli(command, str(HA), *extra, *output, *overridden)
    assert result.code in (0, 1), result.err
    rendered = cli("render", str(HA), *overridden).out
    assert_no_secret(result.out + result.err, "ci", OTHER_PASSWORD, rendered)
    from_stdin = cli(
        command, str(HA), *extra, *output, "--password-stdin", stdin=OTHER_PASSWORD.encode()
    )
    assert from_stdin.code in (0, 1), from_stdin.err
    assert_no_secret(from_stdin.out + from_stdin.err, HA_USERNAME, OTHER_PASSWORD)


def test_inspect_masks_the_password_whatever_its_length(cli: Cli, tmp_path: Path) -> None:
    shown = set()
    for password in ("x", "a much longer password than the mask is wide"):
        secret_file = tmp_path / "password"
        secret_file.write_text(password)
        out = cli("inspect", str(HA), "--password-file", str(secret_file), "--output", "json").out
        shown.add(json.loads(out)["password"])
    assert shown == {"********"}


def read_pty(args: list[str], timeout: float = 30) -> tuple[int, str]:
    """Run a command with its stdout on a pseudo-terminal, as in a user's shell."""
    master, slave = os.openpty()
    env = {**os.environ, "COLUMNS": "120", "LINES": "50", "TERM": "xterm"}
    proc = subprocess.Popen(args, stdout=slave, stderr=subprocess.PIPE, env=env)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = proc.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
        if proc.stderr is not None:
            proc.stderr.close()
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_inspect_prints_a_table_on_a_terminal() -> None:
    from tests.conftest import gen_secret_script

    code, out = read_pty([gen_secret_script(), "inspect", str(HA)])
    assert code == 0
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert "Secret kube-system/sealer-registry" in plain
    assert "Registries" in plain
    assert re.search(r"│ Password\s+│ \*{8}\s+│", plain), "no masked password row"
    assert re.search(r"│ local\s+│ sea\.hub:5000\s+│ on\s+│ on\s+│", plain), "no registry row"
    assert_no_secret(out, HA_USERNAME, HA_PASSWORD)


@pytest.fixture(scope="module")
def ca_pem(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real self-signed CA certificate for sea.hub, made by openssl."""
    folder = tmp_path_factory.mktemp("ca")
    openssl_ca(folder / "key.pem", folder / "sea.hub.crt", "sea.hub")
    return folder / "sea.hub.crt"


def test_inspect_names_the_ca_file(cli: Cli, ca_pem: Path) -> None:
    given = json.loads(cli("inspect", str(HA), "--ca-file", str(ca_pem), "--output", "json").out)
    assert given["ca"] == {"file": str(ca_pem), "status": "given", "searched": []}
    assert "ca.crt" in given["secret"]["dataKeys"]
    text = fields(cli("inspect", str(HA), "--ca-file", str(ca_pem)).out)
    assert text["CA file"] == f"{ca_pem} (--ca-file)"
    insecure = cli("inspect", str(FIXTURES / "insecure-custom.yaml"), "--output", "json").out
    assert json.loads(insecure)["ca"]["status"] == "insecure"


def test_inspect_finds_sealers_ca_file_and_lists_where_it_looked(
    ca_pem: Path, tmp_path: Path
) -> None:
    prepared = prepare(HA.read_bytes(), "ha", Request(ca_root=tmp_path))
    # sealer's layout (FIELD-NOTES section 1), spelled out rather than taken from the code.
    searched = [
        tmp_path / "var/lib/sealer/data/prod-east/rootfs/certs/sea.hub.crt",
        tmp_path / "etc/containerd/certs.d/sea.hub:5000/sea.hub.crt",
        tmp_path / "etc/containerd/certs.d/sea.hub:5000/ca.crt",
        tmp_path / "etc/docker/certs.d/sea.hub:5000/sea.hub.crt",
        tmp_path / "etc/docker/certs.d/sea.hub:5000/ca.crt",
    ]
    none = summarise(prepared.cluster, prepared.options, ca_root=tmp_path)
    assert (none.ca.status, none.ca.file, none.ca.searched) == (
        "none",
        None,
        tuple(map(str, searched)),
    )
    assert "ca.crt" not in none.data_keys
    # Put the CA where a containerd node keeps it: the summary must name that file.
    target = tmp_path / "etc/containerd/certs.d/sea.hub:5000/sea.hub.crt"
    target.parent.mkdir(parents=True)
    shutil.copy(ca_pem, target)
    prepared = prepare(HA.read_bytes(), "ha", Request(ca_root=tmp_path))
    found = summarise(prepared.cluster, prepared.options, ca_root=tmp_path)
    assert (found.ca.status, found.ca.file) == ("found", str(target))
    assert "ca.crt" in found.data_keys


# --- match ---------------------------------------------------------------------------------


MATCH_CODES = {
    "served": (["sea.hub:5000/library/nginx:1.25"], 0),
    "served by digest": ([f"sea.hub:5000/app@sha256:{'ab' * 32}"], 0),
    "one of two not served": (["sea.hub:5000/app", "sea.hub:5001/app"], 1),
    "docker hub not served": (["busybox"], 1),
    "invalid reference": (["sea.hub:5000/App"], 2),
    "invalid among valid": (["sea.hub:5000/app", "busybox@sha256:abc"], 2),
}


@pytest.mark.parametrize(("images", "code"), MATCH_CODES.values(), ids=MATCH_CODES.keys())
def test_match_exit_codes(cli: Cli, images: list[str], code: int) -> None:
    args = [a for image in images for a in ("--image", image)]
    result = cli("match", str(HA), *args)
    assert result.code == code, result.err
    if code == 2:
        assert result.out == ""
        assert result.err.startswith("gen-secret: error: invalid image reference")
        assert len(result.err.splitlines()) == 1
    else:
        assert len(result.out.splitlines()) >= len(images)


def test_match_without_an_image_is_a_usage_error(cli: Cli) -> None:
    result = cli("match", str(HA))
    assert (result.code, result.out) == (2, "")
    assert result.err == "gen-secret: error: give at least one --image REF\n"


def without_sans(tmp_path: Path) -> Path:
    """The HA fixture without cert.subjectAltName, so sea.hub:5000 is its only auths key."""
    text = HA.read_text()
    start = text.index("      cert:\n")
    end = text.index("---", start)
    path = tmp_path / "Clusterfile"
    path.write_text(text[:start] + text[end:])
    return path


def test_certificate_sans_serve_images_by_ip_and_other_name(cli: Cli) -> None:
    result = cli(
        "match", str(HA), "-i", "10.0.0.11:5000/app", "-i", "registry.prod-east.internal:5000/x"
    )
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "10.0.0.11:5000/app (10.0.0.11:5000/app:latest): served by 10.0.0.11:5000",
        "registry.prod-east.internal:5000/x (registry.prod-east.internal:5000/x:latest): "
        "served by registry.prod-east.internal:5000",
    ]


def test_match_says_why_no_key_serves_an_image(cli: Cli, tmp_path: Path) -> None:
    result = cli(
        "match",
        str(without_sans(tmp_path)),
        "-i",
        "sea.hub:5000/app:1.0",
        "-i",
        "sea.hub:5001/app",
        "-i",
        "10.0.0.11:5000/app",
        "-i",
        "busybox",
    )
    assert result.code == 1
    assert result.out.splitlines() == [
        "sea.hub:5000/app:1.0: served by sea.hub:5000",
        "sea.hub:5001/app (sea.hub:5001/app:latest): NOT SERVED, no auths key matches: "
        "the kubelet pulls without credentials",
        "  sea.hub:5000: port 5001 differs from 5000",
        "10.0.0.11:5000/app (10.0.0.11:5000/app:latest): NOT SERVED, no auths key matches: "
        "the kubelet pulls without credentials",
        "  sea.hub:5000: host has 4 labels, key has 2 "
        "(the image names an IP address, the key a host name)",
        "busybox (docker.io/library/busybox:latest): NOT SERVED, no auths key matches: "
        "the kubelet pulls without credentials",
        "  sea.hub:5000: the image has no port, the key needs 5000; "
        "label 'docker' does not match 'sea'; label 'io' does not match 'hub'",
    ]


def test_match_reminds_that_secrets_are_namespaced(cli: Cli) -> None:
    result = cli("match", str(HA), "-i", "sea.hub:5000/app", "--namespace", "team-a")
    assert result.code == 0
    assert "only pods in namespace team-a can use Secret sealer-registry" in result.err


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_match_uses_the_keys_render_writes(cli: Cli, name: str) -> None:
    path = str(FIXTURES / name)
    for key in rendered_auths(cli, path):
        result = cli("match", path, "--image", f"{key}/probe/app:1", "--output", "json")
        assert result.code == 0, result.err
        (image,) = json.loads(result.out)["images"]
        assert image["keys"] == [key]


def test_match_json_shape(cli: Cli, tmp_path: Path) -> None:
    result = cli(
        "match",
        str(without_sans(tmp_path)),
        "-i",
        "sea.hub:5000/app",
        "-i",
        "busybox",
        "--output",
        "json",
    )
    assert result.code == 1
    document = json.loads(result.out)
    assert document["secret"] == {"name": "sealer-registry", "namespace": "kube-system"}
    served, unserved = document["images"]
    assert served == {
        "image": "sea.hub:5000/app",
        "normalised": "sea.hub:5000/app:latest",
        "lookup": "sea.hub:5000/app",
        "served": True,
        "keys": ["sea.hub:5000"],
        "anonymous": [],
        "dockerHubFallback": False,
        "credentials": [
            {"key": "sea.hub:5000", "try": 1, "username": "sealer", "source": "Clusterfile"}
        ],
        "verdicts": [
            {
                "key": "sea.hub:5000",
                "normalised": "sea.hub:5000",
                "used": True,
                "reasons": [],
                "note": "",
            }
        ],
    }
    assert unserved["served"] is False
    assert unserved["keys"] == []
    assert unserved["lookup"] == "docker.io/library/busybox"
    assert unserved["verdicts"][0]["reasons"][0] == "the image has no port, the key needs 5000"


def test_match_flags_a_key_without_credentials(cli: Cli) -> None:
    example = str(FIXTURES / "seed-clusterfile.yaml")  # a local registry without credentials
    result = cli("match", example, "-i", "sea.hub:5000/app")
    assert result.code == 0
    assert result.out == (
        "sea.hub:5000/app (sea.hub:5000/app:latest): "
        "served by sea.hub:5000 (no credentials: an anonymous pull)\n"
    )
    document = json.loads(cli("match", example, "-i", "sea.hub:5000/app", "--output", "json").out)
    assert document["images"][0]["anonymous"] == ["sea.hub:5000"]


def test_match_reads_the_clusterfile_from_stdin(cli: Cli) -> None:
    result = cli("match", "-", "-i", "sea.hub:5000/app", stdin=HA.read_bytes())
    assert result.code == 0
    assert result.out == "sea.hub:5000/app (sea.hub:5000/app:latest): served by sea.hub:5000\n"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["match", str(HA), "-i", "sea.hub:5000/app"], 0),
        (["match", str(HA), "-i", "sea.hub:5001/app"], 1),
        (["match", str(HA), "-i", "UPPER"], 2),
        # The images are checked before the Clusterfile is read.
        (["match", str(FIXTURES / "does-not-exist.yaml"), "-i", "UPPER"], 2),
        (["inspect", str(HA), "--output", "yaml"], 2),
        (["inspect", str(FIXTURES / "does-not-exist.yaml")], 1),
    ],
)
def test_installed_script_exit_codes(args: list[str], code: int) -> None:
    result = run_script(*args)
    assert result.code == code, result.err
    assert_no_secret(result.out + result.err, HA_USERNAME, HA_PASSWORD)


# --- help, version, completion, start-up -----------------------------------------------------


def help_text(cli: Cli, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], width: int) -> str:
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    result = cli(*args, "--help")
    assert result.code == 0, result.err
    return "\n".join(line.rstrip() for line in result.out.splitlines()) + "\n"


def plain_help(args: tuple[str, ...]) -> str:
    """--help as click's plain formatter prints it, 80 columns wide: no boxes, no colour.

    typer reads TYPER_USE_RICH when it is imported, hence a process of its own. Plain text
    keeps the goldens about what the help says, not about how a rich release draws boxes.
    """
    env = {**os.environ, "TYPER_USE_RICH": "0", "COLUMNS": "80", "NO_COLOR": "1"}
    env.pop("FORCE_COLOR", None)
    result = run_script(*args, "--help", env=env)
    assert result.code == 0, result.err
    return "\n".join(line.rstrip() for line in result.out.splitlines()) + "\n"


@pytest.mark.parametrize("name", HELP_COMMANDS)
def test_help_matches_golden(name: str) -> None:
    text = plain_help(HELP_COMMANDS[name])
    golden = GOLDEN_HELP / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"no golden file for {name} --help: run `make golden`"
    assert text == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", HELP_COMMANDS)
def test_help_examples_run(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str
) -> None:
    text = help_text(cli, monkeypatch, HELP_COMMANDS[name], 200)
    examples = re.findall(r"Example: (gen-secret .*?)\s*$", text, re.MULTILINE)
    assert examples, f"{name} --help shows no example"
    shutil.copy(ROOT / "examples" / "Clusterfile", tmp_path / "Clusterfile")
    if name == "check":  # its example compares with a folder render wrote before
        assert run_script("render", "Clusterfile", "--out", "prod/", cwd=tmp_path).code == 0
    for example in examples:
        # Run the gen-secret part of a pipeline, in a folder holding the example Clusterfile.
        args = shlex.split(example.split("|")[0])[1:]
        result = run_script(*args, cwd=tmp_path)
        assert result.code == 0, f"{example!r} failed: {result.err}"


def test_version_is_the_installed_distributions(cli: Cli) -> None:
    from importlib.metadata import version

    result = cli("--version")
    assert (result.code, result.out) == (0, f"gen-secret {version('gen-secret')}\n")


def test_bash_completes_commands_and_options(tmp_path: Path) -> None:
    bash = require_tool("bash", "apt-get install bash")
    script = run_script("--show-completion", "bash", env={**os.environ, "SHELL": bash})
    assert script.code == 0, script.err
    (tmp_path / "completion.sh").write_text(script.out)
    probe = f"""
source {shlex.quote(str(tmp_path / "completion.sh"))}
complete_words() {{
    COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
    _gen_secret_completion gen-secret; echo "${{COMPREPLY[*]}}"
}}
complete_words gen-secret ins
complete_words gen-secret match --ima
complete_words gen-secret inspect --output ''
"""
    path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
    proc = subprocess.run(
        [bash, "--norc", "-c", probe],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path},
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["inspect", "--image", "table plain json"]


def test_install_completion_writes_to_the_users_shell_files(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "SHELL": "/bin/bash"}
    result = run_script("--install-completion", "bash", env=env)
    assert result.code == 0, result.err
    installed = tmp_path / ".bash_completions" / "gen-secret.sh"
    assert "_gen_secret_completion" in installed.read_text()
    assert str(installed) in (tmp_path / ".bashrc").read_text()


# The start-up rules (docs/architecture.md): what a command must not load unless it needs it.
LAZY = (
    "generator.plan.summary",
    "generator.model.matching",
    "generator.cli.report",
    "generator.render.sealing",
    "generator.render.sops",
    "generator.render.stamping",
    "generator.render.gitops",
    "generator.plan.clusterstate",
    "generator.fleet.unchanged",
    "generator.fleet.pool",
    "generator.cli.cmd_check",
    "generator.cli.cmd_inspect",
    "generator.cli.cmd_match",
    "generator.io.output",
    "cryptography",
    "pyrage",
    "multiprocessing",
    "jinja2",
    "rich",
    "ctypes",
    "concurrent.futures",
    "generator.model.mergeauths",
)


def loaded_modules(code: str) -> set[str]:
    """Top modules of LAZY that a fresh interpreter has loaded after running `code`."""
    probe = f"""
import contextlib, io, sys
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
{code}
print(" ".join(m for m in {LAZY!r} if m in sys.modules))
"""
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return set(proc.stdout.split())


def test_inspect_and_match_load_lazily(tmp_path: Path) -> None:
    assert loaded_modules("    import generator.cli.app") == set()
    render = f"    from generator.cli.app import main; main(['render', {str(HA)!r}])"
    assert loaded_modules(render) == {"jinja2"}
    # One cluster's files are written one after another: no thread pool, and no ctypes.
    out = str(tmp_path / "out")
    written = (
        f"    from generator.cli.app import main; main(['render', {str(HA)!r}, '--out', {out!r}])"
    )
    assert loaded_modules(written) == {"jinja2", "generator.io.output"}
    # JSON comes from the objects, not the templates: no Jinja.
    as_json = f"    from generator.cli.app import main; main(['render', {str(HA)!r}, '-o', 'json'])"
    assert loaded_modules(as_json) == set()
    match = f"    from generator.cli.app import main; main(['match', {str(HA)!r}, '-i', 'x.io/a'])"
    assert loaded_modules(match) == {
        "generator.cli.cmd_match",
        "generator.model.matching",
        "generator.cli.report",
    }
    # Not a terminal: plain text, so rich stays out even for inspect.
    inspect = f"    from generator.cli.app import main; main(['inspect', {str(HA)!r}])"
    assert loaded_modules(inspect) == {
        "generator.cli.cmd_inspect",
        "generator.plan.summary",
        "generator.cli.report",
    }


def test_command_annotations_are_objects_so_typer_need_not_eval_them() -> None:
    # typer reads every option's annotation at each start; a string costs it an eval and a
    # compile apiece, 4 ms of a 170 ms render. `from __future__ import annotations`
    # in a command's module would turn them all into strings.
    from generator.cli.app import typer_app

    app = typer_app()
    infos = [*app.registered_commands, app.registered_callback]
    callbacks = [info.callback for info in infos if info is not None and info.callback]
    assert len(callbacks) == len(infos) > 1
    for callback in callbacks:
        strings = [n for n, hint in callback.__annotations__.items() if isinstance(hint, str)]
        assert strings == [], callback.__name__


def test_start_up_runs_without_garbage_collection_and_the_work_with_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The console script turns the collector off until the command is built (modules and
    # classes live as long as the process), then freezes what start-up made and turns it on
    # again: a fleet's work must be collected as it goes.
    probe = f"""
import gc, sys
sys.argv = ["gen-secret", "render", {str(HA)!r}]
from generator.cli import app
from generator.app import pipeline

built, run = app.command_line, pipeline.run

def command_line(args):
    sys.stderr.write(f"start-up collects: {{gc.isenabled()}}\\n")
    return built(args)

def render(*args, **kwargs):
    frozen = gc.get_freeze_count() > 0
    sys.stderr.write(f"the work collects: {{gc.isenabled()}}, frozen: {{frozen}}\\n")
    return run(*args, **kwargs)

app.command_line, pipeline.run = command_line, render
from generator.cli.script import run as script
script()
"""
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "start-up collects: False",
        "the work collects: True, frozen: True",
    ]
    # Any other caller of main() keeps its collector as it was: on (every test here), or off.
    from generator.cli.app import main

    frozen = gc.get_freeze_count()
    assert main(["render", str(HA)]) == 0
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
    gc.disable()
    try:
        assert main(["render", str(HA)]) == 0
        assert not gc.isenabled(), "main() turned on a collector its caller had turned off"
    finally:
        gc.enable()
    capsys.readouterr()
