"""The kubelet's image-to-key matching, case by case, written from its rules.

Sources of the expected values (read, not copied):
- kubernetes/kubernetes pkg/util/parsers/parsers.go `ParseImageName` and
  distribution/reference normalize.go `ParseNormalizedNamed`/`splitDockerDomain`: the kubelet
  normalises the pod's image and looks up only its name (domain/path, no tag or digest).
- pkg/credentialprovider/keyring.go `BasicDockerKeyring.Add`: an `auths` key gets `https://`
  when it has no http(s) scheme, the scheme is dropped, a leading `/v1/` or `/v2/` is trimmed.
- keyring.go `URLsMatch` (via `URLsMatchStr`, `ParseSchemelessURL`, `SplitURL`): ports equal as
  strings, same number of host labels, key path a string prefix of the image path, each
  label a Go `filepath.Match` glob.
- keyring.go `Lookup`: every matching key, in reverse-sorted order of the normalised keys;
  only when none matches, Docker Hub images (`isDefaultRegistryMatch`) use `index.docker.io`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from generator.model.matching import (
    ImageReferenceError,
    glob_match,
    match,
    normalise_key,
    parse_image,
)

DIGEST = "sha256:" + "0123456789abcdef" * 4
# A sealer cluster's Secret: the local registry, a SAN alias and the node IP.
SEALER = ("sea.hub:5000", "registry.prod-east.internal:5000", "10.0.0.11:5000")


@dataclass(frozen=True)
class Case:
    image: str
    keys: tuple[str, ...]
    used: tuple[str, ...]
    # Exact reasons for some keys that do not match; keys left out are not checked.
    reasons: dict[str, tuple[str, ...]] = field(default_factory=dict)
    fallback: bool = False


CASES = {
    # --- URLsMatch on a sealer Secret: port, label count, labels --------------------------
    "exact host and port": Case("sea.hub:5000/library/nginx:1.25", SEALER, ("sea.hub:5000",)),
    "port mismatch": Case(
        "sea.hub:5001/app", SEALER, (), {"sea.hub:5000": ("port 5001 differs from 5000",)}
    ),
    "missing port in the image": Case(
        "sea.hub/app", SEALER, (), {"sea.hub:5000": ("the image has no port, the key needs 5000",)}
    ),
    "missing port in the key": Case(
        "harbor.example.com:443/app",
        ("harbor.example.com",),
        (),
        {"harbor.example.com": ("port 443 is not in the key, which has none",)},
    ),
    "port compared as a string": Case(
        "sea.hub:05000/app", SEALER, (), {"sea.hub:5000": ("port 05000 differs from 5000",)}
    ),
    "IP address served by its own key": Case("10.0.0.11:5000/app", SEALER, ("10.0.0.11:5000",)),
    "IP address against a name": Case(
        "10.0.0.12:5000/app",
        SEALER,
        (),
        {
            "sea.hub:5000": (
                "host has 4 labels, key has 2 (the image names an IP address, the key a host name)",
            ),
            "10.0.0.11:5000": ("label '12' does not match '11'",),
        },
    ),
    "name against an IP key": Case(
        "a.b.example.com:5000/app",
        ("10.0.0.11:5000",),
        (),
        {
            "10.0.0.11:5000": (
                "label 'a' does not match '10'",
                "label 'b' does not match '0'",
                "label 'example' does not match '0'",
                "label 'com' does not match '11'",
            )
        },
    ),
    "SAN alias key": Case(
        "registry.prod-east.internal:5000/app", SEALER, ("registry.prod-east.internal:5000",)
    ),
    "label count mismatch": Case(
        "prod-east.internal:5000/app",
        SEALER,
        (),
        {"registry.prod-east.internal:5000": ("host has 2 labels, key has 3",)},
    ),
    "labels are case-sensitive": Case(
        "SEA.HUB:5000/app",
        SEALER,
        (),
        {
            "sea.hub:5000": (
                "label 'SEA' does not match 'sea' (matching is case-sensitive)",
                "label 'HUB' does not match 'hub' (matching is case-sensitive)",
            )
        },
    ),
    "localhost with a port": Case(
        "localhost:5000/x",
        ("localhost:5000", "sea.hub:5000"),
        ("localhost:5000",),
        {"sea.hub:5000": ("host has 1 label, key has 2",)},
    ),
    "digest references look up the name only": Case(
        f"sea.hub:5000/app@{DIGEST}", SEALER, ("sea.hub:5000",)
    ),
    "tag and digest together": Case(f"sea.hub:5000/app:1.0@{DIGEST}", SEALER, ("sea.hub:5000",)),
    "IPv6 registry": Case("[fd00::1]:5000/app", ("[fd00::1]:5000",), ("[fd00::1]:5000",)),
    # --- filepath.Match per label ---------------------------------------------------------
    "glob *.hub:5000": Case("sea.hub:5000/app", ("*.hub:5000",), ("*.hub:5000",)),
    "glob matches one label only": Case(
        "a.sea.hub:5000/app", ("*.hub:5000",), (), {"*.hub:5000": ("host has 3 labels, key has 2",)}
    ),
    "glob label mismatch": Case(
        "sea.hib:5000/app",
        ("*.hub:5000",),
        (),
        {"*.hub:5000": ("label 'hib' does not match 'hub'",)},
    ),
    "character class in a label": Case(
        "sea.hub/app",
        ("sea.[a-h]ub", "sea.[i-z]ub"),
        ("sea.[a-h]ub",),
        {"sea.[i-z]ub": ("label 'hub' does not match '[i-z]ub'",)},
    ),
    # net.SplitHostPort fails on a `[` outside an IPv6 literal: the port stays in the label.
    "character class and a port": Case(
        "sea.hub:5000/app",
        ("sea.[a-h]ub:5000",),
        (),
        {
            "sea.[a-h]ub:5000": (
                "port 5000 is not in the key: the kubelet cannot split a port off "
                "'sea.[a-h]ub:5000'",
                "label 'hub' does not match '[a-h]ub:5000'",
            )
        },
    ),
    "malformed glob": Case(
        "sea.hub/app",
        ("sea.[hub",),
        (),
        {"sea.[hub": ("label pattern '[hub' is malformed: the kubelet skips the key",)},
    ),
    # url.Parse reads `?` as the start of a query, and a host starting with `[` as IPv6.
    "? in a key starts a URL query": Case(
        "sea.hub:5000/app",
        ("s?a.hub:5000",),
        (),
        {
            "s?a.hub:5000": (
                "port 5000 is not in the key, which has none",
                "host has 2 labels, key has 1",
            )
        },
    ),
    "[ at the start of a key is an IPv6 bracket": Case(
        "sea.hub:5000/app",
        ("[a-s]ea.hub:5000",),
        (),
        {"[a-s]ea.hub:5000": ("not a valid URL: the kubelet ignores it",)},
    ),
    # --- the key's path is a string prefix of the image's path ----------------------------
    "path prefix, longest key first": Case(
        "sea.hub:5000/team/app",
        ("sea.hub:5000", "sea.hub:5000/team"),
        ("sea.hub:5000/team", "sea.hub:5000"),
    ),
    "path prefix mismatch": Case(
        "sea.hub:5000/other/app",
        ("sea.hub:5000/team",),
        (),
        {"sea.hub:5000/team": ("path /other/app does not start with /team",)},
    ),
    "path prefix is a string prefix": Case(
        "sea.hub:5000/teamwork/app", ("sea.hub:5000/team",), ("sea.hub:5000/team",)
    ),
    "trailing slash in the key path": Case(
        "sea.hub:5000/team",
        ("sea.hub:5000/team/",),
        (),
        {"sea.hub:5000/team/": ("path /team does not start with /team/",)},
    ),
    # --- BasicDockerKeyring.Add: scheme and /v1/, /v2/ ------------------------------------
    "https scheme dropped": Case(
        "sea.hub:5000/app", ("https://sea.hub:5000",), ("https://sea.hub:5000",)
    ),
    "http scheme and /v2/ dropped": Case(
        "sea.hub:5000/app", ("http://sea.hub:5000/v2/",), ("http://sea.hub:5000/v2/",)
    ),
    "/v2 without a slash is a path": Case(
        "sea.hub:5000/app",
        ("https://sea.hub:5000/v2",),
        (),
        {"https://sea.hub:5000/v2": ("path /app does not start with /v2",)},
    ),
    "/v1/ trimmed, rest is a path": Case(
        "sea.hub:5000/team/app",
        ("https://sea.hub:5000/v1/team",),
        ("https://sea.hub:5000/v1/team",),
    ),
    "user info dropped": Case("sea.hub:5000/app", ("u@sea.hub:5000",), ("u@sea.hub:5000",)),
    "normalised key that no longer parses": Case(
        "sea.hub:5000/app",
        ("sea.hub:5000/%25zz",),
        (),
        {
            "sea.hub:5000/%25zz": (
                "its normalised form is not a valid URL: the kubelet never matches it",
            )
        },
    ),
    "unparsable key ignored": Case(
        "sea.hub:5000/app",
        ("sea hub:5000", "sea.hub:5000"),
        ("sea.hub:5000",),
        {"sea hub:5000": ("not a valid URL: the kubelet ignores it",)},
    ),
    # --- Docker Hub: normalisation and the index.docker.io fallback -----------------------
    "bare busybox is docker.io/library/busybox": Case(
        "busybox",
        SEALER,
        (),
        {
            "sea.hub:5000": (
                "the image has no port, the key needs 5000",
                "label 'docker' does not match 'sea'",
                "label 'io' does not match 'hub'",
            )
        },
    ),
    "key docker.io serves Docker Hub directly": Case("busybox", ("docker.io",), ("docker.io",)),
    "index.docker.io/v1/ serves by fallback": Case(
        "bitnami/redis:7",
        ("https://index.docker.io/v1/", "sea.hub:5000"),
        ("https://index.docker.io/v1/",),
        fallback=True,
    ),
    "fallback only when nothing else matches": Case(
        "busybox", ("https://index.docker.io/v1/", "*.io"), ("*.io",)
    ),
    "fallback not for other registries": Case(
        "sea.hub:5000/app",
        ("https://index.docker.io/v1/",),
        (),
        {
            "https://index.docker.io/v1/": (
                "port 5000 is not in the key, which has none",
                "host has 2 labels, key has 3",
            )
        },
    ),
    "fallback takes localhost without a port": Case(
        "localhost/app", ("index.docker.io",), ("index.docker.io",), fallback=True
    ),
    # --- Lookup returns every match, in reverse order of the normalised keys --------------
    "every matching key, kubelet order": Case(
        "sea.hub:5000/team/app",
        ("*.hub:5000", "sea.hub:5000", "sea.hub:5000/team"),
        ("sea.hub:5000/team", "sea.hub:5000", "*.hub:5000"),
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_kubelet_matching(case: Case) -> None:
    result = match(case.image, case.keys)
    assert result.used == case.used
    assert result.served == bool(case.used)
    assert result.docker_hub_fallback == case.fallback
    verdicts = {v.key: v for v in result.verdicts}
    assert sorted(verdicts) == sorted(case.keys)
    for key, reasons in case.reasons.items():
        assert verdicts[key].reasons == reasons
    for key in case.used:
        assert verdicts[key].reasons == ()


# (reference, lookup name, tag, digest): ParseNormalizedNamed and splitDockerDomain.
NORMALISED = [
    ("busybox", "docker.io/library/busybox", None, None),
    ("library/busybox:1.36", "docker.io/library/busybox", "1.36", None),
    ("bitnami/redis", "docker.io/bitnami/redis", None, None),
    ("docker.io/busybox", "docker.io/library/busybox", None, None),
    ("index.docker.io/library/busybox", "docker.io/library/busybox", None, None),
    ("localhost:5000/x", "localhost:5000/x", None, None),
    ("localhost/x", "localhost/x", None, None),
    ("Sea.Hub:5000/app", "Sea.Hub:5000/app", None, None),  # upper case is fine in a host
    ("Team/app", "Team/app", None, None),  # upper case makes the first component a host
    ("sea.hub:5000", "docker.io/library/sea.hub", "5000", None),  # no '/': a Docker Hub tag
    (f"sea.hub:5000/a/b:v1@{DIGEST}", "sea.hub:5000/a/b", "v1", DIGEST),
    ("sea.hub:5000/a__b/c--d/e.f:V_1.x-2", "sea.hub:5000/a__b/c--d/e.f", "V_1.x-2", None),
]


@pytest.mark.parametrize(("text", "name", "tag", "digest"), NORMALISED)
def test_image_normalisation(text: str, name: str, tag: str | None, digest: str | None) -> None:
    reference = parse_image(text)
    assert (reference.name, reference.tag, reference.digest) == (name, tag, digest)


def test_canonical_form_adds_latest_only_without_tag_and_digest() -> None:
    assert parse_image("busybox").canonical == "docker.io/library/busybox:latest"
    assert parse_image(f"busybox@{DIGEST}").canonical == f"docker.io/library/busybox@{DIGEST}"
    assert parse_image(f"x.io/a:1@{DIGEST}").canonical == f"x.io/a:1@{DIGEST}"


INVALID = {
    "upper case path": ("Busybox", "must be lower case"),
    "upper case path after a host": ("sea.hub:5000/App", "must be lower case"),
    "an image ID": ("0123456789abcdef" * 4, "image ID"),
    "empty": ("", "empty"),
    "empty path": ("sea.hub:5000/", "grammar"),
    "double slash": ("sea.hub:5000//app", "grammar"),
    "space": ("sea hub/app", "grammar"),
    "tag starting with a dash": ("app:-1", "grammar"),
    "tag too long": ("app:" + "t" * 129, "grammar"),
    "short digest": ("app@sha256:abc", "grammar"),
    "digest too short for sha256": ("app@sha256:" + "a" * 40, "64 hex digits, not 40"),
    "upper-case digest": ("app@sha256:" + "A" * 64, "lower-case hex"),
    "unknown digest algorithm": ("app@md5:" + "a" * 32, "not supported"),
    "path too long": ("sea.hub/" + "a" * 256, "longer than 255"),
    "trailing newline": ("busybox\n", "grammar"),
}


@pytest.mark.parametrize(("text", "why"), INVALID.values(), ids=INVALID.keys())
def test_invalid_references_are_usage_errors(text: str, why: str) -> None:
    with pytest.raises(ImageReferenceError) as caught:
        parse_image(text)
    assert caught.value.exit_code == 2
    assert why in str(caught.value)


# BasicDockerKeyring.Add: what the kubelet indexes for each key.
KEYS = [
    ("sea.hub:5000", "sea.hub:5000"),
    ("https://sea.hub:5000", "sea.hub:5000"),
    ("https://sea.hub:5000/", "sea.hub:5000"),
    ("http://sea.hub:5000/v2/", "sea.hub:5000"),
    ("https://index.docker.io/v1/", "index.docker.io"),
    ("https://sea.hub:5000/v2/team/", "sea.hub:5000/team/"),
    ("sea.hub:5000/v2", "sea.hub:5000/v2"),
    ("HTTPS://sea.hub", "HTTPS://sea.hub"),  # the scheme check is case-sensitive
    ("sea.hub:5000/a?b#c", "sea.hub:5000/a"),
    ("sea.hub:5000/te%61m", "sea.hub:5000/team"),
    ("sea.hub:5000/%25zz", "sea.hub:5000/%zz"),
    ("s?a.hub:5000", "s"),
    ("*.hub:5000", "*.hub:5000"),
    ("[a-s]ea.hub:5000", None),
    ("sea.hub:50x0", None),
    ("sea.hub:5000/%zz", None),
    ("sea\thub", None),
]


@pytest.mark.parametrize(("key", "normalised"), KEYS)
def test_key_normalisation(key: str, normalised: str | None) -> None:
    assert normalise_key(key).normalised == normalised


# Go's filepath.Match, which differs from Python's fnmatch in places.
GLOBS = [
    ("*", "sea", True),
    ("s*", "sea", True),
    ("*a", "sea", True),
    ("s?a", "sea", True),
    ("s?a", "sa", False),
    ("[a-z]ea", "sea", True),
    ("[^s]ea", "sea", False),
    ("[^t]ea", "sea", True),
    ("[!s]ea", "!ea", True),  # Go negates with ^ only; fnmatch would read [!s] as "not s"
    ("\\*", "*", True),
    ("\\*", "a", False),
    ("[\\]]", "]", True),
    ("SEA", "sea", False),
    ("", "", True),
]


@pytest.mark.parametrize(("pattern", "name", "expected"), GLOBS)
def test_glob_follows_go_filepath_match(pattern: str, name: str, expected: bool) -> None:
    assert glob_match(pattern, name) is expected


@pytest.mark.parametrize("pattern", ["[", "[a", "[]", "[a-]", "[-a]", "\\", "a[z-"])
def test_malformed_globs_raise(pattern: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        glob_match(pattern, "a")


_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
_host = st.lists(_label, min_size=2, max_size=4).map(".".join)
_path = st.lists(st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True), min_size=1, max_size=3)


@given(host=_host, port=st.integers(1, 65534), path=_path)
def test_a_registry_key_serves_its_own_images_and_no_other_port(
    host: str, port: int, path: list[str]
) -> None:
    image = f"{host}:{port}/{'/'.join(path)}"
    assert match(image, [f"{host}:{port}"]).used == (f"{host}:{port}",)
    assert match(image, [f"https://{host}:{port}/v2/"]).served
    other = match(image, [f"{host}:{port + 1}"])
    assert not other.served
    assert other.verdicts[0].reasons == (f"port {port} differs from {port + 1}",)
