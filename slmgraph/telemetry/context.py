"""Context of the model call in progress (which run, node and tier), set by the graph builder.

Context variables rather than arguments so that backends and the call log learn *who* is calling
without every node threading ids through its code; LangGraph runs each node in a context copy.
"""

from __future__ import annotations

from contextvars import ContextVar

current_run: ContextVar[str | None] = ContextVar("slmgraph_run", default=None)
current_node: ContextVar[str | None] = ContextVar("slmgraph_node", default=None)
current_graph: ContextVar[str | None] = ContextVar("slmgraph_graph", default=None)
current_session: ContextVar[str | None] = ContextVar("slmgraph_session", default=None)
