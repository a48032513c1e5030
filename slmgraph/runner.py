"""Run a spec on one input: build, invoke, and summarise (output, trace, error, totals)."""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.errors import GraphRecursionError
from langgraph.types import Command

from slmgraph._suggest import did_you_mean
from slmgraph.context import RunContext
from slmgraph.errors import RunError, SpecError, SpecIssue
from slmgraph.graphs.builder import BUILTIN_STATE, BuiltGraph, build
from slmgraph.loader import load_spec
from slmgraph.models.base import Backend
from slmgraph.spec import GraphSpec
from slmgraph.telemetry.calllog import CallLog
from slmgraph.telemetry.report import run_summary

logger = logging.getLogger(__name__)

Resumed = Literal["continued", "finished", "paused"]


@dataclass
class RunResult:
    run_id: str
    state: dict[str, Any]
    output: dict[str, Any]
    trace: list[dict[str, Any]]
    error: str | None
    status: Literal["ok", "error", "interrupted"]
    wall_s: float
    next_nodes: list[str] = field(default_factory=list)
    #: On a durable thread that had a run: ``"continued"`` (an unfinished run picked up from
    #: its last step), ``"finished"`` (it had finished: its stored result, no model call) or
    #: ``"paused"`` (still paused before an ``interrupt_before`` node); else None.
    resumed: Resumed | None = None

    @property
    def replayed_calls(self) -> int:
        """Calls of a resumed run answered from the call log (made before the interruption)."""
        return sum(1 for t in self.trace if t.get("replayed"))

    @property
    def totals(self) -> dict[str, Any]:
        calls = [t for t in self.trace if t.get("model")]
        return {
            "model_calls": len(calls),
            "tokens_in": sum(t["tokens_in"] for t in calls),
            "tokens_out": sum(t["tokens_out"] for t in calls),
            "cost_usd": round(sum(t.get("cost_usd") or 0.0 for t in calls), 8),
            "model_latency_s": round(sum(t["latency_s"] for t in calls), 4),
            "wall_s": round(self.wall_s, 4),
            "by_tier": run_summary(calls),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "output": self.output,
            "error": self.error,
            "next": self.next_nodes,
            **(
                {"resumed": self.resumed, "replayed_calls": self.replayed_calls}
                if self.resumed
                else {}
            ),
            "trace": self.trace,
            "totals": self.totals,
        }


def check_input(spec: GraphSpec, data: dict[str, Any]) -> None:
    fields = spec.state_fields()
    if not fields:
        return
    issues = [
        SpecIssue(
            f"input.{key}", f"Unknown state key {key!r}", did_you_mean(key, fields, "state keys")
        )
        for key in data
        if key not in fields and key not in BUILTIN_STATE
    ]
    if issues:
        raise SpecError(issues, "input")


def run(
    spec: GraphSpec | str | Path | BuiltGraph,
    inputs: dict[str, Any],
    *,
    backends: dict[str, Backend] | None = None,
    call_log: CallLog | Literal[False] | None = None,
    thread_id: str | None = None,
    resume: Any = None,
    session_id: str | None = None,
    resources: dict[str, Any] | None = None,
    checkpointer: Any = None,
) -> RunResult:
    """Run a graph on ``inputs`` and return its output, trace and status.

    With ``thread_id`` and ``resume`` (after an ``interrupt_before`` pause), the run continues
    from its checkpoint instead of starting over. ``session_id`` (default: ``thread_id``)
    groups runs of one user conversation in the call log. ``resources`` hands the run
    resources the caller holds (by registered name, e.g. an open database); others are opened
    on first use and closed when the run returns. A call log that cannot be written raises
    :class:`~slmgraph.telemetry.calllog.CallLogError` before the first model call.

    ``checkpointer`` (a :class:`~slmgraph.telemetry.checkpoints.Checkpoints` or any LangGraph
    saver) with ``thread_id`` makes the run durable: its state is saved after every step, and
    a later ``run`` on the same thread picks an interrupted run up where it stopped (see
    :func:`_durable`).
    """
    built = (
        spec
        if isinstance(spec, BuiltGraph)
        else build(
            spec if isinstance(spec, GraphSpec) else load_spec(spec),
            backends=backends,
            call_log=call_log,
        )
    )
    check_input(built.spec, inputs)
    if checkpointer is not None:
        if not thread_id:
            raise RunError("a durable run (a checkpointer) needs a thread_id to resume by")
        saver = getattr(checkpointer, "saver", checkpointer)
        built = dataclasses.replace(built, graph=built.graph.copy(update={"checkpointer": saver}))
    if built.call_log is not None:
        built.call_log.open()  # an unwritable log fails here (CallLogError), before any call
    run_id = uuid.uuid4().hex
    config: RunnableConfig = {
        "configurable": {
            "slmgraph_run_id": run_id,
            "slmgraph_session_id": session_id or thread_id,
            "thread_id": thread_id or run_id,
        },
        "recursion_limit": built.spec.limits.max_steps,
    }
    resumed: Resumed | None = None
    if checkpointer is not None:
        resumed, stored = _durable(built, config, inputs, resume)
        run_id = str(config["configurable"]["slmgraph_run_id"])
    ctx = RunContext(
        run_id=run_id, session_id=session_id or thread_id, resources=dict(resources or {})
    )
    started = time.perf_counter()
    try:
        if resumed in ("finished", "paused"):
            final = stored
        elif resumed == "continued":
            final = built.graph.invoke(None, config, context=ctx, durability="sync")
        else:
            final = _invoke(built, inputs, config, resume, ctx)
    except Exception as exc:  # RunError, GraphRecursionError or anything: a defined end
        final = _failed(built, config, exc)
    finally:
        ctx.close()
    wall = time.perf_counter() - started
    state = dict(final or {})
    next_nodes: list[str] = []
    if built.graph.checkpointer is not None and not state.get("error"):
        next_nodes = list(built.graph.get_state(config).next)
    error = state.get("error")
    status: Literal["ok", "error", "interrupted"] = (
        "error" if error else ("interrupted" if next_nodes else "ok")
    )
    keys = built.spec.output or [k for k in built.spec.state_fields() if k in state]
    output = {k: state.get(k) for k in keys}
    return RunResult(
        run_id,
        state,
        output,
        list(state.get("trace") or []),
        error,
        status,
        wall,
        next_nodes,
        resumed,
    )


def _durable(
    built: BuiltGraph, config: RunnableConfig, inputs: dict[str, Any], resume: Any
) -> tuple[Resumed | None, dict[str, Any]]:
    """Look the thread up in the checkpoints; set up ``config`` for a durable run.

    - no checkpoint: a new run (every step saved before the next starts);
    - an unfinished run (killed, or stopped by an error of the machine): ``"continued"`` from
      its last saved step, under its own run id; the task that was cut off runs again, and its
      model calls that the call log holds are replayed from it, not made again;
    - a finished run: ``"finished"``, its stored state (no model call).

    The inputs must be those the thread started with (a new question needs a new thread); a
    thread paused before an ``interrupt_before`` node stays paused until it is resumed with
    ``resume`` (a resumed graph without that interrupt is refused, not run past it).
    """
    conf = config["configurable"]
    conf["slmgraph_durable"] = True
    conf["slmgraph_interrupts"] = ",".join(
        n for n, node in built.spec.nodes.items() if node.interrupt_before
    )
    snapshot = built.graph.get_state(config)
    if not snapshot.values and not snapshot.next:
        return None, {}
    thread = conf["thread_id"]
    values = dict(snapshot.values)
    meta = dict(snapshot.metadata or {})
    if meta.get("slmgraph_run_id"):
        conf["slmgraph_run_id"] = meta["slmgraph_run_id"]
    if resume is None:
        changed = sorted(k for k, v in inputs.items() if k in values and values[k] != v)
        if changed:
            raise RunError(
                f"thread {thread!r} was started with another {', '.join(changed)}; "
                "give a new thread for a new input (or the same input to pick it up)"
            )
    conf["slmgraph_replay"] = built.call_log
    if not snapshot.next:
        return "finished", values
    paused = set(str(meta.get("slmgraph_interrupts") or "").split(",")) & set(snapshot.next)
    if paused and resume is None:
        if not conf["slmgraph_interrupts"]:
            raise RunError(
                f"thread {thread!r} is paused for approval before {', '.join(sorted(paused))}; "
                "resume it with approval (slmgraph ask --approve), not without"
            )
        return "paused", values  # the caller asks, then resumes
    return ("continued", values) if resume is None else (None, values)


def _failed(built: BuiltGraph, config: RunnableConfig, exc: BaseException) -> dict[str, Any]:
    """The defined end of a run that LangGraph itself could not finish."""
    if isinstance(exc, RunError):
        final: dict[str, Any] = {"error": str(exc), "failed_node": exc.node}
    elif isinstance(exc, GraphRecursionError):
        final = {
            "error": f"the run took more than limits.max_steps ({built.spec.limits.max_steps}) "
            "steps; raise it or bound the loops tighter",
            "failed_node": None,
        }
    else:
        logger.debug("the run failed", exc_info=True)
        final = {"error": f"{type(exc).__name__}: {exc}", "failed_node": None}
    if built.graph.checkpointer is not None:
        try:
            final = {**dict(built.graph.get_state(config).values), **final}
        except Exception:  # the checkpoint itself may be what failed
            logger.debug("no state to recover", exc_info=True)
    return final


def _invoke(
    built: BuiltGraph, inputs: dict[str, Any], config: RunnableConfig, resume: Any, ctx: RunContext
) -> Any:
    durability: Literal["sync"] | None = (
        "sync" if config["configurable"].get("slmgraph_durable") else None
    )
    if resume is None:
        return built.graph.invoke(dict(inputs), config, context=ctx, durability=durability)
    if resume is True:
        # Continue after an interrupt_before pause, applying `inputs` as state edits first.
        if inputs:
            built.graph.update_state(config, inputs)
        return built.graph.invoke(None, config, context=ctx, durability=durability)
    return built.graph.invoke(Command(resume=resume), config, context=ctx, durability=durability)
