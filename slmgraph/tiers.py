"""Tiers: named model configurations, resolved node > agent > graph default, and the client a
node calls (logging every attempt, checking outputs, falling back to the next tier, shadowing a
candidate tier in the background).

A tier says what it is: ``size: small | large`` (its size class) travels with every trace entry
and call-log row, and reports count small-model calls by it, never by the tier's name.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from slmgraph.constraints.base import Constraint, check_output
from slmgraph.errors import AllTiersFailed, ModelError
from slmgraph.models.base import Backend, Completion, Message, Usage, create_backend
from slmgraph.spec import GraphSpec, TierSpec
from slmgraph.telemetry.calllog import CallLog, CallRecord
from slmgraph.telemetry.context import (
    current_graph,
    current_node,
    current_run,
    current_session,
    current_step,
)

logger = logging.getLogger(__name__)

#: Trace entries of the node in progress; the graph builder collects them into state["trace"].
trace_sink: ContextVar[list[dict[str, Any]] | None] = ContextVar("slmgraph_trace", default=None)


def resolve_tier(spec: GraphSpec, node_name: str) -> str | None:
    """The tier a node runs on: the node's own, else its agent's, else the graph default.

    Returns None for tool nodes (they run no model).
    """
    node = spec.nodes[node_name]
    if node.tool is not None:
        return None
    if node.tier:
        return node.tier
    agent = spec.agents.get(node.agent or "")
    if agent is not None and agent.tier:
        return agent.tier
    return spec.defaults.tier or ("slm" if "slm" in spec.tiers else next(iter(spec.tiers), None))


@dataclass
class Result:
    """A checked completion: ``value`` is parsed JSON for json_schema constraints, else text."""

    completion: Completion
    value: Any
    tier: str


class TierClient:
    """One tier: its backend, generation defaults and price. Every attempt is logged."""

    def __init__(
        self,
        name: str,
        spec: TierSpec,
        backend: Backend,
        log: CallLog | None,
        app: str | None = None,
    ) -> None:
        self.name = name
        self.spec = spec
        self.backend = backend
        self.log = log
        self.app = app

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        p = self.spec.price
        return (tokens_in * p.input_per_1m + tokens_out * p.output_per_1m) / 1_000_000

    def complete(
        self,
        messages: Sequence[Message],
        constraint: Constraint | None = None,
        *,
        call_group: str,
        attempt: int = 1,
        fallback_from: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
        logprobs: bool = True,
        shadow_of: str | None = None,
        allow_empty: bool = False,
    ) -> Result:
        """One logged attempt. An unconstrained call that comes back empty (or only
        whitespace) is an ``invalid_output`` — retryable, so the tier's retries and fallback
        get a turn — unless the caller passes ``allow_empty=True``; a constraint decides for
        itself whether empty text is valid."""
        gen = self.spec.generation
        kwargs: dict[str, Any] = {
            "max_tokens": max_tokens if max_tokens is not None else gen.max_tokens,
            "temperature": temperature if temperature is not None else gen.temperature,
            "stop": stop if stop is not None else gen.stop,
            "seed": seed if seed is not None else gen.seed,
            "top_p": gen.top_p,
        }
        rec = CallRecord(
            messages=[{"role": m["role"], "content": m["content"]} for m in messages],
            call_group=call_group,
            app=self.app,
            session_id=current_session.get(),
            run_id=current_run.get(),
            graph=current_graph.get(),
            node=current_node.get(),
            tier=self.name,
            tier_size=self.spec.size,
            backend=self.backend.name,
            model=self.backend.model,
            attempt=attempt,
            fallback_from=fallback_from,
            constraint=constraint.to_dict() if constraint else None,
            params={
                **{k: v for k, v in kwargs.items() if v is not None},
                **({"shadow_of": shadow_of} if shadow_of else {}),
            },
        )
        step = current_step.get()
        if step is not None:  # a run on a durable thread: the call gets its place, for replay
            rec.replay_key = step.key(f"shadow:{self.name}" if shadow_of else self.name)
            if step.replay is not None:
                logged = step.replay.replayable(rec.replay_key)
                if logged is not None and json.loads(logged["messages"]) == rec.messages:
                    step.replayed += 1
                    return self._replay(logged, rec, constraint, allow_empty)
        started = time.perf_counter()
        try:
            completion = self.backend.complete(
                messages, constraint, logprobs=logprobs, timeout_s=self.spec.timeout_s, **kwargs
            )
            if rec.replay_key is not None:
                rec.logprobs = completion.logprobs
            rec.output = completion.text
            rec.tokens_in = completion.usage.input_tokens
            rec.tokens_out = completion.usage.output_tokens
            rec.latency_s = completion.latency_s
            rec.mean_logprob = completion.mean_logprob
            rec.cost_usd = self.cost(rec.tokens_in, rec.tokens_out)
            value = check_output(completion.text, constraint)
            if constraint is None and not allow_empty and not completion.text.strip():
                raise ModelError(
                    "the model returned an empty completion",
                    kind="invalid_output",
                    output=completion.text,
                )
        except ModelError as err:
            err.backend = err.backend or self.backend.name
            err.model = err.model or self.backend.model
            rec.status = "error"
            rec.error_kind = err.kind
            rec.error = str(err)
            if err.output is not None and rec.output is None:
                rec.output = err.output  # e.g. what ran to max_tokens: the call log keeps it
            if err.tokens is not None and rec.tokens_in is None:
                rec.tokens_in, rec.tokens_out = err.tokens
                rec.cost_usd = self.cost(*err.tokens)
            if rec.latency_s is None:
                rec.latency_s = time.perf_counter() - started
            self._finish(rec)
            raise
        except BaseException as exc:
            rec.status = "cancelled" if isinstance(exc, KeyboardInterrupt) else "error"
            rec.error_kind = "cancelled" if rec.status == "cancelled" else "server"
            rec.error = f"{type(exc).__name__}: {exc}"
            rec.latency_s = time.perf_counter() - started
            self._finish(rec)
            raise
        self._finish(rec)
        return Result(completion, value, self.name)

    def _replay(
        self,
        logged: dict[str, Any],
        rec: CallRecord,
        constraint: Constraint | None,
        allow_empty: bool,
    ) -> Result:
        """A call the killed run had made and logged, answered again from the log: the same
        text, log-probabilities, tokens and outcome, no backend call and no new row."""
        for name in ("call_id", "output", "tokens_in", "tokens_out", "latency_s", "cost_usd"):
            setattr(rec, name, logged.get(name))
        for name in ("status", "error_kind", "error", "mean_logprob"):
            setattr(rec, name, logged.get(name))
        self._finish(rec, replayed=True)
        if rec.status != "ok":
            message = re.sub(r"^\[[^\]]*\] ", "", rec.error or "a replayed call failed")
            raise ModelError(
                message,
                kind=rec.error_kind or "server",  # type: ignore[arg-type]
                backend=rec.backend,
                model=rec.model,
                output=rec.output,
            )
        lps = json.loads(logged["logprobs"]) if logged.get("logprobs") else None
        text = rec.output or ""
        completion = Completion(
            text,
            Usage(rec.tokens_in or 0, rec.tokens_out or 0),
            rec.latency_s or 0.0,
            rec.model or "",
            rec.backend or "",
            logprobs=lps,
            finish_reason="replayed",
        )
        value = check_output(text, constraint)
        if constraint is None and not allow_empty and not text.strip():
            raise ModelError("the model returned an empty completion", kind="invalid_output")
        return Result(completion, value, self.name)

    def _finish(self, rec: CallRecord, *, replayed: bool = False) -> None:
        if self.log is not None and not replayed:
            self.log.record(rec)
        sink = trace_sink.get()
        if sink is not None:
            sink.append(
                {
                    "node": rec.node,
                    "tier": rec.tier,
                    "size": rec.tier_size,
                    "backend": rec.backend,
                    "model": rec.model,
                    "tokens_in": rec.tokens_in or 0,
                    "tokens_out": rec.tokens_out or 0,
                    "latency_s": round(rec.latency_s or 0.0, 4),
                    "cost_usd": rec.cost_usd or 0.0,
                    "status": rec.status,
                    "error": rec.error,
                    "call_id": rec.call_id,
                    "mean_logprob": rec.mean_logprob,
                    **({"replayed": True} if replayed else {}),
                    # A failed call's raw output (a runaway to max_tokens, text outside the
                    # constraint), so a trace explains the failure without the call log.
                    **({"output": rec.output} if rec.status != "ok" and rec.output else {}),
                }
            )


class FallbackChain:
    """Fallback is a wrapper, not if/else in nodes: try a tier (with its retries), and on a
    retryable error (timeout, connection, server, invalid output) move to the next tier."""

    def __init__(self, registry: TierRegistry, tiers: Sequence[str]) -> None:
        self.registry = registry
        self.tiers = list(tiers)

    def complete(
        self, messages: Sequence[Message], constraint: Constraint | None = None, **kwargs: Any
    ) -> Result:
        group = kwargs.pop("call_group", None) or uuid.uuid4().hex
        errors: list[tuple[str, ModelError]] = []
        attempt = 0
        previous: str | None = None
        for tier in self.tiers:
            try:
                client = self.registry.client(tier)
            except ModelError as err:  # e.g. the backend's package is missing
                errors.append((tier, err))
                previous = tier
                continue
            for _ in range(1 + client.spec.retries):
                attempt += 1
                try:
                    return client.complete(
                        messages,
                        constraint,
                        call_group=group,
                        attempt=attempt,
                        fallback_from=previous,
                        **kwargs,
                    )
                except ModelError as err:
                    errors.append((tier, err))
                    if not err.retryable:
                        break
            previous = tier
            if errors and not errors[-1][1].retryable and errors[-1][1].kind != "config":
                break
        if len(errors) == 1:
            raise errors[0][1]
        raise AllTiersFailed(errors)


class TierRegistry:
    """Builds backends lazily (a GGUF loads on the first call that needs it) and shares them:
    tiers with the same backend, model and settings use one backend instance."""

    def __init__(
        self,
        tiers: dict[str, TierSpec],
        log: CallLog | None = None,
        app: str | None = None,
        backends: dict[str, Backend] | None = None,
    ) -> None:
        self.tiers = tiers
        self.log = log
        self.app = app
        self._given = dict(backends or {})
        self._backends: dict[str, Backend] = {}
        self._lock = threading.Lock()
        self._shadow_pool: ThreadPoolExecutor | None = None
        self._shadow_futures: list[Future[Any]] = []
        self.shadows_dropped = 0

    def backend(self, tier: str) -> Backend:
        if tier in self._given:
            return self._given[tier]
        spec = self.tiers[tier]
        key = repr((spec.backend, spec.model, sorted(spec.settings.items())))
        with self._lock:
            if key not in self._backends:
                self._backends[key] = create_backend(spec.backend, spec.model, spec.settings)
            return self._backends[key]

    def client(self, tier: str) -> TierClient:
        return TierClient(tier, self.tiers[tier], self.backend(tier), self.log, self.app)

    def chain(self, tier: str) -> list[str]:
        """The tier followed by its fallbacks, in order."""
        out = [tier]
        nxt = self.tiers[tier].fallback
        while nxt is not None and nxt not in out:
            out.append(nxt)
            nxt = self.tiers[nxt].fallback
        return out

    def model_client(
        self, tier: str, shadow: str | None = None, *, fallback: bool = True
    ) -> ModelClient:
        """The client a node calls. ``fallback=False``: this tier alone, without its fallback
        chain (agents that choose the other tier themselves: cascade, parallel)."""
        return ModelClient(self, tier, shadow, fallback=fallback)

    #: Shadow calls waiting at most; beyond it new ones are dropped (and counted), so a slow
    #: candidate can neither grow memory without bound nor hold up interpreter exit for long.
    MAX_PENDING_SHADOWS = 32

    def run_shadow(self, fn: Callable[[], Any]) -> bool:
        """Run a shadow call off the node's path: one worker, in call order, so a candidate
        model never runs two calls at once (and on a small machine competes with at most one
        primary call). Returns False when the call was dropped (too many pending)."""
        with self._lock:
            if self._shadow_pool is None:
                self._shadow_pool = ThreadPoolExecutor(1, thread_name_prefix="slmgraph-shadow")
            self._shadow_futures = [f for f in self._shadow_futures if not f.done()]
            if len(self._shadow_futures) >= self.MAX_PENDING_SHADOWS:
                self.shadows_dropped += 1
                return False
            self._shadow_futures.append(self._shadow_pool.submit(fn))
            return True

    def wait_shadows(self, timeout: float | None = None) -> None:
        """Block until the queued shadow calls are done (tests, benchmarks, shutdown)."""
        with self._lock:
            pending = list(self._shadow_futures)
        for f in pending:
            f.result(timeout=timeout)


class ModelClient:
    """What a node calls: the node's tier, with the tier's fallback chain as a wrapper, and
    optionally a shadow tier that answers the same call in the background (logged, unused)."""

    def __init__(
        self,
        registry: TierRegistry,
        tier: str,
        shadow: str | None = None,
        *,
        fallback: bool = True,
    ) -> None:
        self.registry = registry
        self.tier = tier
        self.shadow = shadow
        self.fallback = fallback

    def complete(
        self, messages: Sequence[Message], constraint: Constraint | None = None, **kwargs: Any
    ) -> Result:
        tiers = self.registry.chain(self.tier) if self.fallback else [self.tier]
        chain = FallbackChain(self.registry, tiers)
        group = uuid.uuid4().hex
        result = chain.complete(messages, constraint, call_group=group, **kwargs)
        if self.shadow is not None:
            self._shadow(list(messages), constraint, group, result.tier, kwargs)
        return result

    def _shadow(
        self,
        messages: list[Message],
        constraint: Constraint | None,
        group: str,
        answered_by: str,
        kwargs: dict[str, Any],
    ) -> None:
        assert self.shadow is not None
        shadow = self.shadow
        registry = self.registry
        context = contextvars.copy_context()  # the run, node and graph ids for the log

        def call() -> None:
            trace_sink.set(None)  # the node's trace is closed by now; the log has the call
            try:
                registry.client(shadow).complete(
                    messages, constraint, call_group=group, shadow_of=answered_by, **kwargs
                )
            except Exception as exc:  # logged as an error row by the client; never raised
                logger.debug("shadow call on %r failed: %s", shadow, exc)

        if not registry.run_shadow(lambda: context.run(call)):
            logger.warning(
                "shadow call on %r dropped: %d already pending (the candidate is slower than "
                "the traffic)",
                shadow,
                registry.MAX_PENDING_SHADOWS,
            )
