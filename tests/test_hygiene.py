"""A recognisable password never reaches stderr, a warning, a log, an exception or a repr.

Every command runs with that password, in plain and base64 form (standard and URL-safe, at
every byte alignment, and as `user:password`), and only the Secret itself may hold it.
Commands built later (inspect, match, seal) belong in COMMANDS.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import json
import logging
import os
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pyrage
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from generator.app.pipeline import Request, prepare, run
from generator.app.sopsinputs import sops_settings
from generator.errors import GenSecretError
from generator.fleet.pool import run_fleet
from generator.io.output import write_tree
from generator.model import safeyaml
from generator.model.clusterfile import read_clusterfile
from generator.model.matching import match
from generator.model.mergeauths import parse_merge_file
from generator.plan.context import RenderOptions, build_context, secret_entries
from generator.plan.summary import secret_auths, summarise
from generator.render.drift import compare
from tests.conftest import Run, run_script, self_signed_certificate
from tests.test_bad_inputs import BAD_INPUTS, CASES, PASSWORD, USERNAME

# Passwords that only come from the command line's stdin or a password file.
STDIN_PASSWORD = "st0din-Pa55w0rd-41c8e2"
FILE_PASSWORD = "f1le-Pa55w0rd-9d07b6"
SECRETS = (PASSWORD, STDIN_PASSWORD, FILE_PASSWORD)

CLUSTERFILE = f"""\
apiVersion: sealer.io/v2
kind: Cluster
metadata:
  name: hygiene
spec:
  registry:
    localRegistry:
      domain: sea.hub
      port: 5000
      insecure: true
      username: {USERNAME}
      password: {PASSWORD}
"""


def leak_forms(secret: str) -> dict[str, str]:
    """Each text that would show the secret: plain, or base64 of it in any surrounding bytes."""
    forms = {"plain": secret}
    raw = secret.encode()
    for alphabet, encode in (
        ("base64", base64.b64encode),
        ("URL-safe base64", base64.urlsafe_b64encode),
    ):
        # Inside longer data the secret starts at any of 3 byte offsets of a base64 group;
        # the groups made only of its own bytes are then these.
        for shift in range(3):
            chunk = raw[shift:]
            forms[f"{alphabet}, offset {shift}"] = encode(chunk[: len(chunk) // 3 * 3]).decode()
        forms[f"{alphabet} of user:password"] = encode(f"{USERNAME}:{secret}".encode()).decode()
    return forms


def assert_no_secret(text: str, where: str) -> None:
    """Fail, without showing the text, if any secret appears in it in any form."""
    for secret in SECRETS:
        for form, needle in leak_forms(secret).items():
            if needle in text:
                pytest.fail(f"a password reached {where} ({form})", pytrace=False)


# --- Commands through the installed script -------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One command line. Placeholders: {clusterfile} {configmap} {fleet} {out} {password_file}
    {seal_cert}.

    `stdin` may use {password}, {stdin_password} and {clusterfile_text}. When `stdout_is_secret`
    the command prints the Secret itself, so only stderr is checked.
    """

    argv: tuple[str, ...]
    code: int = 0
    stdin: str = ""
    stdout_is_secret: bool = False


COMMANDS: dict[str, Command] = {
    "render to stdout": Command(("render", "{clusterfile}"), stdout_is_secret=True),
    "render --out": Command(("render", "{clusterfile}", "--out", "{out}")),
    "render -o json": Command(("render", "{clusterfile}", "-o", "json"), stdout_is_secret=True),
    "render -o json --out, pull copies and patches": Command(
        (
            "render",
            "{clusterfile}",
            "-o",
            "json",
            "--pull-namespace",
            "apps",
            "--patch",
            "apps/deployment/web",
            "-w",
            "{out}",
        )
    ),
    "render -o json --seal-cert": Command(
        ("render", "{clusterfile}", "-o", "json", "--seal-cert", "{seal_cert}")
    ),
    "render, the password where -o once took a folder": Command(
        ("render", "{clusterfile}", "-o", "{password}"), code=2
    ),
    "render from stdin": Command(
        ("render", "-"), stdin="{clusterfile_text}", stdout_is_secret=True
    ),
    "render the ConfigMap": Command(("render", "{configmap}", "--out", "{out}")),
    "render, Clusterfile found in HOME": Command(("render", "--out", "{out}")),
    "--password-stdin": Command(
        ("render", "{clusterfile}", "--password-stdin", "--out", "{out}"),
        stdin="{stdin_password}\n",
    ),
    "--password-file": Command(
        ("render", "{clusterfile}", "--password-file", "{password_file}", "--out", "{out}")
    ),
    "--password-stdin, two lines": Command(
        ("render", "{clusterfile}", "--password-stdin", "--out", "{out}"),
        stdin="{stdin_password}\n{stdin_password}\n",
        code=1,
    ),
    "--password-stdin with the Clusterfile on stdin": Command(
        ("render", "-", "--password-stdin"), stdin="{clusterfile_text}", code=2
    ),
    "--password-stdin and --password-file": Command(
        ("render", "{clusterfile}", "--password-stdin", "--password-file", "{password_file}"),
        stdin="{stdin_password}\n",
        code=2,
    ),
    "--username with a colon": Command(
        ("render", "{clusterfile}", "--username", "a:b", "--password-stdin"),
        stdin="{stdin_password}\n",
        code=2,
    ),
    "bad --name": Command(("render", "{clusterfile}", "--name", "Bad_Name"), code=2),
    "--out is a file": Command(("render", "{clusterfile}", "--out", "{clusterfile}"), code=1),
    "render --seal-cert": Command(("render", "{clusterfile}", "--seal-cert", "{seal_cert}")),
    "render --seal-cert --out": Command(
        ("render", "{clusterfile}", "--seal-cert", "{seal_cert}", "--out", "{out}")
    ),
    "render --seal-cert, not a certificate": Command(
        ("render", "{clusterfile}", "--seal-cert", "{password_file}"), code=1
    ),
    "render a fleet folder": Command(("render", "{fleet}", "--out", "{out}")),
    "render a fleet, a certificate folder": Command(
        ("render", "{fleet}", "--seal-cert", "{seal_certs}", "--out", "{out}")
    ),
    "render --sops-age": Command(("render", "{clusterfile}", "--sops-age", "{age_recipient}")),
    "render --sops-age --out, twice": Command(
        ("render", "{clusterfile}", "--sops-age", "{age_recipient}", "--out", "{out_again}")
    ),
    "render a fleet --sops": Command(("render", "{fleet}", "--sops", "--out", "{sops_out}")),
    "render --sops, no .sops.yaml": Command(("render", "{clusterfile}", "--sops"), code=1),
    "render --sops-age, the password as recipient": Command(
        ("render", "{clusterfile}", "--sops-age", "{password}"), code=1
    ),
    "render with pull copies and patches": Command(
        (
            "render",
            "{clusterfile}",
            "--pull-namespace",
            "apps",
            "--patch",
            "apps/deployment/web",
            "--out",
            "{out}",
        )
    ),
    "inspect": Command(("inspect", "{clusterfile}")),
    "inspect --output json": Command(("inspect", "{clusterfile}", "--output", "json")),
    "inspect --password-stdin": Command(
        ("inspect", "{clusterfile}", "--password-stdin"), stdin="{stdin_password}\n"
    ),
    "inspect the ConfigMap": Command(("inspect", "{configmap}")),
    "match, served": Command(("match", "{clusterfile}", "--image", "sea.hub:5000/app:1")),
    "match, not served": Command(
        ("match", "{clusterfile}", "--image", "docker.io/library/nginx", "--output", "json"),
        code=1,
    ),
    "match --password-file": Command(
        (
            "match",
            "{clusterfile}",
            "--password-file",
            "{password_file}",
            "--image",
            "sea.hub:5000/app",
        )
    ),
    "match, invalid image": Command(("match", "{clusterfile}", "--image", "UPPER/Case"), code=2),
    "match, the password as -o": Command(
        ("match", "{clusterfile}", "--image", "sea.hub:5000/app", "-o", "{password}"), code=2
    ),
    "inspect, the password as -o": Command(
        ("inspect", "{clusterfile}", "-o", "{password}"), code=2
    ),
    "inspect, the password typed as an extra argument": Command(
        ("inspect", "{clusterfile}", "{password}"), code=2
    ),
    "match, the password typed as an extra argument": Command(
        ("match", "{clusterfile}", "{password}", "--image", "sea.hub:5000/app"), code=2
    ),
    "render --previous-password-file": Command(
        ("render", "{clusterfile}", "--previous-password-file", "{password_file}", "--out", "{out}")
    ),
    "match --previous-password-stdin": Command(
        ("match", "{clusterfile}", "--previous-password-stdin", "-i", "sea.hub:5000/app"),
        stdin="{stdin_password}\n",
    ),
    "inspect --previous-password-file --merge-auths": Command(
        (
            "inspect",
            "{clusterfile}",
            "--previous-password-file",
            "{password_file}",
            "--merge-auths",
            "{merge_file}",
            "--output",
            "json",
        )
    ),
    "match --merge-auths": Command(
        ("match", "{clusterfile}", "--merge-auths", "{merge_file}", "-i", "ghcr.io/a/b")
    ),
    "render --merge-auths --out": Command(
        ("render", "{clusterfile}", "--merge-auths", "{merge_file}", "--out", "{out}")
    ),
    "render --merge-auths, a key the Clusterfile writes": Command(
        ("render", "{clusterfile}", "--merge-auths", "{clash_file}"), code=1
    ),
    "render --merge-auths, auth without a colon": Command(
        ("render", "{clusterfile}", "--merge-auths", "{bad_merge_file}"), code=1
    ),
    "check, nothing changed": Command(("check", "{clusterfile}", "--out", "{rendered}")),
    "check, a new password": Command(
        ("check", "{clusterfile}", "--password-file", "{password_file}", "--out", "{rendered}"),
        code=1,
    ),
    "check --output json, a new password from stdin": Command(
        ("check", "{clusterfile}", "--password-stdin", "--out", "{rendered}", "-o", "json"),
        stdin="{stdin_password}\n",
        code=1,
    ),
    "check, rotation and merged entries added": Command(
        (
            "check",
            "{clusterfile}",
            "--previous-password-stdin",
            "--merge-auths",
            "{merge_file}",
            "--out",
            "{rendered}",
        ),
        stdin="{stdin_password}\n",
        code=1,
    ),
    "check, a sealed folder": Command(
        ("check", "{clusterfile}", "--seal-cert", "{seal_cert}", "--out", "{sealed}")
    ),
    "check, a fleet with a new password": Command(
        (
            "check",
            "{fleet}",
            "--password-for-all",
            "--password-file",
            "{password_file}",
            "--out",
            "{rendered_fleet}",
        ),
        code=1,
    ),
    "check, a bad Clusterfile": Command(
        ("check", "{password_file}", "--out", "{rendered}"), code=2
    ),
    "--help": Command(("render", "--help")),
    "--version": Command(("--version",)),
}

# Known leaks, each with the fix it waits for; strict, so a fix turns the mark red.
KNOWN_LEAKS: dict[str, str] = {}  # name -> reason: a strict xfail until it is fixed


@pytest.fixture(scope="module")
def sealing_certificate() -> bytes:
    """A self-signed RSA certificate, as `kubeseal --fetch-cert` hands one out."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    year = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=365)
    return self_signed_certificate(key.public_key(), key, year)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, sealing_certificate: bytes) -> dict[str, str]:
    """Input files holding the passwords, and folders rendered before, that no command
    writes to: made once for every command."""
    tmp_path = tmp_path_factory.mktemp("hygiene")
    clusterfile = tmp_path / "Clusterfile"
    clusterfile.write_text(CLUSTERFILE, encoding="utf-8")
    password_file = tmp_path / "password.txt"
    password_file.write_text(FILE_PASSWORD + "\n", encoding="utf-8")
    configmap = tmp_path / "configmap.yaml"
    body = "".join(f"    {line}\n" for line in CLUSTERFILE.splitlines())
    configmap.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sealer-clusterfile\n"
        f"  namespace: kube-system\ndata:\n  Clusterfile: |\n{body}",
        encoding="utf-8",
    )
    home = tmp_path / "home"
    (home / ".sealer").mkdir(parents=True)
    (home / ".sealer" / "Clusterfile").write_text(CLUSTERFILE, encoding="utf-8")
    for name in ("east", "west"):
        (tmp_path / "fleet" / name).mkdir(parents=True)
        text = CLUSTERFILE.replace("name: hygiene", f"name: {name}")
        (tmp_path / "fleet" / name / "Clusterfile").write_text(text, encoding="utf-8")
    seal_cert = tmp_path / "sealed-secrets.pem"
    seal_cert.write_bytes(sealing_certificate)
    merged = {"ghcr.io": {"username": "bot", "password": FILE_PASSWORD}}
    (tmp_path / "merge.json").write_text(json.dumps({"auths": merged}))
    clash = {"sea.hub:5000": {"username": "bot", "password": FILE_PASSWORD}}
    (tmp_path / "clash.json").write_text(json.dumps({"auths": clash}))
    no_colon = base64.b64encode(FILE_PASSWORD.encode()).decode()
    (tmp_path / "bad-merge.json").write_text(json.dumps({"auths": {"q.io": {"auth": no_colon}}}))
    # Folders render wrote before, for check to compare with.
    request = Request(ca_root=tmp_path)
    write_tree(tmp_path / "rendered", run(CLUSTERFILE.encode(), "Clusterfile", request).files)
    sealed = replace(request, seal_cert=seal_cert)
    write_tree(tmp_path / "sealed", run(CLUSTERFILE.encode(), "Clusterfile", sealed).files)
    fleet = run_fleet(
        [(str(p), p.read_bytes()) for p in sorted((tmp_path / "fleet").rglob("Clusterfile"))],
        request,
    )
    files = {f"{n}/{rel}": text for n, r in fleet.items() for rel, text in r.files.items()}
    write_tree(tmp_path / "rendered-fleet", files)
    (tmp_path / "certs").mkdir()
    for name in ("east", "west"):
        (tmp_path / "certs" / f"{name}.pem").write_bytes(sealing_certificate)
    recipient = str(pyrage.x25519.Identity.generate().to_public())
    return {
        "rendered": str(tmp_path / "rendered"),
        "rendered_fleet": str(tmp_path / "rendered-fleet"),
        "sealed": str(tmp_path / "sealed"),
        "merge_file": str(tmp_path / "merge.json"),
        "clash_file": str(tmp_path / "clash.json"),
        "bad_merge_file": str(tmp_path / "bad-merge.json"),
        "fleet": str(tmp_path / "fleet"),
        "seal_cert": str(seal_cert),
        "seal_certs": str(tmp_path / "certs"),
        "age_recipient": recipient,
        "clusterfile": str(clusterfile),
        "configmap": str(configmap),
        "password_file": str(password_file),
        "home": str(home),
        "clusterfile_text": CLUSTERFILE,
        "password": PASSWORD,
        "stdin_password": STDIN_PASSWORD,
    }


@pytest.fixture
def workspace(tmp_path: Path, inputs: dict[str, str]) -> Iterator[dict[str, str]]:
    """The placeholders: the shared inputs, and the folders a command may write, its own."""
    (tmp_path / "cwd").mkdir()
    # A .sops.yaml above the output folder.
    (tmp_path / "gitops" / "out").mkdir(parents=True)
    rule = f"creation_rules:\n- age: {inputs['age_recipient']}\n"
    (tmp_path / "gitops" / ".sops.yaml").write_text(rule)
    shared = Path(inputs["clusterfile"]).parent
    before = _entries(shared)
    yield {
        **inputs,
        "out_again": str(tmp_path / "again"),
        "sops_out": str(tmp_path / "gitops" / "out"),
        "out": str(tmp_path / "out"),
        "cwd": str(tmp_path / "cwd"),
    }
    assert _entries(shared) == before, "a command wrote to the inputs every command shares"


def _entries(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def render_again(workspace: dict[str, str]) -> None:
    """An earlier SOPS render in {out_again}, for a command that renders over it."""
    argv = ["render", workspace["clusterfile"], "--sops-age", workspace["age_recipient"]]
    assert run_script(*argv, "--out", workspace["out_again"]).code == 0


def _command_params() -> Iterator[object]:
    for name, command in COMMANDS.items():
        marks = [pytest.mark.xfail(strict=True, reason=r) for r in [KNOWN_LEAKS.get(name)] if r]
        yield pytest.param(command, id=name, marks=marks)


@pytest.mark.parametrize("command", list(_command_params()))
def test_command_never_shows_the_password(command: Command, workspace: dict[str, str]) -> None:
    if "{out_again}" in command.argv:
        render_again(workspace)
    argv = [arg.format(**workspace) for arg in command.argv]
    env = {**os.environ, "HOME": workspace["home"], "PYTHONWARNINGS": "always"}
    result = run_script(
        *argv, stdin=command.stdin.format(**workspace).encode(), cwd=Path(workspace["cwd"]), env=env
    )
    code = result.code  # never assert on `result`: pytest would print its stderr
    assert code == command.code, f"exit code {code}, want {command.code}"
    assert_no_secret(result.err, "stderr")
    if not command.stdout_is_secret:
        assert_no_secret(result.out, "stdout")
    out = Path(workspace["out"])
    if out.is_dir():
        for path in out.rglob("*"):
            if path.is_file():
                check_written_file(path)


def check_written_file(path: Path) -> None:
    """Only Secrets carry the password; kustomizations, patches, ServiceAccounts and sealed
    values do not (a SealedSecret holds ciphertext only)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":  # a List of objects, or one patch
        document = json.loads(text)
        documents = document["items"] if document.get("kind") == "List" else [document]
    elif path.suffix == ".yaml":
        documents = list(yaml.safe_load_all(text))
    else:
        assert_no_secret(text, f"{path.name} in --out")
        return
    for document in documents:
        if isinstance(document, dict) and document.get("kind") == "Secret":
            continue
        assert_no_secret(repr(document), f"a {type(document).__name__} in {path.name}")


# --- Every error path, in-process: stderr, warnings, logs, exceptions ---------------------

# Where a password meets a YAML or type error; `{pw}` is the password.
LEAK_INPUTS: dict[str, str] = {
    "wrong type: list": "password: [{pw}]",
    "wrong type: mapping": "password: {{{pw}: 1}}",
    "wrong type: nested list": "password: [[{pw}], 1]",
    "mapping values in a plain scalar": "password: {pw}: more",
    "unclosed flow sequence": "password: [{pw}",
    "unclosed flow mapping": "password: {{{pw}",
    "unclosed single quote": "password: '{pw}",
    "unclosed double quote": 'password: "{pw}',
    "unknown escape": 'password: "{pw}\\q"',
    "unknown escape of a quote": 'password: "{pw}\\\'"',
    "bad hex escape": 'password: "\\x{pw}"',
    "cannot start a token (@)": "password: @{pw}",
    "cannot start a token (`)": "password: `{pw}",
    "cannot start a token (%)": "password: %{pw}",
    "block indicator": "password: |{pw}",
    "folded indicator": "password: >{pw}",
    "control character": "password: {pw}\x01",
    "BOM inside": "password: {pw}\ufeffx",
    "tab before comment": "password: {pw}\t#x\n      password: again",
    "duplicate key": "password: {pw}\n      password: {pw}",
    "local tag": "password: !{pw}",
    "local tag on a mapping": "password: !{pw} {{a: 1}}",
    "yaml.org tag": "password: !!{pw}",
    "verbatim tag": "password: !<tag:{pw}> x",
    "alias": "password: *{pw}",
    "alias to itself": "password: &{pw} [*{pw}]",
    "anchor only": "password: &{pw}",
    "anchor with bad name char": "password: &{pw}, x",
}


# A value that lost its ': ' in a flow mapping becomes a key; warnings name unknown keys.
FLOW_LEAKS: dict[str, str] = {
    "flow mapping, no space after the colon": "password:{pw}",
    "flow mapping, space instead of colon": "password {pw}",
    "flow mapping, = instead of colon": "password={pw}",
    "flow mapping, the bare password": "{pw}",
}


def flow_input(entry: str, extra: str = "") -> str:
    """A Clusterfile whose localRegistry is a flow mapping ending in this entry, and `extra`
    as another line of spec.registry."""
    entry = entry.format(pw=PASSWORD)
    registry = "{domain: sea.hub, insecure: true, username: " + USERNAME + ", " + entry + "}"
    return (
        "apiVersion: sealer.io/v2\nkind: Cluster\nmetadata:\n  name: hygiene\nspec:\n"
        f"  registry:\n{extra}    localRegistry: {registry}\n"
    )


def leak_input(line: str) -> str:
    """A Clusterfile whose localRegistry has this (indented) line in place of its password."""
    return CLUSTERFILE.replace(f"password: {PASSWORD}", line.format(pw=PASSWORD))


def _corpus_with_password() -> Iterator[object]:
    for case in CASES:
        path = BAD_INPUTS / case.file
        if path.is_file() and PASSWORD.encode() in path.read_bytes():
            yield pytest.param(path.read_bytes(), id=f"corpus {case.id}")
    for name, line in LEAK_INPUTS.items():
        yield pytest.param(leak_input(line).encode(), id=name)
    for name, entry in FLOW_LEAKS.items():
        yield pytest.param(flow_input(entry).encode(), id=name)
    registry_level = flow_input("password: x", extra=f"    {PASSWORD}: 1\n")
    yield pytest.param(registry_level.encode(), id="spec.registry, the bare password")


@pytest.fixture(params=["libyaml", "pure-python"])
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both YAML parsers gen-secret may run on: PyYAML quotes input in its own messages."""
    if request.param == "pure-python":
        monkeypatch.setattr(safeyaml, "Loader", yaml.SafeLoader)
    elif not getattr(yaml, "__with_libyaml__", False):
        pytest.skip("PyYAML is built without libyaml here")
    return str(request.param)


@pytest.mark.parametrize("data", list(_corpus_with_password()))
@pytest.mark.usefixtures("loader")
def test_error_paths_never_show_the_password(
    data: bytes,
    tmp_path: Path,
    cli: Callable[..., Run],
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "Clusterfile"
    path.write_bytes(data)
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = cli("render", str(path), "--out", str(tmp_path / "out"))
        try:
            run(data, "Clusterfile", Request(ca_root=tmp_path))
        except GenSecretError as exc:
            assert_no_secret(str(exc), "the exception message")
            assert_no_secret(repr(exc), "the exception repr")
            assert_no_secret("".join(traceback.format_exception(exc)), "the traceback")
        except Exception as exc:
            # pytest would print the frames' locals, input included: name the type only.
            pytest.fail(f"not a GenSecretError: {type(exc).__name__}", pytrace=False)
    assert_no_secret(result.err, "stderr")
    assert_no_secret(result.out, "stdout")
    assert_no_secret("\n".join(str(w.message) for w in caught), "a warning")
    assert_no_secret(caplog.text, "a log record")


@pytest.mark.parametrize("char", ["q", "'", ",", "]", "-", "<", ">", "!"])
def test_parser_messages_never_quote_input(char: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """PyYAML's own parser quotes the offending character; one character of a password is
    still a leak, so whatever it found is masked, whatever it expected is kept."""
    monkeypatch.setattr(safeyaml, "Loader", yaml.SafeLoader)
    text = leak_input(f'password: "x\\{char}y"')
    with pytest.raises(GenSecretError) as info:
        safeyaml.load_all(text, "Clusterfile")
    message = str(info.value)
    assert message == "invalid YAML: found unknown escape character '…' (Clusterfile:12)"


def test_parser_messages_keep_what_was_expected(monkeypatch: pytest.MonkeyPatch) -> None:
    text = leak_input("password: [a, b")
    for parser in (yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        monkeypatch.setattr(safeyaml, "Loader", parser)
        with pytest.raises(GenSecretError) as info:
            safeyaml.load_all(text, "Clusterfile")
        assert "',' or ']'" in str(info.value), parser.__name__


@pytest.mark.parametrize("parser", ["CSafeLoader", "SafeLoader"])
def test_control_character_is_a_yaml_error_with_its_line(
    parser: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not hasattr(yaml, parser):
        pytest.skip(f"PyYAML has no {parser} here")
    monkeypatch.setattr(safeyaml, "Loader", getattr(yaml, parser))
    # Non-ASCII before it: libyaml counts bytes, PyYAML characters; the line must not care.
    text = "# é ü\n" + leak_input("password: {pw}\x01")
    with pytest.raises(GenSecretError) as info:
        safeyaml.load_all(text, "Clusterfile")
    assert str(info.value) == (
        "invalid YAML: a control character, which YAML does not allow; "
        "write it as an escape in double quotes (Clusterfile:13)"
    )


# --- The parsed values themselves ----------------------------------------------------------


def _dataclass_values(value: object, seen: set[int]) -> Iterator[object]:
    """`value` and every dataclass instance reachable from it through fields and containers."""
    if id(value) in seen:
        return
    seen.add(id(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        yield value
        for f in dataclasses.fields(value):
            yield from _dataclass_values(getattr(value, f.name), seen)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _dataclass_values(item, seen)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _dataclass_values(item, seen)


def test_repr_of_parsed_values_never_shows_the_password(
    tmp_path: Path, sealing_certificate: bytes
) -> None:
    data = CLUSTERFILE.encode()
    cert = tmp_path / "sealed-secrets.pem"
    cert.write_bytes(sealing_certificate)
    documents = safeyaml.load_all(CLUSTERFILE, "Clusterfile")
    cluster = read_clusterfile(data, "Clusterfile")
    request = Request(password=STDIN_PASSWORD, ca_root=tmp_path)
    options = RenderOptions(password=FILE_PASSWORD)
    fanout = Request(
        password=STDIN_PASSWORD,
        ca_root=tmp_path,
        pull_namespaces=("apps",),
        patches=("apps/deployment/web",),
    )
    merge = parse_merge_file(
        json.dumps({"auths": {"ghcr.io": {"username": "u", "password": FILE_PASSWORD}}}).encode(),
        "merge.json",
    )
    rotating = replace(options, previous_password=STDIN_PASSWORD, merged=merge.entries)
    rendered = run(data, "Clusterfile", request).files
    on_disk = run(data, "Clusterfile", replace(request, password=PASSWORD)).files
    drift = compare(
        rendered, {k: v.encode() for k, v in on_disk.items()}, frozenset(on_disk), shown_as="o/"
    )
    # SOPS, and a second render that keeps the first one's files: the identity and the
    # earlier files' bytes are in the settings.
    identity = pyrage.x25519.Identity.generate()
    sops = sops_settings([str(identity.to_public())], None, None, {})
    first = run(data, "Clusterfile", replace(fanout, sops=sops))
    earlier = {name: text.encode() for name, text in first.files.items()}
    sops_again = replace(sops, previous=earlier, identities=(str(identity),))
    roots = [
        merge,
        secret_entries(cluster, rotating),
        build_context(cluster, rotating),
        drift,
        documents,
        cluster,
        request,
        options,
        build_context(cluster, options),
        prepare(data, "Clusterfile", request),
        summarise(cluster, options, ca_root=tmp_path),
        [match("sea.hub:5000/app", secret_auths(cluster, options))],
        run(data, "Clusterfile", request),
        run(data, "Clusterfile", fanout),
        run(data, "Clusterfile", replace(fanout, seal_cert=cert)),
        run(data, "Clusterfile", replace(fanout, sops=sops)),
        sops,
        run(data, "Clusterfile", replace(fanout, sops=sops_again)),
        sops_again,
    ]
    values = list(_dataclass_values(roots, set()))
    kinds = {type(v).__name__ for v in values}
    # The walk must reach the types that hold credentials, or this test proves nothing.
    wanted = {"Document", "Cluster", "Credentials", "SecretObject", "SealedSecretObject"}
    wanted |= {"MergeFile", "MergedEntry", "AuthEntries", "Drift", "FileDrift"}
    wanted |= {"SopsSecretObject", "SopsSettings", "KeptSopsFile"}
    assert wanted | {"Result", "Prepared", "Summary", "MatchResult"} <= kinds
    assert drift.differs, "the drift must hold a diff, or its repr proves nothing"
    for value in values:
        assert_no_secret(repr(value), f"repr() of a {type(value).__name__}")
        assert_no_secret(str(value), f"str() of a {type(value).__name__}")
