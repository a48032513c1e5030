"""Conditional activation on one step: the node's tier answers; a confidence score (mean or
minimum token logprob, or self-consistency across samples) below ``threshold`` — or a failure —
escalates the call to ``escalate_to``; so does an answer that fails the task check ``validator``
(a registered :class:`slmgraph.registry.Validator`, e.g. the query-writer's ``sql_executes``).
If the escalation fails too, a small-model answer, when there is one, stands (and the trace
says so); with none, the node fails with both errors.

A cascade owns both calls (it decides on the first one's confidence), so it is an agent rather
than an edge router (:mod:`slmgraph.routing.edges`).
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from slmgraph import registry
from slmgraph.agents.prompt import PromptParams, _reads, render
from slmgraph.answers import normalise
from slmgraph.context import RunContext
from slmgraph.errors import RunError, SlmgraphError
from slmgraph.models.base import Message
from slmgraph.registry import NodeEnv, NodeFn, State, Update, register_agent
from slmgraph.tiers import Result

logger = logging.getLogger(__name__)


class CascadeParams(PromptParams):
    escalate_to: str = Field(description="The tier that answers when confidence is low")
    confidence: Literal["mean_logprob", "min_logprob", "consistency"] = "mean_logprob"
    threshold: float = Field(
        description="Escalate below this confidence (a logprob, or a share of samples agreeing)"
    )
    samples: int = Field(3, ge=2, le=16, description="For consistency: answers sampled")
    sample_temperature: float = Field(0.7, gt=0, le=2)
    confidence_key: str | None = Field(None, description="State key for the confidence score")
    tier_key: str | None = Field(None, description="State key for the tier that answered")
    validator: str | None = Field(
        None,
        description=(
            "A registered task check on the small answer (e.g. sql_executes: the SQL runs "
            "read-only on the run's database); failing it escalates whatever the confidence"
        ),
    )


def _cascade_writes(params: CascadeParams) -> list[str]:
    return [params.output, *(k for k in (params.confidence_key, params.tier_key) if k)]


def _cascade_reads(params: CascadeParams, base_dir: Path | None) -> list[str]:
    check = registry.VALIDATORS.get(params.validator or "")
    return [*_reads(params, base_dir), *(check.reads if check else ())]


def _value(result: Result, params: PromptParams) -> Any:
    value = result.value
    return value.strip() if isinstance(value, str) and params.strip else value


@register_agent(
    "cascade",
    CascadeParams,
    reads=_cascade_reads,
    writes=_cascade_writes,
    tiers=lambda p: {"escalate_to": p.escalate_to},
    validators=lambda p: {"validator": p.validator} if p.validator else {},
    description="Answer on the node's tier; escalate to another tier below a confidence",
)
def cascade_agent(env: NodeEnv) -> NodeFn:
    params: CascadeParams = env.params
    template = params.template(env.spec.base_dir)
    constraint = params.constraint.build() if params.constraint else None
    assert env.tier is not None and env.models is not None
    # Each side is its tier alone: the node's tier may fall back to the very tier the cascade
    # escalates to, which would score the large model's answer as the small one's.
    small = env.models(env.tier, fallback=False)
    big = env.models(params.escalate_to)
    kw = {"max_tokens": params.max_tokens, "stop": params.stop}

    def answer_small(messages: list[Message]) -> tuple[Any, float | None]:
        if params.confidence != "consistency":
            result = small.complete(messages, constraint, temperature=params.temperature, **kw)
            lps = result.completion.logprobs or []
            finite = [x for x in lps if x == x and x != float("-inf")]
            if params.confidence == "mean_logprob":
                conf = result.completion.mean_logprob
            else:
                conf = min(finite) if finite else None
            return _value(result, params), conf
        # Self-consistency: one greedy answer and samples; the majority answer, and the share
        # of answers that agree with it.
        answers = [_value(small.complete(messages, constraint, temperature=0.0, **kw), params)]
        for i in range(params.samples - 1):
            r = small.complete(
                messages, constraint, temperature=params.sample_temperature, seed=i + 1, **kw
            )
            answers.append(_value(r, params))
        counts = Counter(normalise(a) for a in answers)
        top, n = counts.most_common(1)[0]
        return next(a for a in answers if normalise(a) == top), n / len(answers)

    check = registry.VALIDATORS.get(params.validator) if params.validator else None

    def valid(value: Any, state: State, ctx: RunContext) -> bool:
        """The task check (``validator``); none: valid."""
        if check is None:
            return True
        reason = check.check(value, state, ctx)
        if reason is not None:
            logger.info(
                "%s: the small answer fails %s (%s): escalating", env.name, check.name, reason
            )
            return False
        return True

    def run(state: State, ctx: RunContext) -> Update:
        messages = render(env, template, state)
        value: Any = None
        conf: float | None = None
        small_error: SlmgraphError | None = None
        try:
            value, conf = answer_small(messages)
        except SlmgraphError as exc:  # the small tier (and its fallbacks) failed: escalate
            small_error = exc
        tier = env.tier
        invalid = small_error is None and not valid(value, state, ctx)
        if small_error is not None or invalid or conf is None or conf < params.threshold:
            try:
                result = big.complete(messages, constraint, temperature=params.temperature, **kw)
                value, tier = _value(result, params), result.tier
            except SlmgraphError as exc:
                if small_error is not None:
                    raise RunError(
                        f"both tiers failed: {env.tier}: {small_error}; "
                        f"{params.escalate_to}: {exc}",
                        node=env.name,
                    ) from None
                logger.warning("%s: escalation failed (%s); the small answer stands", env.name, exc)
        update: Update = {params.output: value}
        if params.confidence_key:
            update[params.confidence_key] = conf
        if params.tier_key:
            update[params.tier_key] = tier
        return update

    return run


__all__ = ["CascadeParams", "cascade_agent"]
