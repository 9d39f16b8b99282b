"""Shared test helpers: fixtures on disk, the CLI in-process, and tool requirements."""

from __future__ import annotations

import datetime
import functools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.warmstart import WarmStart, start_up_environment

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
ROOT = HERE.parent
# CI sets this: a test that would skip for a missing tool fails instead.
REQUIRE_TOOLS = os.environ.get("GEN_SECRET_REQUIRE_TOOLS") == "1"


# `make test-deps` installs the npm packages the tests use here (NPM_TEST_PACKAGES, Makefile).
NPM_TEST = ROOT / ".npm-test"


def _missing(message: str) -> NoReturn:
    """Skip a test whose tool is missing, or fail it in CI."""
    if REQUIRE_TOOLS:
        pytest.fail(f"{message} (GEN_SECRET_REQUIRE_TOOLS=1 turns this skip into a failure)")
    pytest.skip(message)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: a worker more than the cores, since tests wait for the processes, syncs and
    servers they start."""
    return (os.cpu_count() or 1) + 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first: started last, one of them would keep the others' workers idle."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True, scope="session")
def _fingerprint_key_of_the_tests(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Fleet runs keep a key in the user's cache folder: the tests' is their own."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))


def require_tool(name: str, install_hint: str) -> str:
    """The path of an external tool, or a skip (a failure in CI) that says how to get it."""
    path = shutil.which(name)
    if path is None:
        _missing(f"{name} not found: {install_hint}")
    return path


def venv_tool(name: str, install_hint: str) -> str:
    """A tool a Python package installs next to this interpreter (`.venv/bin` is not on PATH
    when the tests run as `.venv/bin/pytest`), else one on PATH; else as require_tool."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return require_tool(name, install_hint)


def npm_test_pins() -> dict[str, str]:
    """The npm packages `make test-deps` installs, name to exact version, from the Makefile."""
    (line,) = [
        line
        for line in (ROOT / "Makefile").read_text().splitlines()
        if line.startswith("NPM_TEST_PACKAGES")
    ]
    pins = [pin.rpartition("@") for pin in line.partition(":=")[2].split()]
    return {name: version for name, _, version in pins}


def require_npm_packages(*names: str) -> Path:
    """The folder whose node_modules holds these npm packages at the Makefile's versions, or a
    skip (a failure in CI) that says how to get them."""
    pins = npm_test_pins()
    for name in names:
        manifest = NPM_TEST / "node_modules" / name / "package.json"
        installed = json.loads(manifest.read_text())["version"] if manifest.is_file() else None
        if installed != pins[name]:
            found = f"version {installed}" if installed else "not installed"
            _missing(f"npm package {name}@{pins[name]}: {found} in {NPM_TEST}; run make test-deps")
    return NPM_TEST


def gen_secret_script() -> str:
    """The installed console script next to this interpreter."""
    script = Path(sys.executable).parent / "gen-secret"
    if not script.exists():
        pytest.fail("gen-secret console script is not installed: pip install -e .")
    return str(script)


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


Cli = Callable[..., Run]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Run `gen-secret ARGS` in-process through the real entry point, with optional stdin."""
    from generator.cli.app import main

    def run(*args: str, stdin: bytes = b"") -> Run:
        import io

        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        code = main(list(args))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


_WARM_STARTS: dict[tuple[tuple[str, str], ...], WarmStart] = {}


@pytest.fixture(autouse=True, scope="session")
def _stop_warm_starts() -> Iterator[None]:
    yield
    for warm in _WARM_STARTS.values():
        warm.close()


def _warm_start(start_up: tuple[tuple[str, str], ...]) -> WarmStart:
    """The server for runs with these start-up variables."""
    if start_up not in _WARM_STARTS:
        _WARM_STARTS[start_up] = WarmStart(gen_secret_script(), start_up)
    return _WARM_STARTS[start_up]


def run_script(
    *args: str,
    stdin: bytes = b"",
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    prefix: Sequence[str] = (),
    timeout: float = 60,
) -> Run:
    """Run the installed console script as a user would, with a timeout.

    In a process of its own, forked from one that has already imported it (tests/warmstart.py
    says when that is the same as a fresh start, and falls back to one otherwise;
    GEN_SECRET_TESTS_COLD=1 starts every run afresh).

    `prefix` runs it under another command, e.g. `setpriv` to drop root's file-access override.
    """
    if env is not None and "XDG_CACHE_HOME" not in env:  # the tests' fingerprint key, always
        env = {**env, "XDG_CACHE_HOME": os.environ["XDG_CACHE_HOME"]}
    if not prefix and os.environ.get("GEN_SECRET_TESTS_COLD") != "1":
        warm = _warm_start(start_up_environment(os.environ if env is None else env))
        code, out, err = warm.run(args, stdin, cwd, env, timeout)
        return Run(code, out.decode(), err.decode())
    proc = subprocess.run(
        [*prefix, gen_secret_script(), *args],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )
    return Run(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


K8S_VERSION = "1.32.0"  # the machine image's kubectl


@functools.cache
def _kubernetes_validate() -> Any:
    """kubernetes-validate, reading each schema file once: it parses the JSON (megabytes of
    definitions) on every call otherwise, and the schemas do not change during a run."""
    import kubernetes_validate
    import kubernetes_validate.utils as utils

    utils.schema_contents = functools.cache(utils.schema_contents)
    return kubernetes_validate


def assert_valid(document: dict[str, object]) -> None:
    """Strict OpenAPI validation; a failure names the field and rule, never the values."""
    kubernetes_validate = _kubernetes_validate()
    try:
        kubernetes_validate.validate(document, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.absolute_path)
        pytest.fail(
            f"{document.get('kind')} fails {exc.validator!r} at {path or '(top)'}", pytrace=False
        )


def decode_data(document: dict[str, object]) -> dict[str, bytes]:
    """A Secret's data, base64-decoded."""
    import base64

    data = document["data"]
    assert isinstance(data, dict)
    return {key: base64.b64decode(value, validate=True) for key, value in data.items()}


def kubectl_dockerconfigjson(server: str, username: str, password: str) -> bytes:
    """What `kubectl create secret docker-registry` writes: the byte oracle."""
    import base64
    import json

    kubectl = require_tool(
        "kubectl", "kubectl is on the machine image; install it from your distribution"
    )
    proc = subprocess.run(
        [
            kubectl,
            "create",
            "secret",
            "docker-registry",
            "oracle",
            f"--docker-server={server}",
            f"--docker-username={username}",
            f"--docker-password={password}",
            "--dry-run=client",
            "-o",
            "json",
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        # kubectl's stderr never echoes the password for this command, but keep it out anyway.
        pytest.fail(f"kubectl create secret failed with exit code {proc.returncode}", pytrace=False)
    return base64.b64decode(json.loads(proc.stdout)["data"][".dockerconfigjson"])


def openssl_ca(key: Path, cert: Path, common_name: str = "gen-secret test CA") -> bytes:
    """A real self-signed CA certificate (EC P-256) made by the openssl CLI; its PEM bytes."""
    openssl = require_tool("openssl", "apt-get install openssl")
    key.parent.mkdir(parents=True, exist_ok=True)
    cert.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
            "-subj", f"/CN={common_name}",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert.read_bytes()


def self_signed_certificate(key: Any, signer: Any, not_after: datetime.datetime) -> bytes:
    """A self-signed PEM certificate for public `key`, signed by `signer` (its private half),
    as `kubeseal --fetch-cert` hands one out."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sealed-secret")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(min(now, not_after) - datetime.timedelta(days=30))
        .not_valid_after(not_after)
        .sign(signer, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)
