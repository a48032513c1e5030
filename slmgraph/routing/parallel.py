"""Parallel verification on one step: the node's tier drafts while ``verifier`` answers the same
call at the same time; when they agree the draft stands, when they disagree ``policy`` picks
(the verifier's answer by default). One side failing leaves the other's answer; both failing
ends the node in its defined failure state.
"""

from __future__ import annotations

import contextvars
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from pydantic import Field

from slmgraph.agents.prompt import PromptParams, _reads, render
from slmgraph.answers import normalise
from slmgraph.errors import RunError, SlmgraphError
from slmgraph.registry import NodeEnv, NodeFn, State, Update, register_agent
from slmgraph.tiers import Result

logger = logging.getLogger(__name__)


def _value(result: Result, params: PromptParams) -> Any:
    value = result.value
    return value.strip() if isinstance(value, str) and params.strip else value


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


__all__ = ["ParallelParams", "parallel_agent"]
