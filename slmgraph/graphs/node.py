"""One node of a built graph: the factory's function wrapped with what every node gets — the
call context for the log, the trace of its model calls, a visit count for loop bounds, the run
context for per-run resources, and failure containment (a node that raises sets ``error`` and
the run ends in its defined failure state). Building it wraps the factory too: whatever a
factory raises is a SpecError naming the node."""

from __future__ import annotations

import functools
import inspect
import logging
import uuid
from collections.abc import Callable
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from slmgraph.context import RunContext, context_for
from slmgraph.errors import SlmgraphError, SpecError
from slmgraph.plugins import lookup
from slmgraph.registry import NodeEnv
from slmgraph.spec import GraphSpec
from slmgraph.telemetry.context import (
    StepCalls,
    current_graph,
    current_node,
    current_run,
    current_session,
    current_step,
)
from slmgraph.tiers import TierRegistry, resolve_tier, trace_sink

logger = logging.getLogger("slmgraph")


def node_runner(
    spec: GraphSpec, name: str, tiers: TierRegistry
) -> Callable[[dict[str, Any], RunnableConfig, Runtime[RunContext]], dict[str, Any]]:
    node = spec.nodes[name]
    tier = resolve_tier(spec, name)
    if node.agent is not None:
        agent = spec.agents.get(node.agent)
        impl = lookup("agent", agent.uses if agent else node.agent, spec.imports)
        params = {**(agent.params if agent else {}), **node.params}
    else:
        assert node.tool is not None
        impl = lookup("tool", node.tool, spec.imports)
        params = dict(node.params)
    env = NodeEnv(
        name=name,
        params=impl.params.model_validate(params, context={"base_dir": spec.base_dir}),
        spec=spec,
        tier=tier,
        model=tiers.model_client(tier, shadow=node.shadow) if tier else None,
        models=tiers.model_client,
    )
    fn = made(f"nodes.{name}", f"node {name!r}", functools.partial(impl.factory, env), spec.source)
    if not callable(fn):
        raise SpecError.single(
            f"nodes.{name}",
            f"The factory of node {name!r} returned a {type(fn).__name__}, not a function",
            source=spec.source,
        )
    wants_context = _takes_context(fn)

    def run(
        state: dict[str, Any], config: RunnableConfig, runtime: Runtime[RunContext]
    ) -> dict[str, Any]:
        conf = config.get("configurable") or {}
        run_id = (
            conf.get("slmgraph_run_id")
            or conf.get("run_id")
            or conf.get("thread_id")
            or (config.get("metadata") or {}).get("run_id")
            or uuid.uuid4().hex
        )
        # A session groups the runs of one conversation: ours, LangGraph's thread otherwise
        # (LangGraph Studio and the server give every conversation a thread id).
        session = (
            conf["slmgraph_session_id"]
            if "slmgraph_session_id" in conf
            else conf.get("session_id") or conf.get("thread_id")
        )
        sink: list[dict[str, Any]] = []
        tokens = [
            current_run.set(str(run_id)),
            current_session.set(str(session) if session else None),
            current_node.set(name),
            current_graph.set(spec.name),
            trace_sink.set(sink),
            current_step.set(_step_calls(config, name)),
        ]
        try:
            if wants_context:
                ctx = runtime.context if isinstance(runtime.context, RunContext) else None
                ctx = ctx or context_for(str(conf.get("thread_id") or run_id))
                update = dict(fn(state, ctx) or {})
            else:
                update = dict(fn(state) or {})
        except SlmgraphError as exc:
            update = {"error": f"{name}: {exc}", "failed_node": name}
        except Exception as exc:  # a bug in a tool or agent still ends the run in a defined state
            # The traceback is for developers (logging at DEBUG); the run's error says what broke.
            logger.debug("node %r raised %s", name, type(exc).__name__, exc_info=True)
            update = {"error": f"{name}: {type(exc).__name__}: {exc}", "failed_node": name}
        finally:
            for var, tok in zip(
                (
                    current_run,
                    current_session,
                    current_node,
                    current_graph,
                    trace_sink,
                    current_step,
                ),
                tokens,
                strict=True,
            ):
                var.reset(tok)  # type: ignore[attr-defined]
        if not sink:  # a node that called no model still has its line in the trace
            status = "error" if "error" in update else "ok"
            sink.append(_entry(name, tier, status, update.get("error")))
        if not state.get("budget") and "error" not in update:
            spent = spent_budget(spec, [*(state.get("trace") or []), *sink])
            if spent is not None:
                target = spec.limits.on_budget
                sink.append(_entry(name, tier, "budget", spent["message"]))
                if target is None or target == name:
                    update["error"] = spent["message"]
                    update["failed_node"] = name
                update["budget"] = {**spent, "after_node": name, "goes_to": target}
        update["trace"] = [*update.get("trace", []), *sink]
        update["visits"] = {name: 1}
        return update

    run.__name__ = name
    return run


def _step_calls(config: RunnableConfig, name: str) -> StepCalls | None:
    """The replay keys of this task's model calls, in a run on a durable thread (the runner
    sets ``slmgraph_durable``): the thread and LangGraph's task path, which a resumed run
    gives the task again; ``slmgraph_replay`` is the call log to replay from."""
    conf = config.get("configurable") or {}
    if not conf.get("slmgraph_durable"):
        return None
    meta = config.get("metadata") or {}
    task = conf.get("checkpoint_ns") or meta.get("langgraph_checkpoint_ns")
    if not task:
        task = f"{meta.get('langgraph_step')}:{name}"
    return StepCalls(f"{conf.get('thread_id')}|{task}", conf.get("slmgraph_replay"))


def spent_budget(spec: GraphSpec, trace: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What ran out, if the calls in ``trace`` spent the run's budget (``limits``)."""
    limits = spec.limits
    if limits.max_tokens is None and limits.max_cost_usd is None:
        return None
    tokens = sum(int(t.get("tokens_in") or 0) + int(t.get("tokens_out") or 0) for t in trace)
    cost = sum(float(t.get("cost_usd") or 0.0) for t in trace)
    out = {"tokens": tokens, "cost_usd": round(cost, 8)}
    if limits.max_tokens is not None and tokens > limits.max_tokens:
        return {**out, "limit": "max_tokens", "message": f"budget spent: {tokens} tokens, "
                f"over limits.max_tokens ({limits.max_tokens})"}  # fmt: skip
    if limits.max_cost_usd is not None and cost > limits.max_cost_usd:
        return {**out, "limit": "max_cost_usd", "message": f"budget spent: ${cost:.6f}, over "
                f"limits.max_cost_usd (${limits.max_cost_usd})"}  # fmt: skip
    return None


def _entry(name: str, tier: str | None, status: str, error: str | None) -> dict[str, Any]:
    """A trace line without a model call (a tool, a failure before any call, a spent budget)."""
    return {
        "node": name,
        "tier": tier,
        "size": None,
        "backend": None,
        "model": None,
        "tokens_in": 0,
        "tokens_out": 0,
        "latency_s": 0.0,
        "cost_usd": 0.0,
        "status": status,
        "error": error,
        "call_id": None,
    }


def made(path: str, what: str, make: Callable[[], Any], source: str | None) -> Any:
    """Call a node or router factory; whatever it raises is a SpecError naming the YAML path
    (a spec that validated builds, or says which part could not be built)."""
    try:
        return make()
    except SpecError:
        raise
    except Exception as exc:
        logger.debug("building %s failed", what, exc_info=True)
        raise SpecError.single(
            path, f"Building {what} failed: {type(exc).__name__}: {exc}", source=source
        ) from None


def _takes_context(fn: Callable[..., Any]) -> bool:
    """Does a node function take the run context (``fn(state, ctx)``)?"""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params)
