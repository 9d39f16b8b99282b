"""Properties over generated inputs: any valid Clusterfile renders a valid, exact Secret.

Hypothesis runs derandomized and without its example database, so CI sees the same
examples every time; a failure prints the example, and these are test credentials.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from generator.app.pipeline import Request, run
from tests.builders import as_bytes, clusterfile_document
from tests.conftest import assert_valid, decode_data, kubectl_dockerconfigjson

PROFILE = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow],
)
KUBECTL_SAMPLE = settings(PROFILE, max_examples=10)

# YAML and Jinja syntax that must stay inside a value, whatever surrounds it.
SYNTAX = [
    "---",
    "...",
    "{{ x }}",
    "{%",
    "%}",
    "{#",
    "#}",
    "# ",
    "#",
    ": ",
    ":",
    "- ",
    "? ",
    "'",
    '"',
    "\\",
    "\n",
    "\r\n",
    "\t",
    "&a",
    "*a",
    "!!python/object ",
    "!tag ",
    "| ",
    "> ",
    "%YAML 1.2",
    "<<: ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "@",
    "`",
    "${HOME}",
    "\u2028",
    "\x85",
    "\ufeff",
    "null",
    "true",
    "0123",
    "~",
    " ",
]

# Any character YAML can carry (surrogates cannot be UTF-8).
ANY_CHAR = st.characters(blacklist_categories=("Cs",))
syntax_text = st.lists(st.one_of(st.sampled_from(SYNTAX), st.text(ANY_CHAR, max_size=4))).map(
    "".join
)
passwords = st.one_of(st.text(ANY_CHAR, max_size=40), syntax_text)
# The kubelet splits `auth` at the first ':', and a username is one line.
usernames = st.one_of(st.text(ANY_CHAR, min_size=1, max_size=30), syntax_text).filter(
    lambda u: u != "" and not any(c in u for c in ":\r\n")
)
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,8}[A-Za-z0-9])?"
domains = st.one_of(
    st.from_regex(rf"{_LABEL}(\.{_LABEL}){{0,3}}", fullmatch=True),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
)
ports = st.integers(min_value=1, max_value=65535)
_DNS_LABEL = r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?"
object_names = st.from_regex(rf"{_DNS_LABEL}(\.{_DNS_LABEL}){{0,2}}", fullmatch=True)
namespaces = st.from_regex(_DNS_LABEL, fullmatch=True)
cluster_names = st.one_of(st.from_regex(_DNS_LABEL, fullmatch=True), syntax_text).filter(bool)


@pytest.fixture(scope="module")
def ca_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty root, so that no CA file of this machine ends up in the output."""
    return tmp_path_factory.mktemp("empty-root")


def join_host_port(host: str, port: int | None) -> str:
    """The registry's `auths` key: `host:port` as image references write it, an IPv6 address
    in brackets (as sealer's net.JoinHostPort does), with no port too, since an image
    reference cannot name a bare IPv6 host."""
    shown = f"[{host}]" if ":" in host else host
    return shown if port is None else f"{shown}:{port}"


def clusterfile(
    domain: str,
    port: int | None,
    username: str,
    password: str,
    *,
    external: bool = False,
    name: str = "props",
) -> bytes:
    """A Clusterfile written by PyYAML's emitter, which quotes whatever needs quoting."""
    document = clusterfile_document(domain, port, username, password, external=external, name=name)
    data = as_bytes(document)
    # The input must say what we mean: if the emitter cannot round-trip a value, skip it.
    assume(yaml.safe_load(data) == document)
    return data


def render_secret(data: bytes, request: Request) -> dict[str, Any]:
    """The one document of the stream, checked to be a Secret and nothing else."""
    documents = list(yaml.safe_load_all(run(data, "Clusterfile", request).stream))
    assert len(documents) == 1, f"{len(documents)} documents instead of one Secret"
    (secret,) = documents
    assert isinstance(secret, dict)
    assert sorted(secret) == ["apiVersion", "data", "kind", "metadata", "type"]
    assert secret["kind"] == "Secret"
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    return secret


def same(ours: object, expected: object, what: str) -> None:
    """Fail without showing either side: they hold credentials (Hypothesis still prints the
    generated example it needs to reproduce the failure)."""
    __tracebackhide__ = True
    if ours != expected:
        raise AssertionError(f"{what} differs")


def check_credentials(secret: dict[str, Any], server: str, username: str, password: str) -> None:
    """The Secret's data decodes to exactly these credentials."""
    data = decode_data(secret)
    config = json.loads(data[".dockerconfigjson"])
    same(sorted(config), ["auths"], "the top level of .dockerconfigjson")
    same(sorted(config["auths"]), [server], "the auths keys")
    entry = config["auths"][server]
    same(entry.get("username", ""), username, "the dockerconfigjson username")
    same(entry.get("password", ""), password, "the dockerconfigjson password")
    token = base64.b64decode(entry["auth"], validate=True)
    same(token, f"{username}:{password}".encode(), "auth, base64 of username:password,")
    same(data["username"], username.encode(), "data.username")
    same(data["password"], password.encode(), "data.password")
    same(data["url"], server.encode(), "data.url")


@PROFILE
@given(
    username=usernames,
    password=passwords,
    domain=domains,
    port=ports,
    external=st.booleans(),
    name=object_names,
    namespace=namespaces,
)
@example(
    username="u", password="", domain="sea.hub", port=5000, external=False, name="n", namespace="n"
)
def test_any_valid_input_renders_a_valid_exact_secret(
    ca_root: Path,
    username: str,
    password: str,
    domain: str,
    port: int,
    external: bool,
    name: str,
    namespace: str,
) -> None:
    data = clusterfile(domain, port, username, password, external=external)
    secret = render_secret(data, Request(name=name, namespace=namespace, ca_root=ca_root))
    assert_valid(secret)
    assert secret["metadata"]["name"] == name
    assert secret["metadata"]["namespace"] == namespace
    check_credentials(secret, join_host_port(domain, port), username, password)


@PROFILE
@given(username=usernames, password=passwords, domain=domains)
def test_external_registry_without_port_has_no_port_in_its_key(
    ca_root: Path, username: str, password: str, domain: str
) -> None:
    data = clusterfile(domain, None, username, password, external=True)
    secret = render_secret(data, Request(ca_root=ca_root))
    check_credentials(secret, join_host_port(domain, None), username, password)


@PROFILE
@given(username=syntax_text, password=syntax_text, cluster=cluster_names)
def test_yaml_and_jinja_syntax_stays_inside_values(
    ca_root: Path, username: str, password: str, cluster: str
) -> None:
    assume(username and not any(c in username for c in ":\r\n"))
    data = clusterfile("sea.hub", 5000, username, password, name=cluster)
    result = run(data, "Clusterfile", Request(ca_root=ca_root))
    # Every file reads back as the objects it should hold, and the stream as the Secret alone.
    kustomization = yaml.safe_load(result.files["kustomization.yaml"])
    assert kustomization["resources"] == ["secret.yaml"]
    same(
        list(yaml.safe_load_all(result.files["secret.yaml"])),
        list(yaml.safe_load_all(result.stream)),
        "secret.yaml against the stream",
    )
    secret = render_secret(data, Request(ca_root=ca_root))
    assert_valid(secret)
    labels = secret["metadata"]["labels"]
    assert set(labels) <= {
        "app.kubernetes.io/component",
        "sealer.io/cluster",
        "app.kubernetes.io/managed-by",
        "app.kubernetes.io/name",
        "app.kubernetes.io/part-of",
    }
    same(labels.get("sealer.io/cluster", cluster), cluster, "the cluster label")
    check_credentials(secret, "sea.hub:5000", username, password)


@KUBECTL_SAMPLE
@given(username=usernames, password=passwords, domain=domains, port=ports)
def test_dockerconfigjson_equals_kubectl_for_a_sample(
    ca_root: Path, username: str, password: str, domain: str, port: int
) -> None:
    # kubectl takes them as arguments: no NUL there, and it refuses an empty password.
    assume(password and "\0" not in username + password)
    data = clusterfile(domain, port, username, password)
    secret = render_secret(data, Request(ca_root=ca_root))
    server = join_host_port(domain, port)
    ours = decode_data(secret)[".dockerconfigjson"]
    same(ours, kubectl_dockerconfigjson(server, username, password), ".dockerconfigjson")
