"""The same input gives the same bytes under any hash seed, locale and time zone.

Run through the installed script, as a CI job or a user's shell would, with the environment
changed one way at a time. Sealed output is left out: its ciphertext is random by design.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, run_script

# Non-ASCII credentials and a non-ASCII file name: encodings must not depend on the locale.
CLUSTERFILE = """\
apiVersion: sealer.io/v2
kind: Cluster
metadata:
  name: zürich
spec:
  env:
    - LocalRegistryURL=sea.hub:5001
  registry:
    localRegistry:
      domain: sea.hub
      port: 5000
      insecure: true
      username: "bénédicte"
      password: "pässwörd-日本語-😀<&>"
      typo: 1
    externalRegistry:
      domain: harbor.example.com
      username: robot
      password: "h4rb0r-Ω"
"""

BASE = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "PYTHONHASHSEED": "0",
    "LC_ALL": "C.UTF-8",
    "TZ": "UTC",
}
VARIANTS = {
    "hash seed 1": {"PYTHONHASHSEED": "1"},
    "hash seed random": {"PYTHONHASHSEED": "random"},
    "LC_ALL=C": {"LC_ALL": "C"},
    # The C locale without Python's UTF-8 coercion: stdio falls back to ASCII.
    "LC_ALL=C, no UTF-8 mode": {"LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"},
    "LANG only, no LC_ALL": {"LC_ALL": "", "LANG": "C.UTF-8"},
    "TZ=Pacific/Kiritimati (UTC+14)": {"TZ": "Pacific/Kiritimati"},
    "TZ=America/St_Johns (UTC-3:30)": {"TZ": "America/St_Johns"},
    "all at once": {"PYTHONHASHSEED": "4242", "LC_ALL": "C", "TZ": "Pacific/Kiritimati"},
}
# name: (argv, exit code)
COMMANDS: dict[str, tuple[tuple[str, ...], int]] = {
    "render": (("render", "{clusterfile}"), 0),
    "render a fixture": (("render", str(FIXTURES / "ha-auth-multidoc.yaml")), 0),
    "render --out": (("render", "{clusterfile}", "--out", "{out}"), 0),
    "render -o json": (("render", "{clusterfile}", "-o", "json"), 0),
    "render -o json --out": (("render", "{clusterfile}", "-o", "json", "-w", "{out}"), 0),
    "render pull copies and patches --out": (
        (
            "render",
            "{clusterfile}",
            "--pull-namespace",
            "apps",
            "--pull-namespace",
            "web",
            "--service-account",
            "builder",
            "--patch",
            "apps/deployment/api",
            "--alias",
            "registry.lab:5000",
            "--out",
            "{out}",
        ),
        0,
    ),
    "render a fleet --out": (("render", "{fleet}", "--out", "{out}"), 0),
    "inspect --output json": (("inspect", "{clusterfile}", "--output", "json"), 0),
    "inspect": (("inspect", "{clusterfile}"), 0),
    "match --output json": (
        (
            "match",
            "{clusterfile}",
            "--image",
            "sea.hub:5000/app",
            "--image",
            "docker.io/nginx",
            "--output",
            "json",
        ),
        1,  # docker.io/nginx is not served
    ),
    "an error": (("render", "{clusterfile}", "--name", "Nicht_Gültig"), 2),
}


def outcome(command: tuple[str, ...], root: Path, env: dict[str, str]) -> dict[str, object]:
    """Exit code, stdout, stderr and every file written, for one run in a fresh folder."""
    root.mkdir()
    clusterfile = root / "clüsterfile.yaml"
    clusterfile.write_text(CLUSTERFILE, encoding="utf-8")
    for name in ("east", "west"):
        (root / "fleet" / name).mkdir(parents=True)
        text = CLUSTERFILE.replace("name: zürich", f"name: {name}")
        (root / "fleet" / name / "Clusterfile").write_text(text, encoding="utf-8")
    names = {"clusterfile": clusterfile.name, "out": "out", "fleet": "fleet"}
    result = run_script(*(arg.format(**names) for arg in command), cwd=root, env=env)
    out = root / "out"
    files = {
        p.relative_to(out).as_posix(): (p.stat().st_mode, p.read_bytes())
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }
    return {"code": result.code, "stdout": result.out, "stderr": result.err, "files": files}


@pytest.mark.parametrize("command", list(COMMANDS), ids=list(COMMANDS))
def test_same_bytes_in_every_environment(command: str, tmp_path: Path) -> None:
    argv, code = COMMANDS[command]
    expected = outcome(argv, tmp_path / "base", BASE)
    assert expected["code"] == code, f"exit code {expected['code']} in the base environment"
    for i, (variant, change) in enumerate(VARIANTS.items()):
        env = {k: v for k, v in {**BASE, **change}.items() if v}
        got = outcome(argv, tmp_path / f"variant{i}", env)
        differs = sorted(k for k in expected if got[k] != expected[k])
        # Name the parts that differ, never their text: stdout holds a Secret.
        assert not differs, f"{variant}: {', '.join(differs)} differ from the base environment"
