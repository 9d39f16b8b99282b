"""Names and defaults shared by the CLI and the core; imports nothing, so `--help` stays fast."""

from typing import Literal

DEFAULT_NAME = "sealer-registry"
DEFAULT_NAMESPACE = "kube-system"
STDIN = "-"
# Where a SealedSecret may be unsealed (sealed-secrets' scopes).
Scope = Literal["strict", "namespace-wide", "cluster-wide"]
# How `render` writes the objects: YAML documents, or JSON (a v1 List; .json files).
RenderFormat = Literal["yaml", "json"]
