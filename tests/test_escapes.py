"""Everything shown is escaped: a value from a Clusterfile, a file name or an image reference can
never make the terminal clear the screen, retitle itself, or reorder what a line says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import tests.test_inspect_match_cli as inspect_cli
from generator.model.names import printable
from tests.conftest import FIXTURES, HERE, Cli, gen_secret_script

# A terminal title (OSC ... BEL), clear screen (CSI 2J), a right-to-left override, an isolate.
CLUSTER_NAME = "lab\x1b]0;owned\x07\u202eevil"
USERNAME = "adm\x1b[2Jin\u2066[bold]x"
ACTIVE = re.compile("[\x00-\x08\x0b-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    path = tmp_path / "Clusterfile"
    path.write_text(
        "apiVersion: sealer.io/v2\nkind: Cluster\n"
        f"metadata:\n  name: {json.dumps(CLUSTER_NAME)}\n"
        "spec:\n  registry:\n    localRegistry:\n"
        f"      username: {json.dumps(USERNAME)}\n      password: pw\n",
        encoding="utf-8",
    )
    return path


def test_printable_escapes_what_a_terminal_acts_on() -> None:
    assert printable(CLUSTER_NAME) == "lab\\x1b]0;owned\\x07\\u202eevil"
    assert printable("plain é text") == "plain é text"
    assert printable("bytes \udcff kept") == "bytes \udcff kept"


def test_inspect_text_escapes_values(cli: Cli, hostile: Path) -> None:
    result = cli("inspect", str(hostile))
    assert result.code == 0, result.err
    assert not ACTIVE.search(result.out + result.err)
    fields = inspect_cli.fields(result.out)
    assert fields["Cluster"] == "lab\\x1b]0;owned\\x07\\u202eevil"
    assert fields["Username"] == "adm\\x1b[2Jin\\u2066[bold]x"


def test_inspect_json_is_inert_on_a_screen_and_exact_for_a_reader(cli: Cli, hostile: Path) -> None:
    result = cli("inspect", str(hostile), "--output", "json")
    assert result.code == 0, result.err
    assert not ACTIVE.search(result.out)
    document = json.loads(result.out)
    assert (document["cluster"], document["username"]) == (CLUSTER_NAME, USERNAME)


def test_inspect_on_a_terminal_escapes_values_and_markup(hostile: Path) -> None:
    code, out = inspect_cli.read_pty([gen_secret_script(), "inspect", str(hostile)])
    assert code == 0
    # rich styles its own text with SGR sequences (ESC [ ... m); nothing else may be there.
    assert not ACTIVE.search(re.sub(r"\x1b\[[0-9;]*m|\r\n", "", out))
    assert "owned\\x07" in out
    assert "[bold]x" in out, "a value was read as rich markup"


def test_notes_and_warnings_escape_file_names(cli: Cli, tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    text = (HERE / "sealer_reads" / "duplicate-key.yaml").read_text(encoding="utf-8")  # warns
    for name in ("east", "west"):
        clusterfile = fleet / f"{name}\x1b[2J\u202e.yaml"
        clusterfile.write_text(text.replace("name: corpus", f"name: {name}"))
    result = cli("render", str(fleet), "--out", str(tmp_path / "out"))
    assert result.code == 0, result.err
    assert "warning" in result.err
    assert not ACTIVE.search(result.err)
    assert "east\\x1b[2J\\u202e.yaml: " in result.err


def test_match_escapes_what_it_shows(cli: Cli) -> None:
    result = cli(
        "match", str(FIXTURES / "ha-auth-multidoc.yaml"), "--image", "sea.hub:5000/a\x1b[2J"
    )
    assert result.code == 2
    assert not ACTIVE.search(result.out + result.err)
