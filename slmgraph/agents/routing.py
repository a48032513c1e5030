"""Agents that combine tiers on one step: a cascade (conditional activation on confidence) and
parallel verification. Both take the prompt agent's params (prompt, constraint, output) and
name the other tier in their params; both end answered or in a defined failure state:

- ``cascade``: the node's tier answers; a confidence score (mean or minimum token logprob, or
  self-consistency across samples) below ``threshold`` — or a failure — escalates the call to
  ``escalate_to``; so does an answer that fails the task check ``validator`` (e.g. SQL that
  does not execute). If the escalation fails too, a small-model answer, when there is one, stands
  (and the trace says so); with none, the node fails with both errors.
- ``parallel``: the node's tier drafts while ``verifier`` answers the same call at the same
  time; when they agree the draft stands, when they disagree ``policy`` picks (the verifier's
  answer by default). One side failing leaves the other's answer.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from slmgraph.agents.prompt import PromptParams, _reads, render
from slmgraph.answers import normalise
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
    validator: Literal["sql_executes"] | None = Field(
        None,
        description=(
            "A task check on the small answer; failing it escalates whatever the confidence. "
            "sql_executes: the SQL runs read-only on the run's database (state key 'db')"
        ),
    )


def _cascade_writes(params: CascadeParams) -> list[str]:
    return [params.output, *(k for k in (params.confidence_key, params.tier_key) if k)]


def _cascade_reads(params: CascadeParams, base_dir: Path | None) -> list[str]:
    return [*_reads(params, base_dir), *(["db"] if params.validator == "sql_executes" else [])]


def _value(result: Result, params: PromptParams) -> Any:
    value = result.value
    return value.strip() if isinstance(value, str) and params.strip else value


@register_agent(
    "cascade",
    CascadeParams,
    reads=_cascade_reads,
    writes=_cascade_writes,
    tiers=lambda p: {"escalate_to": p.escalate_to},
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

    def valid(value: Any, state: State) -> bool:
        """The task check (``validator``); none: valid."""
        if params.validator != "sql_executes":
            return True
        from slmgraph.agents.sql.common import extract_sql
        from slmgraph.tools.sql.database import database

        db = database(state, env.name)  # no database in the state: a RunError naming the node
        try:
            db.execute(extract_sql(str(value)), max_rows=1, timeout_s=10.0)
        except SlmgraphError as exc:
            logger.info("%s: the small answer fails sql_executes (%s): escalating", env.name, exc)
            return False
        return True

    def run(state: State) -> Update:
        messages = render(env, template, state)
        value: Any = None
        conf: float | None = None
        small_error: SlmgraphError | None = None
        try:
            value, conf = answer_small(messages)
        except SlmgraphError as exc:  # the small tier (and its fallbacks) failed: escalate
            small_error = exc
        tier = env.tier
        invalid = small_error is None and not valid(value, state)
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


class ParallelParams(PromptParams):
    verifier: str = Field(description="The tier that answers the same call at the same time")
    policy: Literal["verifier", "draft"] = Field(
        "verifier", description="Whose answer wins when the two disagree"
    )
    agree_key: str | None = Field(None, description="State key: did draft and verifier agree")
    concurrent: bool = Field(
        True,
        description=(
            "Run draft and verifier at the same time (false: one after the other, e.g. for a "
            "server that takes one request at a time; on 2 CPU cores concurrent was 1.4x faster)"
        ),
    )


def _parallel_writes(params: ParallelParams) -> list[str]:
    return [params.output, *([params.agree_key] if params.agree_key else [])]


@register_agent(
    "parallel",
    ParallelParams,
    reads=_reads,
    writes=_parallel_writes,
    tiers=lambda p: {"verifier": p.verifier},
    description="Draft on the node's tier while another tier answers; settle disagreements",
)
def parallel_agent(env: NodeEnv) -> NodeFn:
    params: ParallelParams = env.params
    template = params.template(env.spec.base_dir)
    constraint = params.constraint.build() if params.constraint else None
    assert env.tier is not None and env.models is not None
    # The draft is its tier alone (its fallback could be the verifier itself: a false "agree").
    draft_client = env.models(env.tier, fallback=False)
    verify_client = env.models(params.verifier)
    kw = {
        "max_tokens": params.max_tokens,
        "temperature": params.temperature,
        "stop": params.stop,
    }
    pool = ThreadPoolExecutor(4, thread_name_prefix=f"slmgraph-{env.name}")

    def run(state: State) -> Update:
        messages = render(env, template, state)

        def call(client: Any) -> Any:
            try:
                return _value(client.complete(messages, constraint, **kw), params)
            except SlmgraphError as exc:
                return exc

        started = time.perf_counter()
        # The verifier runs beside (in a copy of this node's context, so its call is logged and
        # traced as this node's); the draft runs in the caller's thread.
        if params.concurrent:
            verifying = pool.submit(contextvars.copy_context().run, call, verify_client)
            draft = call(draft_client)
            verdict = verifying.result()
        else:
            draft = call(draft_client)
            verdict = call(verify_client)
        logger.debug("%s: both sides in %.2f s", env.name, time.perf_counter() - started)
        if isinstance(draft, Exception) and isinstance(verdict, Exception):
            raise RunError(
                f"both tiers failed: {env.tier}: {draft}; {params.verifier}: {verdict}",
                node=env.name,
            )
        if isinstance(draft, Exception):
            value, agree = verdict, False
        elif isinstance(verdict, Exception):
            value, agree = draft, False
        else:
            agree = normalise(draft) == normalise(verdict)
            value = draft if agree or params.policy == "draft" else verdict
        update: Update = {params.output: value}
        if params.agree_key:
            update[params.agree_key] = agree
        return update

    return run


__all__ = ["CascadeParams", "ParallelParams", "normalise"]
