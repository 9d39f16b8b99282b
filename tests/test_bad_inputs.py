"""Every bad input gets one clear error line, fast, from the installed script; nothing is written.

The corpus lives in tests/bad_inputs/; cases that need the file system (a folder, a file over the
size limit, an unreadable file) are made by the test. Each case runs twice: with `--out` holding an
earlier good render, which must stay byte-identical, and with `--out` not yet there, which must
stay absent.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, HERE, run_script

BAD_INPUTS = HERE / "bad_inputs"
CORPUS = frozenset(path.name for path in BAD_INPUTS.iterdir())
GOOD = FIXTURES / "insecure-custom.yaml"  # renders with nothing at all on stderr
# Catches hangs only: an answer normally takes a fraction of this, but CI machines are shared.
HANG_LIMIT_SECONDS = 5.0
# The corpus's recognisable credentials; tests/test_hygiene.py looks for them on stderr.
PASSWORD = "hyg1ene-Pa55w0rd-7f3a9c"
USERNAME = "hyg1ene-user"
MAX_BYTES = 10 * 1024 * 1024  # the documented input limit (generator/model/safeyaml.py)
ERROR_PREFIX = "gen-secret: error: "


@dataclass(frozen=True)
class Case:
    """One bad input and the single line it must produce.

    `file` is a name in tests/bad_inputs/ or `@maker` (see `_make_input`); `where` is the text in
    the line's closing parentheses (`field.path at file:line`), None when the line has none;
    `out` says what `--out` is (see `_make_out`).
    """

    file: str
    message: str
    where: str | None
    args: tuple[str, ...] = ()
    code: int = 1
    out: str = "folder"

    @property
    def id(self) -> str:
        parts = [self.file.removeprefix("@").removesuffix(".yaml"), *self.args]
        if self.out != "folder":
            parts.append(f"out-{self.out}")
        return re.sub(r"[^A-Za-z0-9]+", "-", "-".join(parts)).strip("-")


LOCAL = "spec.registry.localRegistry"

CASES = [
    # Empty or not YAML at all.
    Case("empty.yaml", "empty file: no kind: Cluster document", "empty.yaml"),
    Case("only-dashes.yaml", "empty file: no kind: Cluster document", "only-dashes.yaml"),
    Case("only-comments.yaml", "empty file: no kind: Cluster document", "only-comments.yaml"),
    Case("not-yaml.yaml", "invalid YAML: mapping values are not allowed", "not-yaml.yaml:2"),
    Case("tab-indent.yaml", "invalid YAML: found character that cannot start", "tab-indent.yaml:4"),
    Case("unclosed-flow.yaml", "invalid YAML: did not find expected", "unclosed-flow.yaml:4"),
    Case("invalid-utf8.yaml", "not valid UTF-8", "invalid-utf8.yaml:8"),
    Case("latin1.yaml", "not valid UTF-8", "latin1.yaml:4"),
    Case("utf16.yaml", "binary data, not a YAML file", "utf16.yaml:1"),
    Case("binary-nul.yaml", "binary data, not a YAML file", "binary-nul.yaml:1"),
    # The wrong shape.
    Case("top-list.yaml", "top level must be a mapping, not a list", "top-list.yaml:1"),
    Case("top-scalar.yaml", "top level must be a mapping, not a scalar", "top-scalar.yaml:1"),
    Case("no-cluster.yaml", "no kind: Cluster document", "no-cluster.yaml"),
    Case("spec-list.yaml", "must be a mapping, not a list", "spec at spec-list.yaml:5"),
    Case(
        "registry-string.yaml",
        "must be a mapping, not a string",
        "spec.registry at registry-string.yaml:6",
    ),
    Case(
        "localregistry-list.yaml",
        "must be a mapping, not a list",
        f"{LOCAL} at localregistry-list.yaml:7",
    ),
    # Ports.
    Case(
        "port-string.yaml", "must be a number, not a string", f"{LOCAL}.port at port-string.yaml:9"
    ),
    Case(
        "port-decimal.yaml",
        "must be a number, not a decimal number",
        f"{LOCAL}.port at port-decimal.yaml:9",
    ),
    Case("port-bool.yaml", "must be a number, not a boolean", f"{LOCAL}.port at port-bool.yaml:9"),
    Case(
        "port-too-big.yaml",
        "port must be between 1 and 65535",
        f"{LOCAL}.port at port-too-big.yaml:9",
    ),
    Case(
        "port-negative.yaml",
        "port must be between 1 and 65535",
        f"{LOCAL}.port at port-negative.yaml:9",
    ),
    # Domains and usernames.
    Case(
        "domain-space.yaml",
        "domain must not contain spaces",
        f"{LOCAL}.domain at domain-space.yaml:8",
    ),
    Case(
        "domain-scheme.yaml",
        "domain must not contain a scheme such as https://",
        f"{LOCAL}.domain at domain-scheme.yaml:8",
    ),
    Case(
        "domain-path.yaml",
        "domain must not contain a path or '/'",
        f"{LOCAL}.domain at domain-path.yaml:8",
    ),
    Case(
        "domain-slash.yaml",
        "domain must not contain a path or '/'",
        f"{LOCAL}.domain at domain-slash.yaml:8",
    ),
    Case(
        "domain-port.yaml",
        "domain must not contain a port",
        f"{LOCAL}.domain at domain-port.yaml:8",
    ),
    Case(
        "domain-underscore.yaml",
        "domain is not a valid host name or IP address",
        f"{LOCAL}.domain at domain-underscore.yaml:8",
    ),
    Case(
        "username-colon.yaml",
        "username must not contain ':'",
        f"{LOCAL}.username at username-colon.yaml:10",
    ),
    Case(
        "external-no-domain.yaml",
        "external registry domain can not be empty",
        "spec.registry.externalRegistry.domain at external-no-domain.yaml:7",
    ),
    Case(
        "san-not-ip.yaml",
        "not an IP address",
        f"{LOCAL}.cert.subjectAltName.ips[0] at san-not-ip.yaml:14",
    ),
    # Booleans and credentials that YAML reads as something else: never converted silently.
    Case(
        "ha-string.yaml", "must be true or false, not a string", f"{LOCAL}.ha at ha-string.yaml:12"
    ),
    Case(
        "insecure-number.yaml",
        "must be true or false, not a number",
        f"{LOCAL}.insecure at insecure-number.yaml:12",
    ),
    Case(
        "password-octal.yaml",
        "must be a string, not a number; put it in quotes",
        f"{LOCAL}.password at password-octal.yaml:11",
    ),
    Case(
        "password-bool.yaml",
        "must be a string, not a boolean; put it in quotes",
        f"{LOCAL}.password at password-bool.yaml:11",
    ),
    Case(
        "password-mapping.yaml",
        "must be a string, not a mapping; put it in quotes",
        f"{LOCAL}.password at password-mapping.yaml:11",
    ),
    Case(
        "password-list.yaml",
        "must be a string, not a list; put it in quotes",
        f"{LOCAL}.password at password-list.yaml:11",
    ),
    Case(
        "username-number.yaml",
        "must be a string, not a number; put it in quotes",
        f"{LOCAL}.username at username-number.yaml:10",
    ),
    Case(
        "undefined-alias.yaml",
        "undefined alias (a value that starts with * must be quoted)",
        f"{LOCAL}.password at undefined-alias.yaml:11",
    ),
    # The ConfigMap wrapper and the legacy registry.yml Config.
    Case(
        "configmap-no-key.yaml",
        "ConfigMap has no data.Clusterfile text",
        "data.Clusterfile at configmap-no-key.yaml:6",
    ),
    Case(
        "configmap-broken-body.yaml",
        "invalid YAML: did not find expected",
        "configmap-broken-body.yaml:21",
    ),
    Case("legacy-broken-data.yaml", "must be a number, not a string", None),
    # Tags that would run code or build objects in an unsafe loader.
    Case(
        "python-object-tag.yaml",
        "unsupported YAML tag !!python/object/apply",
        f"{LOCAL}.password at python-object-tag.yaml:11",
    ),
    Case(
        "python-name-tag.yaml",
        "unsupported YAML tag !!python/name",
        "metadata.annotations at python-name-tag.yaml:5",
    ),
    Case(
        "binary-tag.yaml",
        "unsupported YAML tag !!binary",
        f"{LOCAL}.password at binary-tag.yaml:11",
    ),
    # Hostile sizes and shapes: each must be refused within the limits, and fast.
    Case(
        "alias-bomb-metadata.yaml",
        "YAML aliases expand to more than",
        "metadata.annotations.l3[7] at alias-bomb-metadata.yaml:9",
    ),
    Case(
        "alias-bomb-merge-keys.yaml",
        "YAML aliases expand to more than",
        f"{LOCAL}.m3.x1 at alias-bomb-merge-keys.yaml:15",
    ),
    Case(
        "alias-bomb-other-document.yaml",
        "YAML aliases expand to more than",
        "spec.l3[7] at alias-bomb-other-document.yaml:21",
    ),
    Case(
        "alias-bomb-configmap.yaml",
        "YAML aliases expand to more than",
        "spec.l3[7] at alias-bomb-configmap.yaml:25",
    ),
    Case("nesting-10000-flow.yaml", "exceeded maximum nesting depth", "nesting-10000-flow.yaml:6"),
    Case(
        "nesting-10000-map.yaml",
        "nested deeper than 100 levels",
        "spec.a.a.a.a.….a.a at nesting-10000-map.yaml:5",
    ),
    Case(
        "nesting-150-block.yaml",
        "nested deeper than 100 levels",
        "spec.k0.k1.k2.k3.….k97.k98 at nesting-150-block.yaml:105",
    ),
    Case("@too-big", "file is larger than 10 MiB", "big.yaml"),
    # Within the size limit, but millions of nodes: refused at the node limit, not parsed on.
    Case("@many-documents", "more than 200000 YAML nodes", None),
    Case("@many-nodes", "more than 200000 YAML nodes", None),
    Case("@dev-zero", "file is larger than 10 MiB", "/dev/zero"),
    Case("@stdin-too-big", "file is larger than 10 MiB", "<stdin>"),
    # Not a readable file.
    # A folder is scanned for Clusterfiles (fleet mode); an empty one holds none.
    Case("@directory", "no file with a kind: Cluster document", "Clusterfile.d"),
    # A fleet is all or nothing: one bad Clusterfile in the folder, and no cluster is written.
    Case(
        "@fleet",
        "port must be between 1 and 65535",
        f"{LOCAL}.port at fleet/b/Clusterfile:9",
    ),
    Case("@missing", "cannot read file: No such file or directory", "missing.yaml"),
    Case("@unreadable", "cannot read file: Permission denied", "unreadable.yaml"),
    Case("@io-error", "cannot read file: Input/output error", "/proc/self/mem"),
    # Bad options.
    Case(
        "@good",
        "CA file is not a PEM certificate",
        "--ca-file ca-not-pem.crt",
        ("--ca-file", "ca-not-pem.crt"),
    ),
    Case(
        "@good",
        "CA file is not a PEM certificate",
        "--ca-file ca-private-key-only.pem",
        ("--ca-file", "ca-private-key-only.pem"),
    ),
    Case(
        "@good",
        "CERTIFICATE block that is not base64",
        "--ca-file ca-bad-base64.pem",
        ("--ca-file", "ca-bad-base64.pem"),
    ),
    Case("@good", "is a directory, not a file", "--ca-file .", ("--ca-file", ".")),
    Case(
        "@good",
        "CA file is larger than 1 MiB",
        "--ca-file /dev/zero",
        ("--ca-file", "/dev/zero"),
    ),
    Case("@good", "invalid name", "--name", ("--name", "Not_A_Name"), code=2),
    Case("@good", "invalid namespace", "--namespace", ("--namespace", "kube.system"), code=2),
    # A value is quoted on one line and cut short: the line stays readable.
    Case(
        "@good", f"invalid name '{'n' * 64}'…: lower-case", "--name", ("--name", "n" * 5000), code=2
    ),
    Case("@good", "invalid name 'two\\nlines'", "--name", ("--name", "two\nlines"), code=2),
    Case(
        "@good", "username must not contain ':'", "--username", ("--username", "robot:ci"), code=2
    ),
    Case(
        "@good",
        "--password-stdin and --password-file cannot be used together",
        None,
        ("--password-stdin", "--password-file", "pw.txt"),
        code=2,
    ),
    Case("@good", "No such option: --pasword", None, ("--pasword", "x"), code=2),
    # `--out` that cannot take the files.
    Case("@good", "--out is not a folder", "../out", out="file"),
    Case(
        "@good", "cannot create --out folder: Not a directory", "../out-file/sub", out="below-file"
    ),
    Case("@good", "--out folder is not writable", "../out", out="readonly"),
    # A folder where a file goes: refused before anything is written, not half-way through.
    Case(
        "@good",
        "a folder is in the way of a file to write",
        "../out/secret.yaml",
        out="secret-is-folder",
    ),
    Case(
        "@good",
        "a folder is in the way of a file to write",
        "../out/kustomization.yaml",
        out="kustomization-is-folder",
    ),
]


@pytest.fixture(scope="module")
def good_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding what `render --out` wrote for the good Clusterfile."""
    folder = tmp_path_factory.mktemp("good") / "out"
    result = run_script("render", str(GOOD), "--out", str(folder))
    assert result.code == 0, "the good Clusterfile does not render"
    assert sorted(p.name for p in folder.iterdir()) == [
        ".gen-secret-files",
        "kustomization.yaml",
        "secret.yaml",
    ]
    return folder


def snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """Every entry below `root`: kind, mode, mtime, bytes or link target; links are not followed."""
    entries: dict[str, tuple[object, ...]] = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in [*dirs, *files]:
            path = Path(folder, name)
            info = path.lstat()
            rel = str(path.relative_to(root))
            if path.is_symlink():
                entries[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                entries[rel] = ("dir", info.st_mode, info.st_mtime_ns)
            else:
                entries[rel] = ("file", info.st_mode, info.st_mtime_ns, info.st_size, _bytes(path))
    return entries


def _bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except PermissionError:
        return None  # the unreadable case, when not root: mode, size and mtime still compared


def no_dac_prefix(probe: Path, test_flag: str) -> list[str]:
    """As root, a command prefix that drops root's right to read and write any file.

    chmod 000 does not stop root (CI runs as root), so there the script runs under `setpriv`
    without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH; when that is impossible the case skips.
    """
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root, where chmod 000 does not stop reading; setpriv is missing")
    prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
    check = subprocess.run(
        [*prefix, "test", test_flag, str(probe)], capture_output=True, check=False
    )
    if check.returncode == 0:
        pytest.skip("running as root, and setpriv cannot drop CAP_DAC_OVERRIDE in this container")
    return prefix


def _make_input(case: Case, inputs: Path) -> tuple[str, bytes, Path | None]:
    """The Clusterfile argument, stdin, and a path that must be unreadable (or None).

    The folder holds the good Clusterfile, the password file, and the corpus files the case
    names (as its file or in its arguments), so a run that writes anywhere beside them shows."""
    inputs.mkdir()
    for name in CORPUS.intersection((case.file, *case.args)):
        shutil.copyfile(BAD_INPUTS / name, inputs / name)
    good = inputs / "Clusterfile"
    shutil.copyfile(GOOD, good)
    (inputs / "pw.txt").write_text(PASSWORD + "\n", encoding="utf-8")
    if not case.file.startswith("@"):
        return case.file, b"", None
    kind = case.file[1:]
    if kind == "good":
        return good.name, b"", None
    if kind == "too-big":
        text = good.read_bytes()
        (inputs / "big.yaml").write_bytes(text + b"#" * (MAX_BYTES + 1 - len(text)))
        return "big.yaml", b"", None
    if kind == "many-documents":
        (inputs / "docs.yaml").write_bytes(b"---\n" * (MAX_BYTES // 4))
        return "docs.yaml", b"", None
    if kind == "many-nodes":
        text = good.read_bytes() + b"extra:\n"
        (inputs / "nodes.yaml").write_bytes(text + b"- a\n" * ((MAX_BYTES - len(text)) // 4))
        return "nodes.yaml", b"", None
    if kind == "dev-zero":
        return "/dev/zero", b"", None
    if kind == "stdin-too-big":
        return "-", good.read_bytes() + b"\n" + b"# padding\n" * (MAX_BYTES // 10), None
    if kind == "directory":
        (inputs / "Clusterfile.d").mkdir()
        return "Clusterfile.d", b"", None
    if kind == "fleet":
        for name, source in (("a", GOOD), ("b", BAD_INPUTS / "port-too-big.yaml")):
            (inputs / "fleet" / name).mkdir(parents=True)
            shutil.copyfile(source, inputs / "fleet" / name / "Clusterfile")
        return "fleet", b"", None
    if kind == "missing":
        return "missing.yaml", b"", None
    if kind == "unreadable":
        unreadable = inputs / "unreadable.yaml"
        shutil.copyfile(GOOD, unreadable)
        unreadable.chmod(0)
        return unreadable.name, b"", unreadable
    if kind == "io-error":
        # Reading /proc/self/mem from offset 0 fails with EIO: unreadable even for root.
        if not Path("/proc/self/mem").exists():
            pytest.skip("no /proc/self/mem on this system")
        return "/proc/self/mem", b"", None
    raise AssertionError(f"unknown maker {case.file}")


def _make_out(case: Case, root: Path, good_output: Path, fresh: bool) -> tuple[str, Path | None]:
    """The `--out` argument (relative to the inputs folder), and a folder that must be read-only."""
    out = root / "out"
    if case.out == "folder":
        if not fresh:
            shutil.copytree(good_output, out)
        return "../out", None
    if case.out == "file":
        out.write_text("an earlier file, not a folder\n", encoding="utf-8")
        return "../out", None
    if case.out == "below-file":
        (root / "out-file").write_text("a file\n", encoding="utf-8")
        return "../out-file/sub", None
    if case.out in ("secret-is-folder", "kustomization-is-folder"):
        shutil.copytree(good_output, out)
        name = case.out.removesuffix("-is-folder") + ".yaml"
        (out / name).unlink()
        (out / name).mkdir()
        return "../out", None
    if case.out == "readonly":
        shutil.copytree(good_output, out)
        out.chmod(0o500)
        return "../out", out
    raise AssertionError(f"unknown --out kind {case.out}")


@pytest.fixture
def restore_modes(tmp_path: Path) -> Iterator[None]:
    yield
    # Let pytest clean up: give back what the unreadable and read-only cases took away.
    for path in [tmp_path, *tmp_path.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o700)


def _show(text: str) -> str:
    # Failure messages may quote stderr; never let them carry the corpus password.
    return text.replace(PASSWORD, "<password>")


def _params() -> list[object]:
    params = []
    for case in CASES:
        params.append(pytest.param(case, False, id=case.id))
        if case.out == "folder":
            params.append(pytest.param(case, True, id=f"{case.id}-fresh-out"))
    return params


@pytest.mark.parametrize(("case", "fresh"), _params())
@pytest.mark.usefixtures("restore_modes")
def test_bad_input(case: Case, fresh: bool, tmp_path: Path, good_output: Path) -> None:
    inputs = tmp_path / "in"
    clusterfile, stdin, unreadable = _make_input(case, inputs)
    out, readonly = _make_out(case, tmp_path, good_output, fresh)
    args = [a.replace("{good}", "Clusterfile") for a in case.args]
    prefix: list[str] = []
    if unreadable is not None:
        prefix = no_dac_prefix(unreadable, "-r")
    elif readonly is not None:
        prefix = no_dac_prefix(readonly, "-w")
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    before = snapshot(tmp_path)

    started = time.monotonic()
    result = run_script(
        "render", clusterfile, *args, "--out", out, stdin=stdin, cwd=inputs, env=env, prefix=prefix
    )
    elapsed = time.monotonic() - started

    check_one_error_line(result.code, result.out, _show(result.err), case)
    assert elapsed < HANG_LIMIT_SECONDS, f"took {elapsed:.1f} s: a hang?"
    after = snapshot(tmp_path)
    added = sorted(set(after) - set(before))
    assert not added, f"the failed run left new files behind: {added}"
    changed = sorted(k for k in before if before[k] != after.get(k))
    assert not changed, f"the failed run changed or removed: {changed}"


def check_one_error_line(code: int, out: str, err: str, case: Case) -> None:
    """Exit code, and exactly one stderr line: prefix, message fragment, location, no traceback.

    Takes stderr already passed through `_show`: pytest prints the arguments of a failing frame.
    """
    assert code == case.code, f"exit code {code}, want {case.code}; stderr: {err!r}"
    assert out == "", "nothing may go to stdout when --out is given"
    assert "Traceback" not in err, f"a traceback: {err!r}"
    lines = err.splitlines()
    assert len(lines) == 1, f"want exactly one line on stderr, got {len(lines)}: {err!r}"
    line = lines[0]
    assert line.startswith(ERROR_PREFIX), f"not a gen-secret error line: {line!r}"
    assert case.message in line, f"{case.message!r} not in {line!r}"
    if case.where is not None:
        assert line.endswith(f"({case.where})"), f"want the location ({case.where}): {line!r}"
    assert len(line) < 300, f"an error line of {len(line)} characters is not readable"


def test_corpus_covers_every_file() -> None:
    """Each file in tests/bad_inputs/ is used by a case, and there are at least 30 cases."""
    used = {c.file for c in CASES} | {a for c in CASES for a in c.args}
    unused = sorted(CORPUS - used)
    assert not unused, f"corpus files no case uses: {unused}"
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES), "two cases share an id"


def test_a_fifo_in_a_scanned_folder_is_skipped_not_read(tmp_path: Path) -> None:
    """Reading a FIFO nobody writes to would wait forever; a scan must not open one."""
    fleet = tmp_path / "fleet"
    (fleet / "lab").mkdir(parents=True)
    shutil.copyfile(GOOD, fleet / "lab" / "Clusterfile")
    os.mkfifo(fleet / "pipe.yaml")
    started = time.monotonic()
    result = run_script("render", str(fleet), "--out", str(tmp_path / "out"), timeout=10)
    assert time.monotonic() - started < HANG_LIMIT_SECONDS, "waited on the FIFO"
    assert result.code == 0, _show(result.err)
    assert (tmp_path / "out" / "lab" / "secret.yaml").is_file()
