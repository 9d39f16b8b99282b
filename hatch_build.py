"""Wheel build hook: ship the Jinja templates compiled to Python, so no run compiles them."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CompileTemplates(BuildHookInterface):  # type: ignore[type-arg]
    """Compiles with the project's own Jinja environment, so the settings can never differ."""

    compiled: str | None = None

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":  # a checkout compiles its templates as it runs
            return
        sys.path.insert(0, self.root)
        try:
            from generator.render.templates import COMPILED, compile_templates
        finally:
            sys.path.remove(self.root)
        self.compiled = tempfile.mkdtemp(prefix="gen-secret-templates-")
        try:
            compile_templates(Path(self.compiled))
        except BaseException:  # finalize() is not called for a build that fails here
            shutil.rmtree(self.compiled, ignore_errors=True)
            raise
        build_data["force_include"][self.compiled] = f"generator/{COMPILED}"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        if self.compiled is not None:
            shutil.rmtree(self.compiled, ignore_errors=True)
