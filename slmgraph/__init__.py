"""slmgraph: LangGraph agents from YAML, each step on the smallest model that does the job.

The public surface is small on purpose:

- :func:`load_spec` reads and validates a YAML spec (raises :class:`SpecError`).
- :func:`build_graph` compiles a spec into a LangGraph ``StateGraph``.
- :func:`run` builds and runs a spec on one input and returns the final state with its trace.

Domains plug in through :mod:`slmgraph.plugins` (agents, tools and more register with the
decorators of :mod:`slmgraph.registry`).
"""

from slmgraph.errors import ModelError, RunError, SlmgraphError, SpecError, SpecIssue

__version__ = "0.1.0"

__all__ = [
    "ModelError",
    "RunError",
    "SlmgraphError",
    "SpecError",
    "SpecIssue",
    "__version__",
    "build_graph",
    "load_spec",
    "run",
]


def __getattr__(name: str) -> object:
    # Lazy imports keep `import slmgraph` cheap (langgraph is imported only when a graph is built).
    if name == "load_spec":
        from slmgraph.loader import load_spec

        return load_spec
    if name == "build_graph":
        from slmgraph.graphs.builder import build_graph

        return build_graph
    if name == "run":
        from slmgraph.runner import run

        return run
    raise AttributeError(f"module 'slmgraph' has no attribute {name!r}")
