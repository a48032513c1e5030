"""Node factories used by test specs through 'tests.helpers:…' import paths."""

from __future__ import annotations

from typing import Any

from slmgraph.registry import NodeEnv


def check_draft(env: NodeEnv) -> Any:
    def run(state: dict[str, Any]) -> dict[str, Any]:
        return {"ok": state.get("draft") == "good"}

    return run
