"""The conventions kubectl, kubeseal and grep users bring: -o is the format, -w the folder,
JSON output, and exit codes that tell "no" from "could not answer"."""

from __future__ import annotations

import datetime
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.cli.exitcodes import EXIT_CODES
from tests.conftest import (
    FIXTURES,
    ROOT,
    Cli,
    gen_secret_script,
    require_tool,
    run_script,
    self_signed_certificate,
)
from tests.test_inspect_match_cli import read_pty

HA = FIXTURES / "ha-auth-multidoc.yaml"
FIXTURE_NAMES = sorted(p.name for p in FIXTURES.glob("*.yaml"))
FAN_OUT = (
    "--pull-namespace",
    "apps",
    "--pull-namespace",
    "web",
    "--service-account",
    "builder",
    "--alias",
    "registry.lab:5000",
)
PATCHES = ("--patch", "apps/deployment/api", "--patch", "web/cronjob/report")


def yaml_objects(text: str) -> list[Any]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def kustomize(folder: Path) -> list[Any]:
    """What `kubectl kustomize` builds from a folder: the objects `kubectl apply -k` applies."""
    kubectl = require_tool("kubectl", "kubectl is on the machine image")
    built = subprocess.run(
        [kubectl, "kustomize", str(folder)], capture_output=True, timeout=60, check=False
    )
    # kustomize's stderr names files and fields, never Secret values.
    assert built.returncode == 0, built.stderr.decode(errors="replace")[:500]
    return yaml_objects(built.stdout.decode())


def ok(result: Any) -> Any:
    assert result.code == 0, result.err
    return result


# --- render -o json ----------------------------------------------------------------------------


@pytest.mark.parametrize("fan_out", [(), FAN_OUT], ids=["one Secret", "fan-out"])
@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_json_holds_the_objects_of_the_yaml(cli: Cli, name: str, fan_out: tuple[str, ...]) -> None:
    args = (str(FIXTURES / name), *fan_out)
    as_yaml = yaml_objects(ok(cli("render", *args)).out)
    listed = json.loads(ok(cli("render", *args, "-o", "json")).out)
    assert sorted(listed) == ["apiVersion", "items", "kind"]
    assert (listed["apiVersion"], listed["kind"]) == ("v1", "List")
    # Compared without printing: the objects hold (test) credentials.
    same = listed["items"] == as_yaml
    assert same, "the JSON List holds other objects than the YAML stream"


def test_yaml_is_the_default_and_output_yaml_says_so(cli: Cli) -> None:
    default = ok(cli("render", str(HA))).out
    same = ok(cli("render", str(HA), "-o", "yaml")).out == default
    assert same, "-o yaml differs from the default"
    same = ok(cli("render", str(HA), "--output", "yaml")).out == default
    assert same, "--output yaml differs from the default"


@pytest.mark.parametrize("flag", ["-o", "--output"])
def test_json_is_sorted_indented_and_ends_in_a_newline(cli: Cli, flag: str) -> None:
    text = ok(cli("render", str(HA), *FAN_OUT, flag, "json")).out
    assert text.endswith("\n}\n")  # one trailing newline
    assert text.startswith('{\n  "apiVersion": "v1",\n  "items": [\n    {\n')
    # The same text json.dumps gives with sorted keys and a two-space indent.
    canonical = json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    same = text == canonical
    assert same, "the JSON is not sorted with a two-space indent"


def test_json_is_byte_stable_across_processes(tmp_path: Path) -> None:
    runs = {
        ok(run_script("render", str(HA), *FAN_OUT, "-o", "json", cwd=tmp_path)).out
        for _ in range(2)
    }
    assert len(runs) == 1, "two runs gave different bytes"


def test_json_folder_builds_with_kubectl_kustomize(cli: Cli, tmp_path: Path) -> None:
    as_yaml, as_json = tmp_path / "yaml", tmp_path / "json"
    ok(cli("render", str(HA), *FAN_OUT, *PATCHES, "--out", str(as_yaml)))
    ok(cli("render", str(HA), *FAN_OUT, *PATCHES, "-o", "json", "--out", str(as_json)))
    written = sorted(p.relative_to(as_json).as_posix() for p in as_json.rglob("*") if p.is_file())
    assert written == [
        ".gen-secret-files",
        "kustomization.yaml",  # kustomize finds it by this name only
        "patches/apps/deployment-api.json",
        "patches/web/cronjob-report.json",
        "pull-secrets.json",
        "secret.json",
    ]
    (kustomization,) = yaml_objects((as_json / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["secret.json", "pull-secrets.json"]
    built_yaml, built_json = kustomize(as_yaml), kustomize(as_json)
    count = len(built_json)  # not len() in the assert: pytest would print the Secrets
    assert count == 1 + 2 + 2  # the Secret, and a pull copy and a ServiceAccount per namespace
    same = built_json == built_yaml
    assert same, "kustomize builds other objects from the JSON folder than from the YAML one"
    for patch in ("apps/deployment-api", "web/cronjob-report"):
        from_json = json.loads((as_json / f"patches/{patch}.json").read_text())
        (from_yaml,) = yaml_objects((as_yaml / f"patches/{patch}.yaml").read_text())
        assert from_json == from_yaml, f"patch {patch} differs"


def test_json_files_are_lists_and_written_as_safely_as_yaml(cli: Cli, tmp_path: Path) -> None:
    ok(cli("render", str(HA), "-o", "json", "--out", str(tmp_path)))
    secret = json.loads((tmp_path / "secret.json").read_text())
    assert (secret["kind"], [i["kind"] for i in secret["items"]]) == ("List", ["Secret"])
    assert (tmp_path / "secret.json").stat().st_mode & 0o777 == 0o600


def test_switching_format_replaces_the_files_of_the_other(cli: Cli, tmp_path: Path) -> None:
    ok(cli("render", str(HA), *FAN_OUT, "--out", str(tmp_path)))
    before = kustomize(tmp_path)
    ok(cli("render", str(HA), *FAN_OUT, "-w", str(tmp_path), "-o", "json"))
    visible = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    assert visible == ["kustomization.yaml", "pull-secrets.json", "secret.json"]
    same = kustomize(tmp_path) == before
    assert same, "the objects changed with the format"
    ok(cli("render", str(HA), *FAN_OUT, "-w", str(tmp_path)))
    visible = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    assert visible == ["kustomization.yaml", "pull-secrets.yaml", "secret.yaml"]


def test_fleet_writes_json_per_cluster(cli: Cli, tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    for name in ("east", "west"):
        (fleet / name).mkdir(parents=True)
        text = HA.read_text().replace("name: prod-east", f"name: {name}")
        (fleet / name / "Clusterfile").write_text(text)
    out = tmp_path / "out"
    ok(cli("render", str(fleet), "-o", "json", "-w", str(out)))
    for name in ("east", "west"):
        (secret,) = kustomize(out / name)
        assert secret["metadata"]["labels"]["sealer.io/cluster"] == name


def test_sealed_json_holds_sealed_secrets_only(cli: Cli, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    year = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=365)
    cert = tmp_path / "cert.pem"
    cert.write_bytes(self_signed_certificate(key.public_key(), key, year))
    args = (str(HA), "--pull-namespace", "apps", "--seal-cert", str(cert))
    listed = json.loads(ok(cli("render", *args, "-o", "json")).out)
    from_yaml = yaml_objects(ok(cli("render", *args)).out)
    kinds = [(o["kind"], o["metadata"]) for o in listed["items"]]
    assert kinds == [(o["kind"], o["metadata"]) for o in from_yaml]
    assert [k for k, _ in kinds] == ["SealedSecret", "SealedSecret", "ServiceAccount"]
    # Fresh ciphertext on every run; the keys it covers are the same.
    sealed = [sorted(o["spec"]["encryptedData"]) for o in listed["items"][:2]]
    assert sealed == [sorted(o["spec"]["encryptedData"]) for o in from_yaml[:2]]


@pytest.mark.parametrize("count", [0, 1, 3])
def test_a_list_built_item_by_item_is_what_json_dumps_gives(count: int) -> None:
    from generator.plan.objects import ServiceAccountObject
    from generator.render.jsonout import object_list

    labels = (("a", "b\nc"), ("é", '"'))  # a newline and a quote inside strings
    accounts = [ServiceAccountObject(f"sa-{i}", "ns", labels, ("x", "y")) for i in range(count)]
    whole = {"apiVersion": "v1", "kind": "List", "items": [a.expected() for a in accounts]}
    expected = json.dumps(whole, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert object_list(accounts) == expected


# --- -o is the format, -w the folder ----------------------------------------------------------


@pytest.mark.parametrize("value", ["prod/", "out", ".", "YAML", "table", "text", ""], ids=repr)
@pytest.mark.parametrize("flag", ["-o", "--output"])
def test_render_o_with_a_folder_says_what_changed(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: str, value: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("render", str(HA), flag, value)
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "gen-secret: error: -o/--output is the output format now, yaml or json; "
        "write files to a folder with --out DIR or -w DIR\n"
    )
    assert list(tmp_path.iterdir()) == [], "nothing is written"


def test_render_o_is_checked_before_anything_is_read(cli: Cli) -> None:
    # An old `-o DIR` on a pipeline must not swallow stdin first, or fail on the Clusterfile.
    result = cli("render", str(FIXTURES / "does-not-exist.yaml"), "-o", "prod/")
    assert result.code == 2
    assert "-o/--output is the output format now" in result.err


@pytest.mark.parametrize("flag", ["--out", "-w"])
def test_w_is_short_for_out(cli: Cli, tmp_path: Path, flag: str) -> None:
    ok(cli("render", str(HA), flag, str(tmp_path / "rendered")))
    assert sorted(p.name for p in (tmp_path / "rendered").iterdir()) == [
        ".gen-secret-files",
        "kustomization.yaml",
        "secret.yaml",
    ]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["render", str(FIXTURES / "does-not-exist.yaml"), "-o", "json"], 1),
        (["render", str(HA), "-o", "json", "--name", "Bad_Name"], 2),
        (["render", str(HA), "-o", "json", "--patch", "deployment/web"], 2),
        (["render", str(HA), "-o", "json", "--no-such-option"], 2),
    ],
    ids=["missing Clusterfile", "bad --name", "--patch without --out", "unknown option"],
)
def test_render_keeps_its_exit_codes_with_json(cli: Cli, args: list[str], code: int) -> None:
    result = cli(*args)
    assert (result.code, result.out) == (code, "")


def test_help_says_o_is_the_format_and_w_the_folder() -> None:
    help_text = (ROOT / "tests/golden/help/render.txt").read_text()
    assert re.search(r"^  -o, --output yaml\|json ", help_text, re.MULTILINE)
    assert re.search(r"^  -w, --out DIR ", help_text, re.MULTILINE)
    assert "Up to 0.1, -o meant --out; it is now the format." in " ".join(help_text.split())


# --- inspect -o table|plain|json, match -o plain|json ---------------------------------------


@pytest.mark.parametrize(
    ("value", "shape"),
    [("plain", "plain"), ("text", "plain"), ("json", "json"), ("table", "table")],
)
def test_inspect_output_in_a_pipe(cli: Cli, value: str, shape: str) -> None:
    default = ok(cli("inspect", str(HA))).out
    out = ok(cli("inspect", str(HA), "-o", value)).out
    if shape == "plain":
        assert out == default  # without -o, and with the old `text`, a pipe gets plain lines
    elif shape == "json":
        assert json.loads(out)["cluster"] == "prod-east"
    else:
        assert "Secret kube-system/sealer-registry" in out
        assert re.search(r"│ Password\s+│ \*{8}\s+│", out), "no table"


@pytest.mark.parametrize(
    ("value", "table"), [(None, True), ("text", True), ("table", True), ("plain", False)]
)
def test_inspect_output_on_a_terminal(value: str | None, table: bool) -> None:
    option = ["-o", value] if value else []
    code, out = read_pty([gen_secret_script(), "inspect", str(HA), *option])
    assert code == 0
    out = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert ("│ Password" in out) is table
    assert ("Password:    ********" in out) is not table


@pytest.mark.parametrize("value", [None, "plain", "text"])
def test_match_plain_is_the_default_and_text_its_old_name(cli: Cli, value: str | None) -> None:
    option = ("-o", value) if value else ()
    result = cli("match", str(HA), "-i", "sea.hub:5000/app", *option)
    assert (result.code, result.out) == (
        0,
        "sea.hub:5000/app (sea.hub:5000/app:latest): served by sea.hub:5000\n",
    )


@pytest.mark.parametrize("flag", ["-o", "--output"])
def test_match_json_by_either_flag(cli: Cli, flag: str) -> None:
    result = ok(cli("match", str(HA), "-i", "sea.hub:5000/app", flag, "json"))
    assert json.loads(result.out)["images"][0]["served"] is True


@pytest.mark.parametrize(
    ("command", "value", "message"),
    [
        ("inspect", "yaml", "-o/--output must be table, plain or json"),
        ("inspect", "JSON", "-o/--output must be table, plain or json"),
        ("match", "table", "-o/--output must be plain or json"),
        ("match", "yaml", "-o/--output must be plain or json"),
    ],
)
def test_a_format_a_command_cannot_print_is_a_usage_error(
    cli: Cli, command: str, value: str, message: str
) -> None:
    extra = ("-i", "sea.hub:5000/app") if command == "match" else ()
    result = cli(command, str(HA), *extra, "-o", value)
    assert (result.code, result.out, result.err) == (2, "", f"gen-secret: error: {message}\n")


# --- match: 0 served, 1 not served, 2 trouble -----------------------------------------------


@pytest.mark.parametrize(
    ("args", "stdin", "code"),
    [
        (["-i", "sea.hub:5000/app"], b"", 0),
        (["-i", "sea.hub:5000/app", "-i", "sea.hub:5000/other:2"], b"", 0),
        (["-i", "sea.hub:5000/app", "-i", "busybox"], b"", 1),
        (["-i", "sea.hub:5001/app", "-o", "json"], b"", 1),
        (["-i", "UPPER/Case"], b"", 2),
        (["-i", "sea.hub:5000/app", "-i", ""], b"", 2),
        (["-i", "sea.hub:5000/app", "--name", "Bad_Name"], b"", 2),
        (["-i", "sea.hub:5000/app", "--ca-file", "/no/such/ca.crt"], b"", 2),
        (["-i", "sea.hub:5000/app", "--password-stdin"], b"", 2),  # an empty password
        (["-i", "sea.hub:5000/app", "-o", "yaml"], b"", 2),
        (["-i", "sea.hub:5000/app", "--no-such-option"], b"", 2),
        ([], b"", 2),  # no --image
    ],
    ids=[
        "served",
        "all served",
        "one not served",
        "not served, json",
        "invalid image",
        "empty image",
        "bad --name",
        "missing --ca-file",
        "empty --password-stdin",
        "bad -o",
        "unknown option",
        "no image",
    ],
)
def test_match_exit_codes(cli: Cli, args: list[str], stdin: bytes, code: int) -> None:
    result = cli("match", str(HA), *args, stdin=stdin)
    assert result.code == code, result.err


@pytest.mark.parametrize(
    "clusterfile",
    [
        "does-not-exist.yaml",
        "apiVersion: sealer.io/v2\nkind: Cluster\nmetadata: {name: x}\nspec: {registry: 7}\n",
        "kind: [unclosed\n",
    ],
    ids=["missing", "wrong type", "not YAML"],
)
@pytest.mark.parametrize(("command", "code"), [("match", 2), ("inspect", 1), ("render", 1)])
def test_a_bad_clusterfile_is_trouble_for_match_and_an_error_elsewhere(
    cli: Cli, tmp_path: Path, clusterfile: str, command: str, code: int
) -> None:
    path = tmp_path / "Clusterfile"
    if clusterfile != "does-not-exist.yaml":
        path.write_text(clusterfile)
    extra = ["-i", "sea.hub:5000/app"] if command == "match" else []
    result = cli(command, str(path), *extra)
    assert (result.code, result.out) == (code, "")
    assert result.err.startswith("gen-secret: error: ")


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["-i", "sea.hub:5000/app"], 0),
        (["-i", "busybox"], 1),
        (["-i", "UPPER"], 2),
        (["-i", "sea.hub:5000/app", "--ca-file", "/no/such/ca.crt"], 2),
    ],
)
def test_match_exit_codes_of_the_installed_script(args: list[str], code: int) -> None:
    assert run_script("match", str(HA), *args).code == code


# --- one exit-code table per command, in --help and in the README ---------------------------


def readme_tables() -> dict[str, list[tuple[str, str]]]:
    """`### \\`gen-secret CMD\\`` and its `| code | when |` rows, from the README's Exit codes."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    tables: dict[str, list[tuple[str, str]]] = {}
    for block in section.split("\n### ")[1:]:
        heading, _, body = block.partition("\n")
        command = heading.strip("`").removeprefix("gen-secret ")
        rows = [line.strip("|").split("|") for line in body.splitlines() if line.startswith("|")]
        tables[command] = [(c.strip(" `"), w.strip()) for c, w in rows[2:]]
    return tables


def commands() -> list[str]:
    from generator.cli.app import typer_app

    registered = typer_app().registered_commands
    return [c.name or (c.callback.__name__ if c.callback else "") for c in registered]


def test_every_command_has_an_exit_code_table() -> None:
    # A new command adds its rows to generator/cli/exitcodes.py and its table to the README.
    assert sorted(EXIT_CODES) == sorted(commands())
    assert sorted(readme_tables()) == sorted(commands())


@pytest.mark.parametrize("command", sorted(EXIT_CODES))
def test_readme_table_is_the_help_table(command: str) -> None:
    assert readme_tables()[command] == list(EXIT_CODES[command])


@pytest.mark.parametrize("command", sorted(EXIT_CODES))
@pytest.mark.parametrize("rich", [True, False], ids=["rich help", "plain help"])
def test_help_shows_the_exit_code_table(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, command: str, rich: bool
) -> None:
    if rich:  # what users see: typer's rich help, here 80 columns wide
        monkeypatch.setenv("COLUMNS", "80")
        monkeypatch.setenv("NO_COLOR", "1")
        text = ok(cli(command, "--help")).out
    else:  # click's plain help, as the goldens hold it
        text = (ROOT / f"tests/golden/help/{command}.txt").read_text()
    lines = [line.strip() for line in text.splitlines()]
    start = lines.index("Exit codes:")
    rows = [re.split(r"\s{2,}", line, maxsplit=1) for line in lines[start + 1 :]]
    shown = [tuple(row) for row in rows[: len(EXIT_CODES[command])]]
    assert shown == list(EXIT_CODES[command])


# --- exit codes 2 and 3: usage and internal errors ------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("--name", "Bad_Name"),
        ("--namespace", "-x"),
        ("--alias", "https://x"),
        ("--username", "a:b"),
        ("--pull-namespace", "UPPER"),
        ("--service-account", "bad name", "--pull-namespace", "apps"),
    ],
    ids=lambda a: a[0],
)
def test_every_malformed_option_value_is_usage(cli: Cli, args: tuple[str, ...]) -> None:
    result = cli("render", str(FIXTURES / "insecure-custom.yaml"), *args)
    assert result.code == 2, result.err
    assert len(result.err.splitlines()) == 1


@pytest.mark.parametrize("command", ["render", "inspect", "match", "check"])
def test_a_bug_is_exit_3_in_one_line_and_a_traceback_only_when_asked(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: str
) -> None:
    from generator.app import pipeline

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("a value from the input")

    monkeypatch.setattr(pipeline, "prepare", broken)
    monkeypatch.setattr(pipeline, "run", broken)
    extra = {"match": ["-i", "sea.hub:5000/app"], "check": ["--out", str(tmp_path)]}
    args = [command, str(HA), *extra.get(command, [])]
    result = cli(*args)
    assert result.code == 3
    assert result.err.splitlines() == [
        "gen-secret: error: internal error: KeyError; please report it "
        "(see SECURITY.md for where and how)"
    ]
    monkeypatch.setenv("GEN_SECRET_DEBUG", "1")
    debug = cli(*args)
    assert debug.code == 3
    assert "Traceback (most recent call last)" in debug.err
