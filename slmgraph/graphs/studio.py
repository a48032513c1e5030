"""Entry points for ``langgraph dev`` / LangGraph Studio (listed in ``langgraph.json``).

Every built-in graph (the core's and the installed plug-ins') is compiled once at import, the
usual LangGraph pattern: the server imports this module in a worker thread, while a factory
function would run inside its event loop, where blocking file reads are refused. The server
brings its own checkpointer, so none is attached. Tiers come from the spec; set
``$SLMGRAPH_TIERS`` to a YAML file to point them elsewhere (a scripted tier for a quick look, a
vLLM server in production). Runs started by the server carry no slmgraph context: each gets one
per run id (:func:`slmgraph.context.context_for`).
"""

from __future__ import annotations

from typing import Any

from slmgraph.graphs.builder import build
from slmgraph.plugins import builtin_graphs


def _compiled(name: str) -> Any:
    built = build(name)
    built.graph.checkpointer = None  # the server supplies persistence
    return built.graph


GRAPHS: dict[str, Any] = {name: _compiled(name) for name in builtin_graphs()}
globals().update(GRAPHS)  # langgraph.json names them as attributes: studio.py:query_writer


def __getattr__(name: str) -> Any:
    try:
        return GRAPHS[name]
    except KeyError:
        raise AttributeError(f"no built-in graph {name!r} (have: {', '.join(GRAPHS)})") from None
