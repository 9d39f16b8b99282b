"""A fleet run skips the clusters whose inputs and files did not change, and only those.

Each input kind is changed in turn, and the cluster must be rendered again; each way of
spoiling an output file, and the file must be rendered anew. After every run the folder must
equal a fresh render into an empty folder: a skip never leaves a stale file.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from generator.app import pipeline
from generator.app.pipeline import Request, Skipped
from generator.fleet import pool, unchanged
from generator.io.output import write_tree
from tests.builders import BIG, big_fleet, fleet_member
from tests.conftest import Cli, openssl_ca, self_signed_certificate
from tests.test_fleet import tree

INPUTS = unchanged.FINGERPRINTS


@pytest.fixture
def rendered(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The Clusterfiles rendered in this process, by file name, as they are rendered."""
    names: list[str] = []
    render_one = pool.render_one_cluster

    def spy(data: bytes, source: str, *rest: Any) -> pipeline.Result:
        names.append(Path(source).name)
        return render_one(data, source, *rest)

    monkeypatch.setattr(pool, "render_one_cluster", spy)
    return names


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    folder = tmp_path / "fleet"
    for name in ("alpha", "beta", "gamma"):
        fleet_member(folder, f"{name}.yaml", name, f"pw-{name}")
    return folder


def visible(folder: Path) -> dict[str, bytes]:
    """What a render wrote, its fingerprints left out (they differ by key, not by input)."""
    return {k: v for k, v in tree(folder).items() if k != INPUTS}


class Runs:
    """Render a fleet into one folder again and again, and into a fresh folder to compare."""

    def __init__(self, cli: Cli, fleet: Path, tmp_path: Path, rendered: list[str]) -> None:
        self.cli, self.fleet, self.tmp_path, self.rendered = cli, fleet, tmp_path, rendered
        self.out = tmp_path / "out"
        self.fresh_count = 0

    def __call__(self, *args: str, stdin: bytes = b"") -> list[str]:
        """Render into `out`; the Clusterfiles that were rendered, not skipped."""
        self.rendered.clear()
        result = self.cli("render", str(self.fleet), "--out", str(self.out), *args, stdin=stdin)
        assert result.code == 0, result.err
        names = sorted(self.rendered)
        self.fresh_count += 1
        fresh = self.tmp_path / f"fresh-{self.fresh_count}"
        again = self.cli("render", str(self.fleet), "--out", str(fresh), *args, stdin=stdin)
        assert again.code == 0, again.err
        assert visible(self.out) == visible(fresh), "the folder differs from a fresh render"
        fingerprints = [p.read_bytes() for p in (self.out / INPUTS, fresh / INPUTS) if p.exists()]
        assert fingerprints in ([], fingerprints[:1] * 2)
        return names


ALL = ["alpha.yaml", "beta.yaml", "gamma.yaml"]


@pytest.fixture
def runs(cli: Cli, fleet: Path, tmp_path: Path, rendered: list[str]) -> Runs:
    return Runs(cli, fleet, tmp_path, rendered)


def test_an_unchanged_fleet_is_neither_rendered_nor_written(runs: Runs) -> None:
    assert runs() == ALL
    before = {p: os.stat(p) for p in runs.out.rglob("*")}
    assert runs() == []
    after = {p: os.stat(p) for p in runs.out.rglob("*")}
    assert {p: (s.st_ino, s.st_mtime_ns) for p, s in before.items()} == {
        p: (s.st_ino, s.st_mtime_ns) for p, s in after.items()
    }, "a file of a skipped cluster was written"
    manifest = (runs.out / ".gen-secret-files").read_text()
    assert f"\n{INPUTS}\n" in manifest, "the fingerprints are not in the manifest"
    assert stat.S_IMODE(os.stat(runs.out / INPUTS).st_mode) == 0o600


def test_a_changed_clusterfile_renders_that_cluster_only(runs: Runs, fleet: Path) -> None:
    runs()
    fleet_member(fleet, "beta.yaml", "beta", "pw-beta-new")
    assert runs() == ["beta.yaml"]
    os.utime(fleet / "beta.yaml", (0, 0))  # the same bytes, touched: nothing to do
    assert runs() == []
    (fleet / "beta.yaml").rename(fleet / "delta.yaml")  # another path, the same bytes
    assert runs() == ["delta.yaml"]


def write(path: Path, data: bytes | str) -> str:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


# Each option, and a second value for it; the file an option names changes in place.
OPTION_CHANGES: list[tuple[str, Callable[[Path], list[str]], Callable[[Path], list[str]]]] = [
    ("--name", lambda _: ["--name", "one"], lambda _: ["--name", "two"]),
    ("--namespace", lambda _: ["--namespace", "one"], lambda _: ["--namespace", "two"]),
    ("--username", lambda _: ["--username", "one"], lambda _: ["--username", "two"]),
    (
        "--password-file",
        lambda t: ["--password-for-all", "--password-file", write(t / "pw", "one")],
        lambda t: ["--password-for-all", "--password-file", write(t / "pw", "two")],
    ),
    ("--alias", lambda _: ["--alias", "one.example"], lambda _: ["--alias", "two.example"]),
    (
        "--pull-namespace",
        lambda _: ["--pull-namespace", "one"],
        lambda _: ["--pull-namespace", "two"],
    ),
    (
        "--pull-namespaces-from",
        lambda t: ["--pull-namespaces-from", write(t / "ns", "one\n")],
        lambda t: ["--pull-namespaces-from", write(t / "ns", "one\ntwo\n")],
    ),
    (
        "--exclude-namespace",  # excludes nothing either way: the output is the same
        lambda _: ["--pull-namespace", "x", "--exclude-namespace", "one"],
        lambda _: ["--pull-namespace", "x", "--exclude-namespace", "two"],
    ),
    (
        "--service-account",
        lambda _: ["--pull-namespace", "x", "--service-account", "one"],
        lambda _: ["--pull-namespace", "x", "--service-account", "two"],
    ),
    (
        "--keep-pull-secret",
        lambda _: ["--pull-namespace", "x", "--keep-pull-secret", "one"],
        lambda _: ["--pull-namespace", "x", "--keep-pull-secret", "two"],
    ),
    ("--patch", lambda _: ["--patch", "deploy/one"], lambda _: ["--patch", "deploy/two"]),
    (
        "--ca-file",
        lambda t: ["--ca-file", write(t / "ca.pem", openssl_ca(t / "k1", t / "c1", "one"))],
        lambda t: ["--ca-file", write(t / "ca.pem", openssl_ca(t / "k2", t / "c2", "two"))],
    ),
]


@pytest.mark.parametrize(
    ("option", "first", "second"), OPTION_CHANGES, ids=[c[0] for c in OPTION_CHANGES]
)
def test_a_changed_option_renders_every_cluster(
    runs: Runs,
    tmp_path: Path,
    option: str,
    first: Callable[[Path], list[str]],
    second: Callable[[Path], list[str]],
) -> None:
    arguments = first(tmp_path)
    assert runs(*arguments) == ALL
    assert runs(*arguments) == [], f"{option} unchanged, yet a cluster was rendered"
    assert runs(*second(tmp_path)) == ALL, f"{option} changed, yet a cluster was skipped"


def test_the_password_from_stdin_is_an_input(runs: Runs) -> None:
    assert runs("--password-for-all", "--password-stdin", stdin=b"one\n") == ALL
    assert runs("--password-for-all", "--password-stdin", stdin=b"one\n") == []
    assert runs("--password-for-all", "--password-stdin", stdin=b"two\n") == ALL


def test_sealing_renders_again_only_when_its_certificate_or_scope_changes(
    cli: Cli, fleet: Path, tmp_path: Path, rendered: list[str]
) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    def certificate(name: str) -> str:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30)
        return write(tmp_path / "cert.pem", self_signed_certificate(key.public_key(), key, later))

    out = tmp_path / "out"

    def run(*args: str) -> list[str]:
        rendered.clear()
        result = cli("render", str(fleet), "--out", str(out), *args)
        assert result.code == 0, result.err
        return sorted(rendered)

    cert = certificate("one")
    assert run("--seal-cert", cert) == ALL
    sealed = tree(out)
    # The ciphertext is new in every render: a skipped cluster keeps the last one.
    assert run("--seal-cert", cert) == []
    assert tree(out) == sealed
    assert run("--seal-cert", cert, "--seal-scope", "cluster-wide") == ALL
    assert run("--seal-cert", certificate("two"), "--seal-scope", "cluster-wide") == ALL


def flip_a_byte(path: Path) -> None:
    data = path.read_bytes()
    middle = len(data) // 2
    path.write_bytes(data[:middle] + bytes([data[middle] ^ 0x20]) + data[middle + 1 :])


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda p: p.unlink(), id="deleted"),
        pytest.param(flip_a_byte, id="edited"),
        pytest.param(lambda p: p.write_bytes(p.read_bytes() + b"# mine\n"), id="appended"),
        pytest.param(lambda p: p.chmod(0o644), id="mode"),
        pytest.param(lambda p: os.link(p, p.parents[2] / "hard-link"), id="hard-link"),
        pytest.param(
            lambda p: (
                shutil.copy(p, p.parents[2] / "copy"),
                p.unlink(),
                p.symlink_to(p.parents[2] / "copy"),
            ),
            id="symlink-to-the-same-bytes",
        ),
    ],
)
def test_a_spoiled_output_file_is_rendered_anew(
    runs: Runs, spoil: Callable[[Path], object]
) -> None:
    runs("--pull-namespace", "apps")
    for name in ("secret.yaml", "pull-secrets.yaml", "kustomization.yaml"):
        spoil(runs.out / "gamma" / name)
        assert runs("--pull-namespace", "apps") == ["gamma.yaml"], name
        path = runs.out / "gamma" / name
        assert path.is_file()
        assert not path.is_symlink()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.stat().st_nlink == 1
        for extra in ("hard-link", "copy"):
            (runs.out.parent / extra).unlink(missing_ok=True)


def test_spoiled_fingerprints_or_a_lost_key_render_again(runs: Runs) -> None:
    runs()
    fingerprints = runs.out / INPUTS
    lines = fingerprints.read_text().splitlines(keepends=True)
    beta = next(i for i, line in enumerate(lines) if '"cluster":"beta"' in line)
    digest = lines[beta].split('"digest":"')[1][:64]
    lines[beta] = lines[beta].replace(digest, "0" * 64)
    fingerprints.write_text("".join(lines))
    assert runs() == ["beta.yaml"]
    fingerprints.unlink()
    assert runs() == ALL
    key = Path(os.environ["XDG_CACHE_HOME"]) / "gen-secret" / "fingerprint.key"
    key.unlink()
    assert runs() == ALL
    assert runs() == []
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_no_usable_key_renders_everything_and_writes_no_fingerprints(
    runs: Runs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs()
    cache = tmp_path / "not-a-folder"
    cache.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    assert runs() == ALL
    assert not (runs.out / INPUTS).exists(), "fingerprints without a key stayed behind"


def test_a_new_version_or_changed_code_renders_every_cluster(
    runs: Runs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs()
    monkeypatch.setattr(unchanged, "__version__", "99.0")
    assert runs() == ALL
    # A copy of the package and its templates, as they would be read by the hash.
    package = tmp_path / "copy" / "generator"
    shutil.copytree(unchanged._PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(unchanged._PACKAGE.parent / "templates", package.parent / "templates")
    monkeypatch.setattr(unchanged, "_PACKAGE", package)
    assert runs() == [], "the same code in another place is the same code"
    template = package.parent / "templates" / "serviceaccount.yaml.j2"
    template.write_text(template.read_text() + "\n")
    assert runs() == ALL
    code = package / "plan" / "context.py"
    code.write_text(code.read_text() + "\n")
    assert runs() == ALL


def test_a_ca_found_lost_or_changed_renders_that_cluster(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    files = [fleet_member(fleet, f"{n}.yaml", n) for n in ("alpha", "beta")]
    inputs = [(str(f), f.read_bytes()) for f in files]
    root = tmp_path / "root"
    request = Request(ca_root=root)
    out = tmp_path / "out"

    def run() -> list[str]:
        results, written = unchanged.render_fleet(inputs, request, out)
        write_tree(out, written)
        return sorted(n for n, r in results.items() if not isinstance(r, Skipped))

    assert run() == ["alpha", "beta"]
    assert run() == []
    ca = root / "var/lib/sealer/data/beta/rootfs/certs/sea.hub.crt"
    openssl_ca(tmp_path / "k1", ca, "one")
    assert run() == ["beta"]
    assert b"ca.crt" in (out / "beta" / "secret.yaml").read_bytes()
    assert run() == []
    openssl_ca(tmp_path / "k2", ca, "two")
    assert run() == ["beta"]
    ca.unlink()
    assert run() == ["beta"]
    assert b"ca.crt" not in (out / "beta" / "secret.yaml").read_bytes()


def test_a_new_file_naming_a_skipped_cluster_is_a_duplicate(
    cli: Cli, fleet: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert cli("render", str(fleet), "--out", str(out)).code == 0
    for copy in ("0-first.yaml", "zz-last.yaml"):
        shutil.copy(fleet / "beta.yaml", fleet / copy)
        result = cli("render", str(fleet), "--out", str(out))
        assert result.code == 1
        first, second = sorted([str(fleet / "beta.yaml"), str(fleet / copy)])
        assert f"'beta' is used by both {first} and {second}" in result.err
        (fleet / copy).unlink()


def test_messages_of_a_skipped_cluster_are_said_again(
    cli: Cli, fleet: Path, tmp_path: Path
) -> None:
    (fleet / "beta.yaml").write_text(
        (fleet / "beta.yaml").read_text().replace('password: "pw-beta"', 'password: ""')
    )
    out = tmp_path / "out"
    first = cli("render", str(fleet), "--out", str(out))
    assert first.code == 0
    assert "beta.yaml: registry sea.hub:5000 has a username but an empty password" in first.err
    again = cli("render", str(fleet), "--out", str(out))
    assert (again.code, again.err) == (0, first.err)


def test_a_large_fleet_renders_only_what_changed(tmp_path: Path) -> None:
    files = big_fleet(tmp_path / "fleet")
    out = tmp_path / "out"

    def run() -> dict[str, pipeline.Result | Skipped]:
        inputs = [(str(f), f.read_bytes()) for f in sorted((tmp_path / "fleet").iterdir())]
        results, written = unchanged.render_fleet(inputs, Request(ca_root=tmp_path), out)
        write_tree(out, written)
        return results

    assert not any(isinstance(r, Skipped) for r in run())
    fleet_member(tmp_path / "fleet", files[5].name, files[5].stem, "new")
    fleet_member(tmp_path / "fleet", files[66].name, files[66].stem, "new")
    results = run()
    assert len(results) == BIG
    assert [n for n, r in results.items() if not isinstance(r, Skipped)] == ["c005", "c066"]
    assert list(results) == [f.stem for f in files]  # in input order


def test_fingerprints_hold_no_secret_and_depend_on_the_key(runs: Runs, fleet: Path) -> None:
    runs()
    text = (runs.out / INPUTS).read_bytes()
    for name in ("alpha", "beta", "gamma"):
        password = f"pw-{name}".encode()
        data = (fleet / f"{name}.yaml").read_bytes()
        for secret in (
            password,
            base64.b64encode(password),
            base64.b64encode(b"sealer:" + password),
            hashlib.sha256(password).hexdigest().encode(),
            hashlib.sha256(data).hexdigest().encode(),
            hashlib.sha256((runs.out / name / "secret.yaml").read_bytes()).hexdigest().encode(),
        ):
            assert secret not in text, "the fingerprints hold a password or a plain hash"
    key = Path(os.environ["XDG_CACHE_HOME"]) / "gen-secret" / "fingerprint.key"
    assert not key.is_relative_to(runs.out)
    a = unchanged.Fingerprints(b"a" * 32, Request()).inputs("f", b"data")
    b = unchanged.Fingerprints(b"b" * 32, Request()).inputs("f", b"data")
    assert a != b
