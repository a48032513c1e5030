"""Packaging facts: nothing shadows common top-level names; package data ships."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_no_top_level_agents_or_tools_module() -> None:
    # Run outside the repo root so the source tree itself is not on sys.path.
    code = (
        "import importlib.util, sys; "
        "print([n for n in ('agents', 'tools', 'prompts', 'graphs', 'models') "
        "if importlib.util.find_spec(n) is not None])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd="/", check=True
    )
    assert out.stdout.strip() == "[]"


def test_subpackages_exist() -> None:
    for sub in ("agents", "graphs", "tools", "prompts", "models", "constraints", "telemetry",
                "routing", "pipeline", "eval", "cli", "validate", "domains"):  # fmt: skip
        assert importlib.util.find_spec(f"slmgraph.{sub}") is not None, sub


def test_langgraph_json_lists_every_builtin_graph() -> None:
    import json

    from slmgraph.plugins import builtin_graphs

    config = json.loads((ROOT / "langgraph.json").read_text())
    assert sorted(config["graphs"]) == builtin_graphs()


def test_the_import_contracts_hold() -> None:
    """The layering of pyproject.toml's [tool.importlinter] (no cycles; the core never imports a
    domain), checked in CI as well as by `make lint`."""
    import shutil

    import pytest

    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter is not installed (the dev extra)")
    out = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-4000:]
    assert "4 kept, 0 broken" in out.stdout
