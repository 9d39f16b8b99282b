"""End-to-end plumbing: a CA, a real registry process, a hand-built OCI image, skopeo, redaction."""

from __future__ import annotations

import base64
import contextlib
import ctypes
import errno
import gzip
import hashlib
import io
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import REQUIRE_TOOLS, require_tool

E2E_PACKAGES = "docker-registry skopeo apache2-utils openssl"
INSTALL_HINT = f"apt-get install {E2E_PACKAGES} (or `make e2e-deps` as root)"
TOOL_TIMEOUT = 30  # seconds for any one tool run; a hung tool fails the test, never the session
READY_TIMEOUT = 15  # seconds for the registry to answer /v2/
STOP_TIMEOUT = 5  # seconds for the registry to exit after SIGTERM, then again after SIGKILL
REDACTED = "<redacted>"
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Tools:
    """Absolute paths of the external programs the end-to-end tests drive."""

    registry: str
    skopeo: str
    htpasswd: str
    openssl: str


def require_tools() -> Tools:
    """All four tools, or one skip (a failure in CI) naming the Debian packages."""
    return Tools(
        registry=require_tool("docker-registry", INSTALL_HINT),
        skopeo=require_tool("skopeo", INSTALL_HINT),
        htpasswd=require_tool("htpasswd", INSTALL_HINT),
        openssl=require_tool("openssl", INSTALL_HINT),
    )


def skip_or_fail(message: str) -> None:
    """Skip locally; in CI (GEN_SECRET_REQUIRE_TOOLS=1) a missing precondition is a failure."""
    if REQUIRE_TOOLS:
        pytest.fail(f"{message} (GEN_SECRET_REQUIRE_TOOLS=1 turns this skip into a failure)")
    pytest.skip(message)


@dataclass(frozen=True)
class Login:
    """A registry user. pytest prints the arguments of failing frames: the password stays out."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Redactor:
    """Strips every form of some passwords from text.

    The forms: raw; JSON- and Go-escaped, twice over (logrus quotes a message that already
    quotes an image reference); base64 of the password and of `username:password`.
    """

    forms: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def of(cls, logins: Iterable[Login]) -> Redactor:
        forms: set[str] = set()
        for login in logins:
            found = {login.password}
            for _ in range(2):
                found |= {escaped for text in found for escaped in _escapes(text)}
            found |= {
                base64.b64encode(login.password.encode()).decode(),
                base64.b64encode(f"{login.username}:{login.password}".encode()).decode(),
            }
            forms |= found
        # Longest first, so no fragment of a longer form survives a shorter one's replacement.
        return cls(tuple(sorted((f for f in forms if f), key=len, reverse=True)))

    def __call__(self, text: str) -> str:
        for form in self.forms:
            text = text.replace(form, REDACTED)
        return text


_GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def _escapes(text: str) -> set[str]:
    quoted = {json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}
    return quoted | {q.translate(_GO_ESCAPES) for q in quoted}


NOTHING_SECRET = Redactor()


@dataclass(frozen=True)
class Outcome:
    """A finished tool run; `err` is already redacted and safe to print."""

    code: int
    out: str
    err: str


def run_tool(
    argv: list[str],
    *,
    stdin: bytes = b"",
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    redact: Redactor = NOTHING_SECRET,
) -> Outcome:
    """Run a tool with a timeout; its stderr comes back redacted.

    Every way the run can go wrong becomes a failure without a traceback, since a traceback
    would print this frame's arguments, and `stdin` may hold a password.
    """
    name = Path(argv[0]).name
    try:
        proc = subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            cwd=cwd,
            env=None if env is None else dict(env),
            timeout=TOOL_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name} did not finish within {TOOL_TIMEOUT}s", pytrace=False)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        pytest.fail(f"{name} could not run: {type(exc).__name__}", pytrace=False)
    err = redact(proc.stderr.decode(errors="replace"))
    return Outcome(proc.returncode, proc.stdout.decode(errors="replace"), err)


def checked(outcome: Outcome, what: str) -> Outcome:
    """The outcome of a step that must succeed; otherwise a failure with exit code and stderr."""
    if outcome.code != 0:
        pytest.fail(f"{what} failed with exit code {outcome.code}:\n{outcome.err}", pytrace=False)
    return outcome


# --- PKI -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ca:
    """A throw-away certificate authority on disk."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class ServerCert:
    cert: Path
    key: Path


def _ec_key_args() -> list[str]:
    # P-256 keys: generated in milliseconds, and Go's TLS stack accepts them.
    return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def make_ca(openssl: str, folder: Path) -> Ca:
    """A self-signed CA certificate and key, valid for two days."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = Ca(folder / "ca.pem", folder / "ca.key")
    checked(
        run_tool(
            [
                openssl,
                "req",
                "-x509",
                *_ec_key_args(),
                "-keyout",
                str(ca.key),
                "-out",
                str(ca.cert),
                "-days",
                "2",
                "-subj",
                "/CN=gen-secret e2e CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ]
        ),
        "openssl req (CA)",
    )
    return ca


def issue_server_cert(openssl: str, ca: Ca, folder: Path, ips: Iterable[str]) -> ServerCert:
    """A server certificate signed by `ca` whose only names are the given IP addresses."""
    folder.mkdir(parents=True, exist_ok=True)
    server = ServerCert(folder / "server.pem", folder / "server.key")
    csr = folder / "server.csr"
    extensions = folder / "server.ext"
    san = ",".join(f"IP:{ip}" for ip in ips)
    extensions.write_text(
        f"subjectAltName={san}\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
    )
    checked(
        run_tool(
            [
                openssl,
                "req",
                "-new",
                *_ec_key_args(),
                "-keyout",
                str(server.key),
                "-out",
                str(csr),
                "-subj",
                "/CN=gen-secret e2e registry",
            ]
        ),
        "openssl req (server)",
    )
    checked(
        run_tool(
            [
                openssl,
                "x509",
                "-req",
                "-in",
                str(csr),
                "-CA",
                str(ca.cert),
                "-CAkey",
                str(ca.key),
                "-set_serial",
                str(secrets.randbits(63)),
                "-days",
                "2",
                "-extfile",
                str(extensions),
                "-out",
                str(server.cert),
            ]
        ),
        "openssl x509 (sign server certificate)",
    )
    return server


def write_htpasswd(htpasswd: str, path: Path, logins: Iterable[Login]) -> None:
    """A bcrypt htpasswd file; passwords go through stdin, never the command line."""
    for i, login in enumerate(logins):
        create = ["-c"] if i == 0 else []
        checked(
            run_tool(
                [htpasswd, "-B", "-i", *create, str(path), login.username],
                stdin=login.password.encode() + b"\n",
                redact=Redactor.of([login]),
            ),
            "htpasswd -B",
        )


# --- the registry process ------------------------------------------------------------------


@dataclass(frozen=True)
class Registry:
    """A running docker-registry (distribution) with TLS and htpasswd auth."""

    host: str
    port: int
    process: subprocess.Popen[bytes] = field(repr=False)
    log: Path

    @property
    def reference_host(self) -> str:
        """How an image reference names this registry: the port is implicit when it is 443."""
        return self.host if self.port == 443 else f"{self.host}:{self.port}"


def free_port(host: str) -> int:
    """A port on `host` that nothing listens on right now (the registry binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    """True when `host:port` can be bound now; PermissionError means no right to bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def _registry_config(
    folder: Path, host: str, port: int, cert: ServerCert, htpasswd_file: Path
) -> Path:
    config = {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(folder / "storage")}},
        "http": {
            "addr": f"{host}:{port}",
            "secret": secrets.token_hex(16),
            "tls": {"certificate": str(cert.cert), "key": str(cert.key)},
        },
        "auth": {"htpasswd": {"realm": "gen-secret-e2e", "path": str(htpasswd_file)}},
        "health": {"storagedriver": {"enabled": False}},
    }
    path = folder / "config.yml"
    # JSON is YAML: no dependency on how PyYAML would quote these values.
    path.write_text(json.dumps(config, indent=2))
    return path


def _die_with_parent() -> None:  # runs in the child, between fork and exec
    # If pytest itself is killed, the kernel stops the registry too: no orphan holds the port.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _log_tail(log: Path, lines: int = 15) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _wait_ready(process: subprocess.Popen[bytes], url: str, ca: Ca, log: Path) -> str | None:
    """Poll `/v2/` until it answers 401 over verified TLS: None then, or why the process exited.

    A registry that neither answers nor exits within READY_TIMEOUT fails the test.
    """
    context = ssl.create_default_context(cafile=str(ca.cert))
    deadline = time.monotonic() + READY_TIMEOUT
    last = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"docker-registry exited with code {process.returncode}:\n{_log_tail(log)}"
        try:
            with urllib.request.urlopen(url, context=context, timeout=2):  # noqa: S310
                last = "answered 200 without credentials: auth is not on"
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                return None
            last = f"answered HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = f"not reachable ({type(exc).__name__})"
        time.sleep(0.05)
    pytest.fail(
        f"registry at {url} not ready within {READY_TIMEOUT}s: {last}\n{_log_tail(log)}",
        pytrace=False,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, a bounded wait, then SIGKILL and another bounded wait; always by PID."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


@contextlib.contextmanager
def running_registry(
    binary: str,
    folder: Path,
    addresses: Iterable[tuple[str, int]],
    ca: Ca,
    cert: ServerCert,
    htpasswd_file: Path,
) -> Iterator[Registry]:
    """Start `docker-registry serve` on the first address that binds; stop it whatever happens.

    Another process may take a free port between our probe and the registry's bind (the
    machine is shared), so an address that turns out to be in use moves on to the next one.
    """
    folder.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(folder)}
    taken: list[str] = []
    for host, port in addresses:
        config = _registry_config(folder, host, port, cert, htpasswd_file)
        log = folder / f"registry-{host}-{port}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [binary, "serve", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=_die_with_parent,
            )
        try:
            exited = _wait_ready(process, f"https://{host}:{port}/v2/", ca, log)
            if exited is not None:
                if "address already in use" not in exited:
                    pytest.fail(exited, pytrace=False)
                taken.append(f"{host}:{port}")
                continue
            yield Registry(host, port, process, log)
            return
        finally:
            stop(process)
    pytest.fail(f"docker-registry found every address in use: {', '.join(taken)}", pytrace=False)


# --- a small OCI image, built by hand ------------------------------------------------------

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass(frozen=True)
class OciImage:
    """An OCI image layout on disk and the digest of its one manifest."""

    layout: Path
    tag: str
    manifest_digest: str

    @property
    def reference(self) -> str:
        return f"oci:{self.layout}:{self.tag}"


def _blob(layout: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def build_oci_image(layout: Path, tag: str, message: str) -> OciImage:
    """One gzipped layer holding /hello.txt, its config, manifest and index.json."""
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    content = message.encode()
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(content)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(content))
    uncompressed = tar_bytes.getvalue()
    layer = {"mediaType": OCI_LAYER, **_blob(layout, gzip.compress(uncompressed, mtime=0))}
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {
            "type": "layers",
            "diff_ids": [f"sha256:{hashlib.sha256(uncompressed).hexdigest()}"],
        },
    }
    config_descriptor = {"mediaType": OCI_CONFIG, **_blob(layout, _canonical(config))}
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config_descriptor,
        "layers": [layer],
    }
    manifest_descriptor = {"mediaType": OCI_MANIFEST, **_blob(layout, _canonical(manifest))}
    index = {
        "schemaVersion": 2,
        "manifests": [
            {**manifest_descriptor, "annotations": {"org.opencontainers.image.ref.name": tag}}
        ],
    }
    (layout / "index.json").write_bytes(_canonical(index))
    (layout / "oci-layout").write_bytes(_canonical({"imageLayoutVersion": "1.0.0"}))
    return OciImage(layout, tag, str(manifest_descriptor["digest"]))


# --- skopeo ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Skopeo:
    """skopeo in a sealed-off environment: only the auth file and cert dir we hand it count."""

    binary: str
    home: Path
    redact: Redactor

    def env(self) -> dict[str, str]:
        # No user's auth.json, registries.conf, policy or proxy may change the outcome.
        self.home.mkdir(parents=True, exist_ok=True)
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "XDG_RUNTIME_DIR": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "TMPDIR": str(self.home),
            "CONTAINERS_REGISTRIES_CONF": str(self._file("registries.conf", "")),
        }

    def _file(self, name: str, text: str) -> Path:
        path = self.home / name
        if not path.exists():
            path.write_text(text)
        return path

    def policy(self) -> Path:
        return self._file(
            "policy.json", json.dumps({"default": [{"type": "insecureAcceptAnything"}]})
        )

    def copy(self, image: OciImage, dest: str, authfile: Path, cert_dir: Path | None) -> Outcome:
        """`skopeo copy oci:... docker://dest`, authenticating with `authfile` only."""
        args = ["--dest-authfile", str(authfile)]
        if cert_dir is not None:
            args += ["--dest-cert-dir", str(cert_dir)]
        return self._run(["copy", "--quiet", *args, image.reference, f"docker://{dest}"])

    def inspect(self, ref: str, authfile: Path, cert_dir: Path | None, *, raw: bool) -> Outcome:
        """`skopeo inspect docker://ref`; with `raw`, only the manifest as the registry has it."""
        args = ["--authfile", str(authfile)]
        if cert_dir is not None:
            args += ["--cert-dir", str(cert_dir)]
        if raw:
            args.append("--raw")
        return self._run(["inspect", *args, f"docker://{ref}"])

    def _run(self, args: list[str]) -> Outcome:
        env = self.env()
        argv = [self.binary, "--policy", str(self.policy()), *args]
        return run_tool(argv, env=env, cwd=self.home, redact=self.redact)
