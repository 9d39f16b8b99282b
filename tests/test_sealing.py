"""SealedSecrets, unsealed here as the controller does it and compared with the plain render."""

from __future__ import annotations

import base64
import datetime
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from generator.app.pipeline import Request, Result, run
from tests.builders import as_bytes, clusterfile_document
from tests.conftest import (
    ROOT,
    Cli,
    assert_valid,
    decode_data,
    require_tool,
    self_signed_certificate,
)

USERNAME = "seal-bot"
PASSWORD = "s3aled:Pässwörd<&>#1"
SCOPES = ["strict", "namespace-wide", "cluster-wide"]
FANOUT = {"pull_namespaces": ("team-a", "team-b"), "service_accounts": ("default", "builder")}
DAY = datetime.timedelta(days=1)

# --- keys and certificates made here, as `kubeseal --fetch-cert` would hand them out ----------


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def cert_file(private_key: rsa.RSAPrivateKey, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cert") / "cert.pem"
    now = datetime.datetime.now(datetime.UTC)
    path.write_bytes(
        self_signed_certificate(private_key.public_key(), private_key, now + 3650 * DAY)
    )
    return path


def clusterfile(name: str = "sealed") -> bytes:
    return as_bytes(clusterfile_document("sea.hub", 5000, USERNAME, PASSWORD, name=name))


def render(tmp_path: Path, **request: Any) -> Result:
    return run(clusterfile(), "Clusterfile", Request(ca_root=tmp_path, **request, **FANOUT))


def documents(result: Result) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(result.stream))


# --- the controller's side, written from its algorithm, not from generator.sealing ----------


def controller_label(sealed: dict[str, Any]) -> bytes:
    """The label the controller derives from the SealedSecret's own metadata."""
    metadata = sealed["metadata"]
    annotations = metadata.get("annotations", {})
    if annotations.get("sealedsecrets.bitnami.com/cluster-wide") == "true":
        return b""
    if annotations.get("sealedsecrets.bitnami.com/namespace-wide") == "true":
        return metadata["namespace"].encode()
    return f"{metadata['namespace']}/{metadata['name']}".encode()


def hybrid_decrypt(key: rsa.RSAPrivateKey, label: bytes, blob: bytes) -> bytes:
    """Length of the RSA part (2 bytes, big-endian), RSA-OAEP(SHA-256) session key, AES-GCM."""
    size = int.from_bytes(blob[:2], "big")
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label)
    session_key = key.decrypt(blob[2 : 2 + size], oaep)
    return AESGCM(session_key).decrypt(bytes(12), blob[2 + size :], None)


def unseal(sealed: dict[str, Any], key: rsa.RSAPrivateKey) -> dict[str, Any]:
    """The Secret the controller makes: template metadata and type, name and namespace from the
    SealedSecret, every value decrypted with the label its metadata asks for."""
    label = controller_label(sealed)
    template = sealed["spec"]["template"]
    metadata = {
        **template["metadata"],
        "name": sealed["metadata"]["name"],
        "namespace": sealed["metadata"]["namespace"],
    }
    data = {
        k: base64.b64encode(hybrid_decrypt(key, label, base64.b64decode(v, validate=True)))
        for k, v in sealed["spec"]["encryptedData"].items()
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": template["type"],
        "data": {k: v.decode("ascii") for k, v in data.items()},
    }


def without_scope(secret: dict[str, Any]) -> dict[str, Any]:
    """A Secret minus the scope annotation (kubeseal, too, leaves it on the unsealed Secret)."""
    metadata = dict(secret["metadata"])
    annotations = {
        k: v
        for k, v in metadata.pop("annotations", {}).items()
        if not k.startswith("sealedsecrets.bitnami.com/")
    }
    if annotations:
        metadata["annotations"] = annotations
    return {**secret, "metadata": metadata}


# --- round trip --------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", SCOPES)
def test_controller_unseals_every_secret_to_the_plain_render(
    scope: str, private_key: rsa.RSAPrivateKey, cert_file: Path, tmp_path: Path
) -> None:
    plain = documents(render(tmp_path))
    sealed = documents(render(tmp_path, seal_cert=cert_file, seal_scope=scope))
    assert [d["kind"] for d in plain].count("Secret") == 3  # the main Secret and two pull copies
    assert len(sealed) == len(plain)
    for want, got in zip(plain, sealed, strict=True):
        if want["kind"] != "Secret":
            assert got == want, f"{want['kind']} changed by sealing"
            continue
        assert got["kind"] == "SealedSecret"
        secret = unseal(got, private_key)
        assert_valid(secret)
        assert decode_data(secret) == decode_data(want), "unsealed bytes differ from the plain data"
        assert without_scope(secret) == want, "unsealed Secret differs from the plain render"
        if scope == "strict":
            assert secret == want, "a strict SealedSecret must unseal to exactly the plain Secret"


def test_wrong_label_does_not_decrypt(
    private_key: rsa.RSAPrivateKey, cert_file: Path, tmp_path: Path
) -> None:
    (sealed, *_) = documents(render(tmp_path, seal_cert=cert_file))
    blob = base64.b64decode(sealed["spec"]["encryptedData"]["password"])
    plain = hybrid_decrypt(private_key, b"kube-system/sealer-registry", blob)
    assert plain == PASSWORD.encode(), "the right label does not give the password back"
    for label in (b"kube-system", b"", b"default/sealer-registry", b"kube-system/other"):
        with pytest.raises(ValueError, match="Decryption failed"):
            hybrid_decrypt(private_key, label, blob)


@pytest.mark.parametrize(
    ("scope", "moved_ok", "renamed_ok"),
    [("strict", False, False), ("namespace-wide", False, True), ("cluster-wide", True, True)],
)
def test_scope_decides_where_it_unseals(
    scope: str,
    moved_ok: bool,
    renamed_ok: bool,
    private_key: rsa.RSAPrivateKey,
    cert_file: Path,
    tmp_path: Path,
) -> None:
    (sealed, *_) = documents(render(tmp_path, seal_cert=cert_file, seal_scope=scope))
    unseal(sealed, private_key)  # where it was sealed for, it always unseals
    for field, value, ok in (("namespace", "elsewhere", moved_ok), ("name", "renamed", renamed_ok)):
        copy = {**sealed, "metadata": {**sealed["metadata"], field: value}}
        if ok:
            unseal(copy, private_key)
        else:
            with pytest.raises(ValueError, match="Decryption failed"):
                unseal(copy, private_key)


def test_openssl_unwraps_the_session_key(
    private_key: rsa.RSAPrivateKey, cert_file: Path, tmp_path: Path
) -> None:
    """A second RSA-OAEP implementation, so the label handling is not one library's view."""
    openssl = require_tool("openssl", "apt-get install openssl")
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (sealed, *_) = documents(render(tmp_path, seal_cert=cert_file))
    blob = base64.b64decode(sealed["spec"]["encryptedData"]["password"])
    size = int.from_bytes(blob[:2], "big")
    assert size == private_key.key_size // 8
    proc = subprocess.run(
        [
            openssl,
            "pkeyutl",
            "-decrypt",
            "-inkey",
            str(key_file),
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
            "-pkeyopt",
            f"rsa_oaep_label:{b'kube-system/sealer-registry'.hex()}",
        ],
        input=blob[2 : 2 + size],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, "openssl could not unwrap the session key"
    assert len(proc.stdout) == 32, "the session key is not an AES-256 key"
    # GCM with an all-zero nonce and no additional data, as the controller opens it.
    plaintext = AESGCM(proc.stdout).decrypt(bytes(12), blob[2 + size :], None)
    assert plaintext == PASSWORD.encode(), "openssl's session key does not open the value"


def test_every_value_gets_its_own_session_key(
    private_key: rsa.RSAPrivateKey, cert_file: Path, tmp_path: Path
) -> None:
    oaep = padding.OAEP(
        mgf=padding.MGF1(hashes.SHA256()),
        algorithm=hashes.SHA256(),
        label=b"kube-system/sealer-registry",
    )
    session_keys, gcm_parts = [], []
    for _ in range(2):
        sealed = documents(render(tmp_path, seal_cert=cert_file))[0]
        for value in sealed["spec"]["encryptedData"].values():
            blob = base64.b64decode(value)
            size = int.from_bytes(blob[:2], "big")
            session_keys.append(private_key.decrypt(blob[2 : 2 + size], oaep))
            gcm_parts.append(blob[2 + size :])
    assert len(set(session_keys)) == len(session_keys), "a session key was used twice"
    assert len(set(gcm_parts)) == len(gcm_parts)


def test_a_secret_left_unsealed_is_an_error(cert_file: Path, tmp_path: Path) -> None:
    """Should the context grow a Secret kind that sealing does not know, nothing is written."""
    from dataclasses import replace

    from generator.errors import GenSecretError
    from generator.plan.objects import OutputFile
    from generator.render.sealing import load_cert, seal_context

    class OtherSecret:
        TEMPLATE = "other.yaml.j2"

        def expected(self) -> dict[str, Any]:
            return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}

    context = render(tmp_path).context
    grown = replace(context, files=(*context.files, OutputFile("other.yaml", (OtherSecret(),))))
    cert = load_cert(cert_file)
    seal_context(context, cert, "strict")
    with pytest.raises(GenSecretError, match="would be written unsealed"):
        seal_context(grown, cert, "strict")


# --- structure ------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", SCOPES)
def test_sealed_secret_structure(scope: str, cert_file: Path, tmp_path: Path) -> None:
    plain = [d for d in documents(render(tmp_path)) if d["kind"] == "Secret"]
    sealed = [
        d
        for d in documents(render(tmp_path, seal_cert=cert_file, seal_scope=scope))
        if d["kind"] == "SealedSecret"
    ]
    annotations = {} if scope == "strict" else {f"sealedsecrets.bitnami.com/{scope}": "true"}
    assert len(sealed) == len(plain)
    for want, got in zip(plain, sealed, strict=True):
        assert set(got) == {"apiVersion", "kind", "metadata", "spec"}
        assert (got["apiVersion"], got["kind"]) == ("bitnami.com/v1alpha1", "SealedSecret")
        assert set(got["spec"]) == {"template", "encryptedData"}
        template = got["spec"]["template"]
        assert set(template) == {"metadata", "type"}
        assert template["type"] == want["type"]
        metadata = {**want["metadata"], **({"annotations": annotations} if annotations else {})}
        assert got["metadata"] == metadata
        assert template["metadata"] == metadata
        assert sorted(got["spec"]["encryptedData"]) == sorted(want["data"])
        assert list(got["spec"]["encryptedData"]) == sorted(want["data"]), "keys not sorted"
        for value in got["spec"]["encryptedData"].values():
            assert isinstance(value, str)
            assert base64.b64encode(base64.b64decode(value, validate=True)).decode() == value
        # kubernetes-validate has no SealedSecret schema: check the metadata as a Secret's.
        assert_valid({"apiVersion": "v1", "kind": "Secret", "metadata": got["metadata"]})


def test_everything_but_the_ciphertext_is_byte_stable(cert_file: Path, tmp_path: Path) -> None:
    plain = render(tmp_path)
    first = render(tmp_path, seal_cert=cert_file, seal_scope="namespace-wide")
    second = render(tmp_path, seal_cert=cert_file, seal_scope="namespace-wide")
    assert first.files.keys() == second.files.keys() == plain.files.keys()
    value = re.compile(r"^(    \S+: )[A-Za-z0-9+/=]{300,}$", re.MULTILINE)
    for name in first.files:
        a, b = first.files[name], second.files[name]
        if "kind: SealedSecret" in a:
            assert a != b, f"{name}: a fresh session key must change the ciphertext"
        assert value.sub(r"\1…", a) == value.sub(r"\1…", b), f"{name} differs beyond ciphertext"
        if "kind: Secret\n" not in plain.files[name]:
            assert a == plain.files[name], f"{name} holds no Secret, so sealing must not touch it"


def test_kustomize_builds_the_sealed_folder(cli: Cli, cert_file: Path, tmp_path: Path) -> None:
    kubectl = require_tool("kubectl", "kubectl is on the machine image")
    (tmp_path / "Clusterfile").write_bytes(clusterfile())
    out = tmp_path / "out"
    result = cli(
        "render",
        str(tmp_path / "Clusterfile"),
        "--seal-cert",
        str(cert_file),
        "--pull-namespace",
        "team-a",
        "--out",
        str(out),
    )
    assert result.code == 0, result.err
    proc = subprocess.run(
        [kubectl, "kustomize", str(out)], capture_output=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr.decode()[:500]
    kinds = sorted((d["kind"], d["metadata"]["namespace"]) for d in yaml.safe_load_all(proc.stdout))
    assert kinds == [
        ("SealedSecret", "kube-system"),
        ("SealedSecret", "team-a"),
        ("ServiceAccount", "team-a"),
    ]


# --- the plain Secret appears nowhere -----------------------------------------------------------


def secret_strings(tmp_path: Path) -> list[bytes]:
    """Every form in which the credentials show in a plain render."""
    strings = {PASSWORD, base64.b64encode(PASSWORD.encode()).decode()}
    strings.add(base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode())
    for document in documents(render(tmp_path)):
        strings.update(document.get("data", {}).values())
    return [s.encode() for s in strings]


def test_no_plain_secret_in_out_folder_or_stdout(cli: Cli, cert_file: Path, tmp_path: Path) -> None:
    (tmp_path / "Clusterfile").write_bytes(clusterfile())
    out = tmp_path / "out"
    common = [
        "render",
        str(tmp_path / "Clusterfile"),
        "--seal-cert",
        str(cert_file),
        "--pull-namespace",
        "team-a",
        "--patch",
        "team-a/deployment/app",
    ]
    to_folder = cli(*common, "--out", str(out))
    assert to_folder.code == 0, to_folder.err
    to_stdout = cli(*common[:-2])
    assert to_stdout.code == 0, to_stdout.err
    written = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert not [p for p in written if p.name.endswith(".tmp")], "a temporary file was left"
    assert b"SealedSecret" in written[out / "secret.yaml"]
    outputs = {
        **{str(p): data for p, data in written.items()},
        "stdout": to_stdout.out.encode(),
        "stderr": (to_folder.err + to_stdout.err).encode(),
    }
    forms = secret_strings(tmp_path)
    for where, data in outputs.items():
        assert b"kind: Secret\n" not in data, f"a plain Secret in {where}"
        # Booleans only: a failure must not print the password.
        assert not any(form in data for form in forms), f"a credential in {where}"


def test_no_plain_secret_when_stdin_password(cli: Cli, cert_file: Path, tmp_path: Path) -> None:
    (tmp_path / "Clusterfile").write_bytes(clusterfile())
    args = ["render", str(tmp_path / "Clusterfile"), "--seal-cert", str(cert_file)]
    result = cli(*args, "--password-stdin", stdin=b"fr0m-stdin:secret\n")
    assert result.code == 0, result.err
    for form in (b"fr0m-stdin:secret", base64.b64encode(b"fr0m-stdin:secret")):
        assert form not in result.out.encode(), "the stdin password reached stdout"


# --- a fleet: one controller, one key pair, one certificate per cluster -----------------------

FLEET = ("alpha", "beta", "gamma")


@pytest.fixture(scope="module")
def fleet_keys() -> dict[str, rsa.RSAPrivateKey]:
    return {name: rsa.generate_private_key(public_exponent=65537, key_size=2048) for name in FLEET}


def fleet_inputs(tmp_path: Path, keys: dict[str, rsa.RSAPrivateKey]) -> tuple[Path, Path]:
    """A folder of Clusterfiles and a folder of `<cluster>.pem`, as `kubeseal --fetch-cert`
    gives them, one per cluster."""
    clusters, certs = tmp_path / "clusters", tmp_path / "certs"
    clusters.mkdir()
    certs.mkdir()
    later = datetime.datetime.now(datetime.UTC) + 3650 * DAY
    for name, key in keys.items():
        (clusters / f"{name}.yaml").write_bytes(clusterfile(name))
        (certs / f"{name}.pem").write_bytes(self_signed_certificate(key.public_key(), key, later))
    return clusters, certs


def test_each_cluster_seals_with_its_own_certificate(
    cli: Cli, fleet_keys: dict[str, rsa.RSAPrivateKey], tmp_path: Path
) -> None:
    clusters, certs = fleet_inputs(tmp_path, fleet_keys)
    out = tmp_path / "out"
    args = ["render", str(clusters), "--pull-namespace", "team-a", "--out", str(out)]
    result = cli(*args, "--seal-cert", str(certs))
    assert result.code == 0, result.err
    plain = documents(render(tmp_path))  # every cluster renders the same Secrets but a label
    for name in FLEET:
        sealed = [
            d
            for file in ("secret.yaml", "pull-secrets.yaml")
            for d in yaml.safe_load_all((out / name / file).read_text())
            if d["kind"] == "SealedSecret"
        ]
        assert len(sealed) == 2, name
        for document in sealed:
            secret = unseal(document, fleet_keys[name])
            (want,) = [
                d
                for d in plain
                if d["kind"] == "Secret"
                and d["metadata"]["namespace"] == secret["metadata"]["namespace"]
            ]
            assert decode_data(secret) == decode_data(want), f"{name}: unsealed bytes differ"
            for other in FLEET:
                if other != name:
                    with pytest.raises(ValueError, match="Decryption failed"):
                        unseal(document, fleet_keys[other])


def test_a_cluster_without_its_certificate_is_an_error(
    cli: Cli, fleet_keys: dict[str, rsa.RSAPrivateKey], tmp_path: Path
) -> None:
    clusters, certs = fleet_inputs(tmp_path, fleet_keys)
    (certs / "beta.pem").unlink()
    out = tmp_path / "out"
    result = cli("render", str(clusters), "--out", str(out), "--seal-cert", str(certs))
    assert result.code == 1
    assert result.err.count("\n") == 1, result.err
    assert "no sealing certificate for cluster 'beta'" in result.err
    assert f"--seal-cert {certs} has no beta.pem" in result.err
    assert str(clusters / "beta.yaml") in result.err
    assert not out.exists(), "nothing may be written when a cluster has no certificate"


def test_one_cluster_takes_its_certificate_from_a_folder(
    cli: Cli, fleet_keys: dict[str, rsa.RSAPrivateKey], tmp_path: Path
) -> None:
    clusters, certs = fleet_inputs(tmp_path, fleet_keys)
    result = cli("render", str(clusters / "gamma.yaml"), "--seal-cert", str(certs))
    assert result.code == 0, result.err
    (sealed,) = yaml.safe_load_all(result.out)
    assert decode_data(unseal(sealed, fleet_keys["gamma"]))["password"] == PASSWORD.encode()
    with pytest.raises(ValueError, match="Decryption failed"):
        unseal(sealed, fleet_keys["alpha"])


def test_a_cluster_name_that_cannot_name_a_file_is_refused(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "Clusterfile").write_bytes(clusterfile("../../etc/cert"))
    result = cli("render", str(tmp_path / "Clusterfile"), "--seal-cert", str(tmp_path))
    assert result.code == 1
    assert "cannot name a certificate file" in result.err


# --- certificates that will not do ----------------------------------------------------------


def one_line_error(cli: Cli, tmp_path: Path, cert: Path) -> str:
    (tmp_path / "Clusterfile").write_bytes(clusterfile())
    result = cli("render", str(tmp_path / "Clusterfile"), "--seal-cert", str(cert))
    assert result.code == 1
    assert result.out == "", "nothing may be printed to stdout on an error"
    assert result.err.count("\n") == 1, result.err
    assert result.err.startswith("gen-secret: error: "), result.err
    assert f"--seal-cert {cert}" in result.err, result.err
    return result.err


def test_not_a_certificate(cli: Cli, private_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    key_only = tmp_path / "key.pem"
    key_only.write_bytes(
        private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    assert "not a PEM X.509 certificate" in one_line_error(cli, tmp_path, key_only)
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(
        b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"
    )
    assert "not a PEM X.509 certificate" in one_line_error(cli, tmp_path, garbage)
    assert "not a PEM X.509" in one_line_error(cli, tmp_path, tmp_path / "Clusterfile")
    assert "cannot read" in one_line_error(cli, tmp_path, tmp_path / "missing.pem")
    # A folder holds one certificate per cluster; this one has none for cluster "sealed".
    assert "no sealing certificate for cluster 'sealed'" in one_line_error(cli, tmp_path, tmp_path)


def test_ec_certificate_is_refused(cli: Cli, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = tmp_path / "ec.pem"
    cert.write_bytes(
        self_signed_certificate(
            key.public_key(), key, datetime.datetime.now(datetime.UTC) + 30 * DAY
        )
    )
    assert "holds an EC key; sealed-secrets needs an RSA key" in one_line_error(cli, tmp_path, cert)


def test_small_rsa_key_is_refused(cli: Cli, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - on purpose
    cert = tmp_path / "small.pem"
    cert.write_bytes(
        self_signed_certificate(
            key.public_key(), key, datetime.datetime.now(datetime.UTC) + 30 * DAY
        )
    )
    assert "1024 bits" in one_line_error(cli, tmp_path, cert)


def test_certificate_after_a_private_key_in_the_file_is_found(
    cli: Cli, private_key: rsa.RSAPrivateKey, cert_file: Path, tmp_path: Path
) -> None:
    bundle = tmp_path / "tls.pem"
    key_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    bundle.write_bytes(key_pem + cert_file.read_bytes())
    (tmp_path / "Clusterfile").write_bytes(clusterfile())
    result = cli("render", str(tmp_path / "Clusterfile"), "--seal-cert", str(bundle))
    assert result.code == 0, result.err
    assert b"PRIVATE KEY" not in result.out.encode()


def test_expired_certificate_warns_and_still_seals(
    cli: Cli, private_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    expired = tmp_path / "expired.pem"
    yesterday = datetime.datetime.now(datetime.UTC) - DAY
    expired.write_bytes(self_signed_certificate(private_key.public_key(), private_key, yesterday))
    (tmp_path / "Clusterfile").write_bytes(clusterfile())
    result = cli("render", str(tmp_path / "Clusterfile"), "--seal-cert", str(expired))
    assert result.code == 0, result.err
    warnings = [line for line in result.err.splitlines() if "expired" in line]
    assert len(warnings) == 1, result.err
    assert warnings[0].startswith("gen-secret: warning: sealing certificate --seal-cert ")
    assert f"expired on {yesterday:%Y-%m-%d}" in warnings[0]
    (sealed,) = yaml.safe_load_all(result.out)
    assert decode_data(unseal(sealed, private_key))["password"] == PASSWORD.encode()


def test_seal_scope_needs_seal_cert(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "Clusterfile").write_bytes(clusterfile())
    result = cli("render", str(tmp_path / "Clusterfile"), "--seal-scope", "cluster-wide")
    assert result.code == 2
    assert "--seal-scope needs --seal-cert" in result.err
    result = cli("render", str(tmp_path / "Clusterfile"), "--seal-scope", "global")
    assert result.code == 2


# --- unsealed output inside a git working tree --------------------------------------------------

GIT_WARNING = "writing an unsealed Secret into the git working tree"


@pytest.mark.parametrize("dot_git", ["folder", "file"])
def test_unsealed_out_in_git_tree_warns(cli: Cli, dot_git: str, tmp_path: Path) -> None:
    repository = tmp_path / "gitops"
    repository.mkdir()
    if dot_git == "folder":
        (repository / ".git").mkdir()
    else:  # a worktree or submodule: `.git` is a file that points elsewhere
        (repository / ".git").write_text("gitdir: /elsewhere/.git/worktrees/gitops\n")
    (tmp_path / "Clusterfile").write_bytes(clusterfile())
    out = repository / "clusters" / "prod"
    result = cli("render", str(tmp_path / "Clusterfile"), "--out", str(out))
    assert result.code == 0, result.err
    warnings = [line for line in result.err.splitlines() if GIT_WARNING in line]
    assert len(warnings) == 1, result.err
    assert warnings[0].startswith("gen-secret: warning: ")
    assert str(repository) in warnings[0]
    assert "--seal-cert" in warnings[0]
    assert PASSWORD not in result.err


def test_sealed_out_in_git_tree_does_not_warn(cli: Cli, cert_file: Path, tmp_path: Path) -> None:
    (tmp_path / "gitops" / ".git").mkdir(parents=True)
    (tmp_path / "Clusterfile").write_bytes(clusterfile())
    out = tmp_path / "gitops" / "prod"
    args = ["render", str(tmp_path / "Clusterfile"), "--out", str(out)]
    result = cli(*args, "--seal-cert", str(cert_file))
    assert result.code == 0, result.err
    assert GIT_WARNING not in result.err


def test_unsealed_out_outside_git_does_not_warn(cli: Cli, tmp_path: Path) -> None:
    from generator.io.output import git_work_tree

    if git_work_tree(tmp_path) is not None:
        pytest.skip(f"the temporary folder {tmp_path} is itself inside a git working tree")
    (tmp_path / "Clusterfile").write_bytes(clusterfile())
    result = cli("render", str(tmp_path / "Clusterfile"), "--out", str(tmp_path / "out"))
    assert result.code == 0, result.err
    assert GIT_WARNING not in result.err


# --- start-up ---------------------------------------------------------------------------------


def test_plain_render_does_not_import_cryptography(tmp_path: Path) -> None:
    (tmp_path / "Clusterfile").write_bytes(clusterfile())
    code = (
        "import sys\n"
        "from generator.cli.app import main\n"
        f"assert main(['render', {str(tmp_path / 'Clusterfile')!r}]) == 0\n"
        "sys.stderr.write(repr(sorted(m for m in sys.modules if m.startswith('cryptography'))))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, cwd=ROOT, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr.decode()[-500:]
    assert proc.stderr.decode().endswith("[]"), proc.stderr.decode()[-500:]
