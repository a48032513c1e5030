"""Entry points for ``langgraph dev`` / LangGraph Studio (listed in ``langgraph.json``).

Each built-in spec is exposed as a compiled graph. The LangGraph server brings its own
checkpointer, so none is attached here. Tiers come from the spec; set ``$SLMGRAPH_TIERS`` to a
YAML file to point them elsewhere (a scripted tier for a quick look, a vLLM server in production).
"""

from __future__ import annotations

from typing import Any

from slmgraph.graphs.builder import build


def _compiled(name: str) -> Any:
    built = build(name)
    # The server supplies persistence; interrupts still apply through interrupt_before.
    built.graph.checkpointer = None
    return built.graph


def triage() -> Any:
    return _compiled("triage")
