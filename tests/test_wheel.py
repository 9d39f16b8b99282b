"""The built wheel, installed into a fresh virtual environment, works from any other folder."""

from __future__ import annotations

import ast
import email.message
import email.parser
import fcntl
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from generator.app.pipeline import Request, run
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
EXAMPLE = ROOT / "examples" / "Clusterfile"
TEMPLATES = sorted(p.name for p in (ROOT / "templates").glob("*.j2"))


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path

    @property
    def script(self) -> Path:
        return self.venv / "bin" / "gen-secret"


def call(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace")[-2000:]
        pytest.fail(f"{args[0]} {args[1]} failed ({proc.returncode}): {tail}", pytrace=False)
    return proc.stdout.decode()


def clean_env() -> dict[str, str]:
    """The caller's environment without anything that would lead Python back to this checkout."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
    return {k: v for k, v in os.environ.items() if k not in drop}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """`pip wheel .`, then a new venv with that wheel, its dependencies this environment's.

    Once a run: parallel workers share the folder above their own temporary ones, and the
    first to take the lock builds while the others wait for it."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    base = shared / "wheel"
    with open(shared / "wheel.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (base / "done").exists():
            shutil.rmtree(base, ignore_errors=True)  # a build that failed part way
            base.mkdir()
            _build_and_install(base)
            (base / "done").touch()
    (wheel,) = (base / "dist").glob("gen_secret-*.whl")
    return Installed(wheel, base / "venv")


def _build_and_install(base: Path) -> None:
    """The wheel, built by this environment's hatchling, installed without its dependencies
    into a venv whose path ends with this environment's packages.

    Isolation would have pip install the build requirements, and the wheel's dependencies,
    from the index on every run: 12 s of a one-minute suite. `make run` and `make bench`
    build and install as users do; which dependencies the wheel declares is checked here from
    its metadata."""
    dist = base / "dist"
    env = clean_env()
    call(
        *(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"),
        *("-w", dist, ROOT),
        cwd=base,
        env=env,
    )
    (wheel,) = dist.glob("gen_secret-*.whl")
    venv = base / "venv"
    # Without a pip of its own (ensurepip takes seconds): this pip installs into it. And no
    # bytecode compiled ahead of time, which is pip's work, not the wheel's.
    call(sys.executable, "-m", "venv", "--without-pip", venv, cwd=base, env=env)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-compile"]
    call(*pip, "--no-deps", "--no-index", wheel, cwd=base, env=env)
    # A path line, after the venv's own packages: Python reads no .pth file in a folder added
    # this way, so this checkout's editable install (a .pth file there) stays out.
    (site_packages,) = (venv / "lib").glob("python3*/site-packages")
    paths = sysconfig.get_paths()
    dependencies = dict.fromkeys([paths["purelib"], paths["platlib"]])  # one, or lib and lib64
    (site_packages / "test-dependencies.pth").write_text(
        "".join(f"{path}\n" for path in dependencies), encoding="utf-8"
    )


def test_wheel_holds_the_package_and_its_templates(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as archive:
        names = set(archive.namelist())
    assert "generator/templates/secret.yaml.j2" in names
    assert {f"generator/templates/{name}" for name in TEMPLATES} <= names
    assert "generator/cli/app.py" in names
    # And compiled to Python by hatch_build.py, one module per template.
    compiled = [n for n in names if n.startswith("generator/compiled_templates/tmpl_")]
    assert len(compiled) == len(TEMPLATES)
    assert "generator/compiled_templates/jinja-version" in names
    assert not [n for n in names if n.startswith(("tests/", ".venv/", "out/", "examples/"))]


def test_wheel_metadata_declares_the_script_and_only_runtime_dependencies(
    installed: Installed,
) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    metadata = _wheel_metadata(installed.wheel)
    with zipfile.ZipFile(installed.wheel) as archive:
        (entry_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        entry_points = archive.read(entry_name).decode()
    assert metadata["Name"] == "gen-secret"
    assert metadata["Version"] == project["version"]
    # The design's three, cryptography for --seal-cert and SOPS, and pyrage (age) for SOPS.
    assert sorted(_runtime_requirements(metadata)) == [
        "cryptography",
        "jinja2",
        "pyrage",
        "pyyaml",
        "typer",
    ]
    assert "gen-secret = generator.cli.script:run" in entry_points


def test_every_module_the_package_imports_is_its_own_the_standard_librarys_or_declared(
    installed: Installed,
) -> None:
    """The installed tests run with this environment's packages on the path, so a module the
    package imports from a distribution it does not declare would pass there: every import
    statement of the wheel's code, function-local ones included, is checked here against the
    declared distributions and what they require in turn (rich comes with typer)."""
    with zipfile.ZipFile(installed.wheel) as archive:
        sources = [archive.read(n) for n in archive.namelist() if n.endswith(".py")]
    imported: set[str] = set()
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    foreign = sorted(imported - set(sys.stdlib_module_names) - {"generator"})
    installed_with = _required(_runtime_requirements(_wheel_metadata(installed.wheel)))
    distributions = importlib.metadata.packages_distributions()
    undeclared = [
        (module, distributions.get(module))
        for module in foreign
        if not installed_with & {_normalised(d) for d in distributions.get(module, [])}
    ]
    assert foreign, "no third-party import found: the scan reads nothing"
    assert not undeclared, f"imported, but from no declared distribution: {undeclared}"


def _wheel_metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(archive.read(name).decode())


def _runtime_requirements(metadata: email.message.Message) -> set[str]:
    """The distributions a metadata's Requires-Dist names, without those of its extras."""
    return _needed(metadata.get_all("Requires-Dist", []))


def _normalised(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _needed(requirements: list[str]) -> set[str]:
    """The names of the requirements that hold without extras, normalised."""
    from packaging.requirements import Requirement

    needed = set()
    for text in requirements:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            needed.add(_normalised(requirement.name))
    return needed


def _required(distributions: set[str]) -> set[str]:
    """The distributions and, in turn, everything they require (no extras), as installed here."""
    seen: set[str] = set()
    todo = list(distributions)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += _needed(importlib.metadata.requires(name) or [])
    return seen


def test_installed_script_renders_the_example_from_another_folder(
    installed: Installed, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = clean_env()
    where = call(
        installed.venv / "bin" / "python",
        "-c",
        "import generator.render.templates as r; print(r.templates_dir())",
        cwd=elsewhere,
        env=env,
    )
    templates = Path(where.strip())
    assert templates.is_relative_to(installed.venv), "templates are not the installed ones"
    assert sorted(p.name for p in templates.glob("*.j2")) == TEMPLATES

    out = call(installed.script, "render", EXAMPLE, cwd=elsewhere, env=env)
    # The same bytes as this checkout renders: CA discovery looks at the same machine.
    expected = run(EXAMPLE.read_bytes(), str(EXAMPLE), Request()).stream
    assert out == expected, "the installed wheel renders other bytes than the checkout"

    (elsewhere / "Clusterfile").write_bytes(EXAMPLE.read_bytes())
    assert call(installed.script, "render", cwd=elsewhere, env=env) == expected


def test_installed_script_version(installed: Installed, tmp_path: Path) -> None:
    from generator import __version__

    out = call(installed.script, "--version", cwd=tmp_path, env=clean_env())
    assert out == f"gen-secret {__version__}\n"


# Every template through the installed package, with Jinja's compiler switched off: each one
# must come from the wheel's compiled modules, and render what the checkout renders.
NO_COMPILE = """
import sys
import jinja2
def refuse(*args, **kwargs):
    sys.exit("a template was compiled at run time")
jinja2.Environment.compile = refuse
from generator.cli.app import main
sys.exit(main(sys.argv[1:]))
"""


def test_installed_templates_are_compiled_and_render_the_checkouts_bytes(
    installed: Installed, tmp_path: Path
) -> None:
    from generator.app.pipeline import Request, run

    args = ["--pull-namespace", "apps", "--service-account", "default", "--patch", "deploy/web"]
    out = tmp_path / "out"
    python = installed.venv / "bin" / "python"
    call(
        python,
        "-c",
        NO_COMPILE,
        "render",
        EXAMPLE,
        *args,
        "--out",
        out,
        cwd=tmp_path,
        env=clean_env(),
    )
    request = Request(
        pull_namespaces=("apps",), service_accounts=("default",), patches=("deploy/web",)
    )
    expected = run(EXAMPLE.read_bytes(), str(EXAMPLE), request).files
    written = {str(p.relative_to(out)): p.read_text() for p in out.rglob("*") if p.is_file()}
    assert written.pop(".gen-secret-files")
    assert written == expected
