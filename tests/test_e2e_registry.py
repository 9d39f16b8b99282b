"""The rendered Secret against a real registry (distribution, TLS + htpasswd) and a real client."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.conftest import decode_data, run_script
from tests.e2e_support import (
    REDACTED,
    Ca,
    Login,
    OciImage,
    Outcome,
    Redactor,
    Registry,
    ServerCert,
    Skopeo,
    Tools,
    build_oci_image,
    checked,
    free_port,
    issue_server_cert,
    make_ca,
    port_is_free,
    require_tools,
    running_registry,
    skip_or_fail,
    write_htpasswd,
)

pytestmark = pytest.mark.e2e

HOST = "127.0.0.1"
# Loopback addresses a registry on port 443 may take; the first free one is used.
HOSTS_443 = ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")

# Passwords are fresh per run: nothing in the repository or an old log can match them.
GOOD = Login("e2e-sealer", f"e2e-{secrets.token_urlsafe(12)}")
WRONG = Login(GOOD.username, f"wrong-{secrets.token_urlsafe(12)}")
# Every character that JSON, YAML, Go's encoder, base64 or Basic auth could get wrong, within
# bcrypt's 72 bytes; the username is non-ASCII too.
SPECIAL = Login("e2e-spécial", f"q\"uo'te:colon&amp<lt>\\ ü日本€ {secrets.token_hex(4)}")
# A password rotation: one user, its old password and its new one, never both at the registry.
ROTATE_OLD = Login("e2e-rotate", f"old-{secrets.token_urlsafe(12)}")
ROTATE_NEW = Login(ROTATE_OLD.username, f"new-{secrets.token_urlsafe(12)}")
REDACT = Redactor.of([GOOD, WRONG, SPECIAL, ROTATE_OLD, ROTATE_NEW])
# skopeo's words for the registry's 401 (distribution's UNAUTHORIZED error code).
REFUSED = re.compile(r"\bunauthorized\b", re.IGNORECASE)


@dataclass(frozen=True)
class Pki:
    ca: Ca
    server: ServerCert


@dataclass(frozen=True)
class Rendered:
    """A rendered Secret, laid out the way skopeo reads it."""

    authfile: Path
    cert_dir: Path
    auths: dict[str, dict[str, str]] = field(repr=False)


@pytest.fixture(scope="module")
def tools() -> Tools:
    return require_tools()


@pytest.fixture(scope="module")
def pki(tools: Tools, tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca = make_ca(tools.openssl, folder)
    return Pki(ca, issue_server_cert(tools.openssl, ca, folder, HOSTS_443))


@pytest.fixture(scope="module")
def htpasswd_file(tools: Tools, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("auth") / "htpasswd"
    write_htpasswd(tools.htpasswd, path, [GOOD, SPECIAL])
    return path


@pytest.fixture(scope="module")
def registry(
    tools: Tools, pki: Pki, htpasswd_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    addresses = ((HOST, free_port(HOST)) for _ in range(3))
    folder = tmp_path_factory.mktemp("registry")
    with running_registry(
        tools.registry, folder, addresses, pki.ca, pki.server, htpasswd_file
    ) as running:
        yield running


@pytest.fixture(scope="module")
def skopeo(tools: Tools, tmp_path_factory: pytest.TempPathFactory) -> Skopeo:
    return Skopeo(tools.skopeo, tmp_path_factory.mktemp("skopeo-home"), REDACT)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> OciImage:
    return build_oci_image(tmp_path_factory.mktemp("oci"), "v1", "hello from gen-secret e2e\n")


@pytest.fixture(scope="module")
def good(registry: Registry, pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """The Secret for the registry with the right credentials."""
    return render(tmp_path_factory.mktemp("good"), pki, local_registry(registry, GOOD))


@dataclass(frozen=True)
class RegistrySpec:
    """`spec.registry` of a Clusterfile; its repr leaves out the password (Login's does)."""

    role: str
    host: str
    port: int | None
    login: Login | None

    def section(self) -> dict[str, object]:
        fields: dict[str, object] = {"domain": self.host}
        if self.port is not None:
            fields["port"] = self.port
        if self.login is not None:
            fields |= {"username": self.login.username, "password": self.login.password}
        return {f"{self.role}Registry": fields}


def local_registry(registry: Registry, login: Login | None) -> RegistrySpec:
    return RegistrySpec("local", registry.host, registry.port, login)


def render(folder: Path, pki: Pki, spec: RegistrySpec, *extra: str) -> Rendered:
    """Write a Clusterfile, run the installed `gen-secret render`, unpack the Secret for skopeo."""
    clusterfile = folder / "Clusterfile"
    document = {
        "apiVersion": "sealer.io/v2",
        "kind": "Cluster",
        "metadata": {"name": "e2e"},
        "spec": {"registry": spec.section()},
    }
    clusterfile.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    result = run_script(
        "render", "--ca-file", str(pki.ca.cert), str(clusterfile), *extra, cwd=folder
    )
    if result.code != 0:
        message = f"gen-secret render failed with exit code {result.code}:\n{REDACT(result.err)}"
        pytest.fail(message, pytrace=False)
    try:
        documents = [d for d in yaml.safe_load_all(result.out) if d]
    except yaml.YAMLError:
        # Never let the parser quote the output: it holds the credentials.
        pytest.fail("gen-secret render printed something that is not YAML", pytrace=False)
    pull_secrets = [
        d
        for d in documents
        if d.get("kind") == "Secret" and d.get("type") == "kubernetes.io/dockerconfigjson"
    ]
    if len(pull_secrets) != 1:
        pytest.fail("gen-secret render did not print one dockerconfigjson Secret", pytrace=False)
    try:
        data = decode_data(pull_secrets[0])
    except (KeyError, AssertionError, ValueError):
        # decode_data's traceback would print the whole Secret.
        pytest.fail("the Secret's data is not a mapping of base64 values", pytrace=False)
    if ".dockerconfigjson" not in data or "ca.crt" not in data:
        pytest.fail("the Secret lacks .dockerconfigjson or ca.crt", pytrace=False)
    authfile = folder / "auth.json"
    authfile.touch(mode=0o600)
    authfile.write_bytes(data[".dockerconfigjson"])
    cert_dir = folder / "certs"
    cert_dir.mkdir()
    (cert_dir / "ca.crt").write_bytes(data["ca.crt"])
    return Rendered(authfile, cert_dir, _auths(authfile))


def _auths(authfile: Path) -> dict[str, dict[str, str]]:
    # Lenient on purpose: whether a broken file works is for skopeo to say, not for this parser.
    try:
        auths = json.loads(authfile.read_bytes()).get("auths")
    except (ValueError, AttributeError):
        return {}
    return auths if isinstance(auths, dict) else {}


def pushed_and_inspected(
    skopeo: Skopeo, image: OciImage, dest: str, rendered: Rendered
) -> dict[str, object]:
    """Push `image` to `dest` and read it back, both with the rendered Secret only."""
    checked(
        skopeo.copy(image, dest, rendered.authfile, rendered.cert_dir), f"skopeo copy to {dest}"
    )
    outcome = checked(
        skopeo.inspect(dest, rendered.authfile, rendered.cert_dir, raw=False),
        f"skopeo inspect {dest}",
    )
    info: dict[str, object] = json.loads(outcome.out)
    return info


def assert_refused(outcome: Outcome, what: str) -> None:
    """The registry said 401: not a TLS problem, not a network problem, not a success."""
    if outcome.code == 0:
        pytest.fail(f"{what}: the registry accepted it", pytrace=False)
    if not REFUSED.search(outcome.err):
        pytest.fail(
            f"{what}: failed (exit code {outcome.code}) but not with 401 unauthorized:\n"
            f"{outcome.err}",
            pytrace=False,
        )


def assert_not_pushed(skopeo: Skopeo, dest: str, good: Rendered) -> None:
    """With the right credentials the tag is absent: the refused push left nothing behind."""
    outcome = skopeo.inspect(dest, good.authfile, good.cert_dir, raw=True)
    if outcome.code == 0:
        pytest.fail(f"{dest} exists although its push was refused", pytrace=False)
    if "manifest unknown" not in outcome.err:
        pytest.fail(f"inspect {dest}: unexpected error:\n{outcome.err}", pytrace=False)


def assert_digest(info: dict[str, object], image: OciImage) -> None:
    if info.get("Digest") != image.manifest_digest:
        pytest.fail(
            f"the registry holds manifest {info.get('Digest')}, not {image.manifest_digest}",
            pytrace=False,
        )


def test_skopeo_errors_come_back_redacted(skopeo: Skopeo, tmp_path: Path) -> None:
    # skopeo echoes a bad image reference in its error: put each password in one and look.
    authfile = tmp_path / "auth.json"
    authfile.write_text('{"auths": {}}')
    for login in (GOOD, SPECIAL):
        outcome = skopeo.inspect(f"127.0.0.1:1/{login.password}", authfile, None, raw=True)
        # A password's random tail survives any escaping: finding it means a form slipped by.
        leaked = login.password[-8:] in outcome.err or login.password in outcome.out
        assert not leaked, f"a password of {login.username} survived redaction"
        assert REDACTED in outcome.err, f"skopeo did not echo the reference: {outcome.err}"


def test_rendered_secret_pushes_and_inspects(
    registry: Registry, skopeo: Skopeo, image: OciImage, good: Rendered
) -> None:
    dest = f"{registry.reference_host}/e2e/app:{image.tag}"
    assert_digest(pushed_and_inspected(skopeo, image, dest, good), image)


def test_without_the_secrets_ca_tls_is_refused(
    registry: Registry, skopeo: Skopeo, image: OciImage, good: Rendered
) -> None:
    # The control for ca.crt: the same push with no cert dir must fail on the certificate.
    dest = f"{registry.reference_host}/e2e/app:no-ca"
    outcome = skopeo.copy(image, dest, good.authfile, None)
    if outcome.code == 0:
        pytest.fail("push without the CA succeeded: is TLS verification off?", pytrace=False)
    if "x509" not in outcome.err:
        pytest.fail(f"push without the CA: not a TLS error:\n{outcome.err}", pytrace=False)


def test_wrong_password_is_refused(
    registry: Registry,
    skopeo: Skopeo,
    image: OciImage,
    pki: Pki,
    good: Rendered,
    tmp_path: Path,
) -> None:
    rendered = render(tmp_path, pki, local_registry(registry, WRONG))
    dest = f"{registry.reference_host}/e2e/app:wrong-password"
    assert_refused(skopeo.copy(image, dest, rendered.authfile, rendered.cert_dir), "wrong password")
    assert_not_pushed(skopeo, dest, good)


def test_no_credentials_is_refused(
    registry: Registry,
    skopeo: Skopeo,
    image: OciImage,
    pki: Pki,
    good: Rendered,
    tmp_path: Path,
) -> None:
    rendered = render(tmp_path, pki, local_registry(registry, None))
    dest = f"{registry.reference_host}/e2e/app:anonymous"
    assert_refused(skopeo.copy(image, dest, rendered.authfile, rendered.cert_dir), "no credentials")
    assert_not_pushed(skopeo, dest, good)
    # Refused for the right reason: the registry is listed, with nothing to log in with.
    anonymous = rendered.auths == {registry.reference_host: {}}
    assert anonymous, "expected one empty auths entry for the registry"


def test_hand_written_auth_shape_is_refused(
    registry: Registry, skopeo: Skopeo, image: OciImage, good: Rendered, tmp_path: Path
) -> None:
    # The blog-post shape (FIELD-NOTES section 2), with the right credentials: no `auths` map
    # and a URL in `auth`, so clients find no login for the registry. Exact bytes matter.
    authfile = tmp_path / "auth.json"
    authfile.touch(mode=0o600)
    url = f"https://{registry.reference_host}"
    authfile.write_text(
        json.dumps({"auth": url, "username": GOOD.username, "password": GOOD.password})
    )
    dest = f"{registry.reference_host}/e2e/app:hand-written"
    assert_refused(skopeo.copy(image, dest, authfile, good.cert_dir), "hand-written auth file")
    assert_not_pushed(skopeo, dest, good)


def test_password_that_needs_escaping_works(
    registry: Registry, skopeo: Skopeo, image: OciImage, pki: Pki, tmp_path: Path
) -> None:
    rendered = render(tmp_path, pki, local_registry(registry, SPECIAL))
    # Without Go's escapes in the file this test would prove less than it claims.
    escaped = b"\\u003c" in rendered.authfile.read_bytes()
    assert escaped, "the auth file does not hold Go's \\u003c escape"
    dest = f"{registry.reference_host}/e2e/special:{image.tag}"
    assert_digest(pushed_and_inspected(skopeo, image, dest, rendered), image)


@pytest.fixture
def registry_443(tools: Tools, pki: Pki, htpasswd_file: Path, tmp_path: Path) -> Iterator[Registry]:
    """A second registry on port 443 of a loopback address, for a key without a port."""
    try:
        free = [host for host in HOSTS_443 if port_is_free(host, 443)]
    except PermissionError:
        skip_or_fail("binding port 443 needs root (or CAP_NET_BIND_SERVICE); CI runs as root")
    if not free:
        skip_or_fail(f"port 443 is in use on every one of {', '.join(HOSTS_443)}")
    addresses = ((host, 443) for host in free)
    with running_registry(
        tools.registry, tmp_path / "registry", addresses, pki.ca, pki.server, htpasswd_file
    ) as running:
        yield running


def test_external_registry_without_port_is_served_on_443(
    registry_443: Registry, skopeo: Skopeo, image: OciImage, pki: Pki, tmp_path: Path
) -> None:
    spec = RegistrySpec("external", registry_443.host, None, GOOD)
    rendered = render(tmp_path, pki, spec)
    # No port in the reference: skopeo, like the kubelet, goes to 443 and matches the bare key.
    dest = f"{registry_443.host}/e2e/external:{image.tag}"
    assert_digest(pushed_and_inspected(skopeo, image, dest, rendered), image)
    bare = list(rendered.auths) == [registry_443.host]
    assert bare, "the auths key is not the bare domain"


def one_entry(rendered: Rendered, key: str, folder: Path) -> Path:
    """An auth file holding only the rendered entry for `key`.

    skopeo, unlike the kubelet, uses one entry per registry; one file per entry lets the
    registry judge each login on its own.
    """
    if key not in rendered.auths:
        pytest.fail(f"the rendered Secret has no auths key {key}", pytrace=False)
    path = folder / f"auth-{len(list(folder.glob('auth-*')))}.json"
    path.touch(mode=0o600)
    path.write_text(json.dumps({"auths": {key: rendered.auths[key]}}))
    return path


def test_rotation_both_logins_work_one_password_at_a_time(
    tools: Tools, pki: Pki, skopeo: Skopeo, image: OciImage, tmp_path: Path
) -> None:
    # The Secret during the move: the new password, and the old one under https://<registry>.
    port = free_port(HOST)
    previous = tmp_path / "previous-password"
    previous.touch(mode=0o600)
    previous.write_text(ROTATE_OLD.password + "\n")
    spec = RegistrySpec("local", HOST, port, ROTATE_NEW)
    rendered = render(tmp_path, pki, spec, "--previous-password-file", str(previous))
    host = f"{HOST}:{port}"
    keys = sorted(rendered.auths) == sorted([host, f"https://{host}"])
    assert keys, "expected the registry's key and its https:// twin"
    new_only = one_entry(rendered, host, tmp_path)
    old_only = one_entry(rendered, f"https://{host}", tmp_path)
    # The registry knows one password at a time, as htpasswd holds one line per user; sealer's
    # registry (distribution 2.8) reads that file when it starts.
    for phase, (login, works, refused) in enumerate(
        [(ROTATE_OLD, old_only, new_only), (ROTATE_NEW, new_only, old_only)]
    ):
        users = tmp_path / f"htpasswd-{phase}"
        write_htpasswd(tools.htpasswd, users, [login])
        folder = tmp_path / f"registry-{phase}"
        with running_registry(
            tools.registry, folder, [(HOST, port)], pki.ca, pki.server, users
        ) as registry:
            dest = f"{registry.reference_host}/e2e/rotation:phase-{phase}"
            outcome = skopeo.copy(image, dest, works, rendered.cert_dir)
            checked(outcome, f"push with the {'old' if phase == 0 else 'new'} password's entry")
            assert_refused(
                skopeo.copy(image, dest + "-refused", refused, rendered.cert_dir),
                f"the {'new' if phase == 0 else 'old'} password's entry, phase {phase}",
            )
