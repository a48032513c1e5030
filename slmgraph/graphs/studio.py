"""Entry points for ``langgraph dev`` / LangGraph Studio (listed in ``langgraph.json``).

Each built-in spec is compiled once at import, the usual LangGraph pattern: the server imports
this module in a worker thread, while a factory function would run inside its event loop, where
blocking file reads are refused. The server brings its own checkpointer, so none is attached.
Tiers come from the spec; set ``$SLMGRAPH_TIERS`` to a YAML file to point them elsewhere (a
scripted tier for a quick look, a vLLM server in production).
"""

from __future__ import annotations

from typing import Any

from slmgraph.graphs.builder import build


def _compiled(name: str) -> Any:
    built = build(name)
    built.graph.checkpointer = None  # the server supplies persistence
    return built.graph


query_writer = _compiled("query_writer")
triage = _compiled("triage")
