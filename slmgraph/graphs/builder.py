"""Spec -> LangGraph ``StateGraph``. Knows nothing about any task: it resolves names (agents,
tools, tiers, routers) through the registries and wires LangGraph.

What the builder adds around every node:

- call context (run id, node, graph) for the call log, and the node's model calls appended to
  ``state["trace"]`` (node, tier, model, tokens, latency);
- a visit counter (``state["visits"]``) that enforces ``max_visits``/``on_limit`` loop bounds;
- failure containment: a node whose model or tool fails sets ``state["error"]`` and the run goes
  to END — a defined failure state, never a traceback from inside LangGraph;
- budgets: after each node the run's tokens and dollars are summed from its trace; past
  ``limits.max_tokens``/``max_cost_usd`` it goes to ``limits.on_budget`` (or ends with an error);
- the run's :class:`~slmgraph.context.RunContext` (LangGraph's ``context_schema``), handed to
  node functions that take a second argument: per-run resources travel there, not in state.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from langgraph.graph import END as LG_END
from langgraph.graph import START as LG_START
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph

from slmgraph.context import RunContext
from slmgraph.errors import RunError, SlmgraphError
from slmgraph.graphs.node import made, node_runner
from slmgraph.graphs.state import BUILTIN_STATE, state_schema
from slmgraph.loader import load_spec
from slmgraph.models.base import Backend
from slmgraph.plugins import lookup
from slmgraph.spec import END, START, GraphSpec
from slmgraph.telemetry.calllog import CallLog, is_url
from slmgraph.tiers import TierRegistry, resolve_tier

logger = logging.getLogger("slmgraph")

#: Path-map key of the "a node failed, end the run" branch (not a valid node name).
ERROR_KEY = "(error)"


@dataclass
class BuiltGraph:
    """A compiled graph with what built it (spec, tiers, call log)."""

    graph: CompiledStateGraph[Any, Any, Any, Any]
    spec: GraphSpec
    tiers: TierRegistry
    call_log: CallLog | None


def build(
    spec: GraphSpec | str | Path,
    *,
    backends: dict[str, Backend] | None = None,
    call_log: CallLog | Literal[False] | None = None,
    checkpointer: Any = None,
    app: str | None = None,
) -> BuiltGraph:
    """Build a spec into a compiled LangGraph graph.

    ``backends`` maps tier names to ready backends (tests pass scripted or tiny models here);
    ``call_log=False`` disables logging, ``None`` uses the spec's (or the default) log file.
    A checkpointer is required for ``interrupt_before`` nodes; an in-memory one is used if none
    is given.
    """
    if not isinstance(spec, GraphSpec):
        spec = load_spec(spec)
    log: CallLog | None
    if call_log is False or not spec.call_log.enabled:
        log = None
    elif call_log is None:
        log = CallLog(_log_path(spec))
    else:
        log = call_log
    tiers = TierRegistry(dict(spec.tiers), log, app=app or spec.name, backends=backends)
    graph: StateGraph[Any, RunContext, Any, Any] = StateGraph(
        state_schema(spec), context_schema=RunContext
    )

    for name, node in spec.nodes.items():
        tier = resolve_tier(spec, name)
        graph.add_node(  # type: ignore[call-overload]
            name,
            node_runner(spec, name, tiers),
            metadata={
                "tier": tier or "",
                "size": spec.tiers[tier].size if tier in spec.tiers else "",
                "kind": "agent" if node.agent else "tool",
            },
        )

    by_source: dict[str, list[Any]] = {}
    for edge in spec.edges:
        by_source.setdefault(edge.source, []).append(edge)
    for source, edges in by_source.items():
        lg_source = LG_START if source == START else source
        routed = [e for e in edges if e.to is None]
        if routed:
            edge = routed[0]
            impl = lookup("router", edge.router or "field", spec.imports)
            if ":" in (edge.router or "") and impl.params.__name__ == "NoParams":
                route_fn: Callable[[Any], str] = impl.factory
            else:
                # context: routers resolve relative files against the spec's folder
                params = impl.params.model_validate(
                    edge.params, context={"base_dir": spec.base_dir}
                )
                route_fn = made(
                    f"edges[{spec.edges.index(edge)}].router",
                    f"the router after {source!r}",
                    functools.partial(impl.factory, params),
                    spec.source,
                )
            targets = {**(edge.routes or {})}
            path: Callable[[dict[str, Any]], Any] = _routed_path(
                spec, route_fn, targets, edge.default, source
            )
        else:
            path = _static_path(spec, [e.to for e in edges])
        possible = _possible_targets(spec, edges)
        path_map = {(LG_END if t == END else t): (LG_END if t == END else t) for t in possible}
        if END not in possible and source != START:
            # A labelled branch in the diagram: where the run goes when this node fails.
            path_map[ERROR_KEY] = LG_END
        budget_node = spec.limits.on_budget if source != START else None
        if budget_node is not None and budget_node != source:
            path_map[budget_node] = budget_node
        guarded = _on_error(path, END in possible, budget_node if budget_node != source else None)
        graph.add_conditional_edges(lg_source, guarded, path_map)  # type: ignore[arg-type]

    interrupts = [n for n, node in spec.nodes.items() if node.interrupt_before]
    if interrupts and checkpointer is None:
        from langgraph.checkpoint.memory import InMemorySaver

        checkpointer = InMemorySaver()
    compiled = graph.compile(
        checkpointer=checkpointer, interrupt_before=interrupts or None, name=spec.name
    )
    return BuiltGraph(compiled, spec, tiers, log)


def build_graph(
    spec: GraphSpec | str | Path, **kwargs: Any
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Like :func:`build`, returning only the compiled LangGraph graph."""
    return build(spec, **kwargs).graph


def _log_path(spec: GraphSpec) -> str | Path | None:
    if spec.call_log.path is None:
        return None
    if is_url(spec.call_log.path):
        return spec.call_log.path
    p = Path(spec.call_log.path).expanduser()
    if not p.is_absolute() and spec.base_dir is not None:
        p = spec.base_dir / p
    return p


def _possible_targets(spec: GraphSpec, edges: Sequence[Any]) -> set[str]:
    out: set[str] = set()
    for e in edges:
        if e.to:
            out.add(e.to)
        out.update((e.routes or {}).values())
        if e.default:
            out.add(e.default)
    # A bounded target may divert to its on_limit node.
    for t in list(out):
        node = spec.nodes.get(t)
        while node is not None and node.max_visits and node.on_limit and node.on_limit not in out:
            out.add(node.on_limit)
            node = spec.nodes.get(node.on_limit)
    return out


def _bounded(spec: GraphSpec, target: str, visits: dict[str, int]) -> str:
    """Apply ``max_visits``/``on_limit``: a node visited enough times sends the run elsewhere."""
    seen: set[str] = set()
    while target in spec.nodes and target not in seen:
        seen.add(target)
        node = spec.nodes[target]
        if node.max_visits is None or visits.get(target, 0) < node.max_visits:
            return target
        target = node.on_limit or END
    return target


def _on_error(
    path: Callable[[dict[str, Any]], Any], end_is_target: bool, budget_node: str | None = None
) -> Callable[[dict[str, Any]], Any]:
    """A failed node (``state["error"]`` set) ends the run, whatever its edges say; a spent
    budget sends it to ``limits.on_budget`` once, then to the end."""
    stop = LG_END if end_is_target else ERROR_KEY

    def guarded(state: dict[str, Any]) -> Any:
        if state.get("error"):
            return stop
        if state.get("budget"):
            visited = (state.get("visits") or {}).get(budget_node or "", 0)
            return budget_node if budget_node and not visited else stop
        chosen = path(state)
        if isinstance(chosen, list):
            return [LG_END if c == END else c for c in chosen]
        return LG_END if chosen == END else chosen

    return guarded


def _static_path(
    spec: GraphSpec, targets: list[str | None]
) -> Callable[[dict[str, Any]], Hashable | list[Hashable]]:
    def path(state: dict[str, Any]) -> Hashable | list[Hashable]:
        visits = state.get("visits") or {}
        chosen = [_bounded(spec, t, visits) for t in targets if t]
        unique = list(dict.fromkeys(chosen))
        return unique[0] if len(unique) == 1 else unique  # type: ignore[return-value]

    return path


def _routed_path(
    spec: GraphSpec,
    route_fn: Callable[[Any], str],
    routes: dict[str, str],
    default: str | None,
    source: str,
) -> Callable[[dict[str, Any]], Hashable]:
    def path(state: dict[str, Any]) -> Hashable:
        try:
            label = str(route_fn(state))
        except SlmgraphError as exc:
            raise RunError(f"router after {source!r} failed: {exc}", node=source) from None
        except Exception as exc:  # a user's router with a bug: a defined end, not a traceback
            logger.debug("router after %r raised", source, exc_info=True)
            raise RunError(
                f"router after {source!r} failed: {type(exc).__name__}: {exc}", node=source
            ) from None
        target = routes.get(label, default)
        if target is None:
            raise RunError(
                f"router after {source!r} produced label {label!r}, which has no "
                f"route and no default (routes: {sorted(routes)})",
                node=source,
            )
        return _bounded(spec, target, state.get("visits") or {})

    return path


__all__ = ["BUILTIN_STATE", "BuiltGraph", "RunError", "build", "build_graph", "state_schema"]
