"""Which `auths` key the kubelet uses for an image, and why a key does not serve it.

Follows the kubelet: the pod's image is normalised as `ParseNormalizedNamed` does
(distribution/reference) and only its name, without tag or digest, is looked up; each `auths`
key is normalised and compared as in `pkg/credentialprovider/keyring.go` (`BasicDockerKeyring`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from generator.errors import UsageError

DOCKER_HUB = "docker.io"
LEGACY_DOCKER_HUB = "index.docker.io"
OFFICIAL_PREFIX = "library/"
# The key that serves Docker Hub images when no other key does: `https://index.docker.io/v1/`.
DOCKER_HUB_FALLBACK_KEY = "index.docker.io"
MAX_PATH_LENGTH = 255

# The reference grammar of distribution/reference, written for Python's `re`.
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_REMOTE_NAME = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"(?P<name>(?:{_DOMAIN}/)?{_REMOTE_NAME})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?"
)
_NAME = re.compile(rf"(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_REMOTE_NAME})")
_IDENTIFIER = re.compile(r"[a-f0-9]{64}")
# go-digest's registered algorithms and the length of their lower-case hex encoding.
_DIGEST_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_LOWER_HEX = re.compile(r"[a-f0-9]+")
_DIGEST_SHAPE = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")


class ImageReferenceError(UsageError):
    """An image reference the kubelet would refuse (InvalidImageName): exit code 2."""


@dataclass(frozen=True)
class ImageReference:
    """A pod's image, normalised the way the kubelet reads it."""

    original: str
    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """What the kubelet looks up in its keyring: domain and path, no tag or digest."""
        return f"{self.domain}/{self.path}"

    @property
    def canonical(self) -> str:
        """The full normalised reference, with `:latest` when neither tag nor digest is given."""
        text = self.name
        if self.tag is not None or self.digest is None:
            text += f":{self.tag or 'latest'}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def parse_image(text: str) -> ImageReference:
    """Parse and normalise an image reference; raise ImageReferenceError when it is not valid."""

    def invalid(why: str) -> ImageReferenceError:
        return ImageReferenceError(f"invalid image reference {text!r}: {why}")

    if not text:
        raise invalid("it is empty")
    if _IDENTIFIER.fullmatch(text):
        raise invalid("a bare 64-character hex string is an image ID, not a reference")
    domain, remainder = _split_domain(text)
    repository = remainder.split(":", 1)[0]
    if repository.lower() != repository:
        raise invalid(f"repository name {repository!r} must be lower case")
    match = _REFERENCE.fullmatch(f"{domain}/{remainder}")
    if match is None:
        raise invalid("it does not follow the [host[:port]/]path[:tag][@digest] grammar")
    name = _NAME.fullmatch(match["name"])
    if name is None or name["domain"] is None:  # pragma: no cover - `domain/` always matches
        raise invalid("it has no registry host")
    if len(name["path"]) > MAX_PATH_LENGTH:
        raise invalid(f"the repository path is longer than {MAX_PATH_LENGTH} characters")
    digest = match["digest"]
    if digest is not None:
        problem = _digest_problem(digest)
        if problem:
            raise invalid(problem)
    return ImageReference(text, name["domain"], name["path"], match["tag"], digest)


def _split_domain(text: str) -> tuple[str, str]:
    """Registry host and the rest, with Docker Hub's defaults (`busybox` is docker.io/library)."""
    first, slash, rest = text.partition("/")
    if not slash:
        return DOCKER_HUB, OFFICIAL_PREFIX + text
    if first == "localhost" or any(c in first for c in ".:") or first.lower() != first:
        # A first component is a host when it is localhost, has a dot or a port, or has
        # upper-case letters (which a repository path may not have).
        domain, remainder = first, rest
    else:
        domain, remainder = DOCKER_HUB, text
    if domain == LEGACY_DOCKER_HUB:
        domain = DOCKER_HUB
    if domain == DOCKER_HUB and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


def _digest_problem(digest: str) -> str:
    algorithm, _, encoded = digest.partition(":")
    length = _DIGEST_HEX_LENGTHS.get(algorithm)
    if length is None:
        if not _DIGEST_SHAPE.fullmatch(digest):
            return "the digest is malformed"
        return f"digest algorithm {algorithm!r} is not supported (sha256, sha384 or sha512)"
    if len(encoded) != length:
        return f"a {algorithm} digest has {length} hex digits, not {len(encoded)}"
    if not _LOWER_HEX.fullmatch(encoded):
        return "the digest must be lower-case hex"
    return ""


class _BadURL(ValueError):
    """A text Go's url.Parse rejects."""


# Characters Go's url.Parse accepts in a host besides letters and digits (RFC 3986 sub-delims).
_HOST_CHARS = set("-_.~!$&'()*+,;=:[]<>\"")
_USERINFO_CHARS = set("-._:~!$&'()*+,;=%@")
_PORT = re.compile(r":[0-9]*")


def _parse_url(text: str) -> tuple[str, str]:
    """Host (with port) and unescaped path of `scheme://...`, as Go's url.Parse gives them."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise _BadURL("control character")
    text = text.split("#", 1)[0]
    _, _, rest = text.partition("://")
    rest = rest.split("?", 1)[0]
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if at and not all(c.isalnum() or c in _USERINFO_CHARS for c in userinfo):
        raise _BadURL("invalid userinfo")
    if host.startswith("["):
        close = host.rfind("]")
        if close < 0:
            raise _BadURL("missing ']' in host")
        port = host[close + 1 :]
    else:
        colon = host.rfind(":")
        port = host[colon:] if colon >= 0 else ""
    if port and not _PORT.fullmatch(port):
        raise _BadURL("invalid port")
    for c in host:
        # Go also takes %-escapes of non-ASCII bytes in a host; no registry name needs them.
        if c == "%" or (ord(c) < 0x80 and not (c.isalnum() or c in _HOST_CHARS)):
            raise _BadURL("invalid character in host")
    return host, _unescape_path(slash + path)


def _unescape_path(path: str) -> str:
    if "%" not in path:
        return path
    out = bytearray()
    i = 0
    raw = path.encode("utf-8")
    while i < len(raw):
        if raw[i] == ord("%"):
            digits = raw[i + 1 : i + 3].decode("ascii", "replace")
            if len(digits) != 2 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise _BadURL("invalid URL escape")
            out.append(int(digits, 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", "replace")


def _split_host_port(hostport: str) -> tuple[str, str]:
    """Go's net.SplitHostPort, falling back to (hostport, "") on any error as the kubelet does.

    So a host with `[` or `]` outside an IPv6 literal keeps its `:port` as part of its last
    label, and its port is empty.
    """
    colon = hostport.rfind(":")
    if colon < 0:
        return hostport, ""
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0 or close + 1 != colon:
            return hostport, ""
        host, after_open, after_close = hostport[1:close], 1, close + 1
    else:
        host, after_open, after_close = hostport[:colon], 0, 0
        if ":" in host:
            return hostport, ""
    if "[" in hostport[after_open:] or "]" in hostport[after_close:]:
        return hostport, ""
    return host, hostport[colon + 1 :]


@dataclass(frozen=True)
class Target:
    """A schemeless URL split the way the kubelet compares it: host labels, port and path."""

    labels: tuple[str, ...]
    port: str
    path: str

    @property
    def host(self) -> str:
        return ".".join(self.labels)


def _target(schemeless: str) -> Target:
    host, path = _parse_url("https://" + schemeless)
    name, port = _split_host_port(host)
    return Target(tuple(name.split(".")), port, path)


@dataclass(frozen=True)
class RegistryKey:
    """An `auths` key as the kubelet indexes it: scheme and a leading /v1/ or /v2/ dropped."""

    original: str
    normalised: str | None  # None: the kubelet cannot parse the key and ignores it


def normalise_key(key: str) -> RegistryKey:
    """The kubelet's keyring entry for an `auths` key (`BasicDockerKeyring.Add`)."""
    value = key if key.startswith(("https://", "http://")) else "https://" + key
    try:
        host, path = _parse_url(value)
    except _BadURL:
        return RegistryKey(key, None)
    # `/v1/` and `/v2/` (with the slash) name the registry API, not a repository path.
    if path.startswith(("/v1/", "/v2/")):
        path = path[3:]
    return RegistryKey(key, host + path if path not in ("", "/") else host)


@dataclass(frozen=True)
class KeyVerdict:
    """One `auths` key against one image: does the kubelet use it, and if not, why not."""

    key: str
    normalised: str | None
    used: bool
    reasons: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class MatchResult:
    """Every key's verdict for an image, in the order the kubelet tries them."""

    image: ImageReference
    verdicts: tuple[KeyVerdict, ...]
    docker_hub_fallback: bool = False

    @property
    def used(self) -> tuple[str, ...]:
        """The `auths` keys whose credentials the kubelet tries, in its order."""
        return tuple(v.key for v in self.verdicts if v.used)

    @property
    def served(self) -> bool:
        return bool(self.used)


def match(image: ImageReference | str, keys: Iterable[str]) -> MatchResult:
    """Which of `keys` the kubelet would use to pull `image`, and why each other one is not."""
    reference = image if isinstance(image, ImageReference) else parse_image(image)
    target = _target(reference.name)
    verdicts = [_verdict(entry, target) for entry in kubelet_order(keys)]
    fallback = False
    if not any(v.used for v in verdicts) and _is_docker_hub(reference.name):
        # The kubelet's last resort: Docker Hub images use the `index.docker.io` entry.
        for i, verdict in enumerate(verdicts):
            if verdict.normalised == DOCKER_HUB_FALLBACK_KEY:
                verdicts[i] = KeyVerdict(
                    verdict.key, verdict.normalised, True, note="Docker Hub fallback"
                )
                fallback = True
    return MatchResult(reference, tuple(verdicts), fallback)


def kubelet_order(keys: Iterable[str]) -> list[RegistryKey]:
    """Keys in the order the kubelet tries them: by normalised key, in reverse byte order.

    Reverse order puts `host/team/app` before its prefix `host/team`. Keys that normalise
    alike share one slot whose inner order Go leaves to map iteration; ours is by the key as
    written, to be stable. Keys the kubelet cannot parse come last: it ignores them.
    """
    entries = sorted((normalise_key(k) for k in set(keys)), key=lambda e: e.original)
    entries.sort(key=lambda e: e.normalised or "", reverse=True)
    entries.sort(key=lambda e: e.normalised is None)
    return entries


def _verdict(entry: RegistryKey, target: Target) -> KeyVerdict:
    if entry.normalised is None:
        return KeyVerdict(entry.original, None, False, ("not a valid URL: the kubelet ignores it",))
    try:
        pattern = _target(entry.normalised)
    except _BadURL:
        # Unescaping can leave a path that no longer parses (`%25zz` becomes `%zz`).
        reason = "its normalised form is not a valid URL: the kubelet never matches it"
        return KeyVerdict(entry.original, entry.normalised, False, (reason,))
    reasons = _mismatches(pattern, target)
    return KeyVerdict(entry.original, entry.normalised, not reasons, reasons)


def _mismatches(key: Target, image: Target) -> tuple[str, ...]:
    """Every check of the kubelet's URLsMatch that fails, in its order: port, labels, path."""
    reasons: list[str] = []
    if key.port != image.port:
        if not image.port:
            reasons.append(f"the image has no port, the key needs {key.port}")
        elif ":" in key.labels[-1]:
            reasons.append(
                f"port {image.port} is not in the key: the kubelet cannot split a port "
                f"off {key.host!r}"
            )
        elif not key.port:
            reasons.append(f"port {image.port} is not in the key, which has none")
        else:
            reasons.append(f"port {image.port} differs from {key.port}")
    if len(key.labels) != len(image.labels):
        reason = f"host has {_labels(image)}, key has {len(key.labels)}"
        if _is_ip(image.host) and not _is_ip(key.host):
            reason += " (the image names an IP address, the key a host name)"
        elif _is_ip(key.host) and not _is_ip(image.host):
            reason += " (the image names a host, the key an IP address)"
        reasons.append(reason)
    if not image.path.startswith(key.path):
        reasons.append(f"path {image.path or '/'} does not start with {key.path}")
    if len(key.labels) == len(image.labels):
        for pattern, label in zip(key.labels, image.labels, strict=True):
            try:
                matched = glob_match(pattern, label)
            except ValueError:
                reasons.append(f"label pattern {pattern!r} is malformed: the kubelet skips the key")
                break
            if not matched:
                reason = f"label {label!r} does not match {pattern!r}"
                if label.lower() == pattern.lower():
                    reason += " (matching is case-sensitive)"
                reasons.append(reason)
    return tuple(reasons)


def _labels(target: Target) -> str:
    count = len(target.labels)
    return f"{count} label" if count == 1 else f"{count} labels"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _is_docker_hub(name: str) -> bool:
    """The kubelet's isDefaultRegistryMatch: a first component without '.' or ':' is Docker Hub."""
    first = name.partition("/")[0]
    return first == DOCKER_HUB or not any(c in first for c in ".:")


def glob_match(pattern: str, name: str) -> bool:
    """Go's filepath.Match on Linux: `*`, `?`, `[a-z]`, `[^a]` and `\\` escapes.

    Raises ValueError for a malformed pattern, where Go returns ErrBadPattern.
    """
    return _compile_glob(pattern).fullmatch(name) is not None


@lru_cache(maxsize=256)
def _compile_glob(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            regex, i = _glob_class(pattern, i + 1)
            out.append(regex)
        elif c == "\\":
            if i + 1 >= len(pattern):
                raise ValueError("trailing backslash")
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out), re.DOTALL)


def _glob_class(pattern: str, i: int) -> tuple[str, int]:
    """A `[...]` class starting after its `[`: the regex and the index after its `]`."""
    negated = i < len(pattern) and pattern[i] == "^"
    i += negated
    ranges: list[str] = []
    count = 0
    while True:
        if i < len(pattern) and pattern[i] == "]" and count:
            i += 1
            break
        low, i = _glob_char(pattern, i)
        high = low
        if pattern[i] == "-":
            high, i = _glob_char(pattern, i + 1)
        if low <= high:  # Go accepts an empty range such as z-a; it never matches
            ranges.append(f"{re.escape(low)}-{re.escape(high)}")
        count += 1
    if not ranges:
        return ("." if negated else "(?!)"), i
    return f"[{'^' if negated else ''}{''.join(ranges)}]", i


def _glob_char(pattern: str, i: int) -> tuple[str, int]:
    if i >= len(pattern) or pattern[i] in "-]":
        raise ValueError("bad character class")
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            raise ValueError("bad escape")
    if i + 1 >= len(pattern):
        raise ValueError("unterminated character class")
    return pattern[i], i + 1
