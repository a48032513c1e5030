"""Researcher (llm tier): the hard cases. Runs when the fixer is exhausted or the slm's answer
has low confidence; sees every candidate table and the previous attempts with their errors.
Its SQL goes through the same check and execute."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from slmgraph.agents.sql.common import Scope
from slmgraph.agents.sql.query_writer import PROMPT_VARS, WRITES, write_sql
from slmgraph.agents.sql.query_writer import Params as WriterParams
from slmgraph.context import RunContext
from slmgraph.prompts import load_prompt
from slmgraph.registry import NodeEnv, NodeFn, State, Update, register_agent


class Params(WriterParams):
    prompt: str = "sql/research"
    scope: Scope = Field("neighbours", description="Which identifiers the grammar allows")
    samples: int = Field(1, ge=1, le=1)
    max_tokens: int = Field(256, ge=16)


def history(state: Mapping[str, Any]) -> str:
    lines = []
    for a in state.get("attempts") or []:
        if a.get("sql"):
            lines.append(f"- {a['sql']}")
        if a.get("error"):
            lines.append(f"  error: {a['error']}")
        if a.get("note"):
            lines.append(f"  note: {a['note']}")
    return "\n".join(lines) or "(none)"


@register_agent(
    "sql.researcher",
    Params,
    reads=lambda p, b: ["question", "db"],
    writes=lambda p: [*WRITES, "escalated"],
    prompts=lambda p: {"prompt": p.prompt},
    prompt_vars=PROMPT_VARS,
    description="Write SQL on the llm tier with the wider schema and past attempts",
)
def researcher(env: NodeEnv) -> NodeFn:
    params: Params = env.params
    template = load_prompt(params.prompt, env.spec.base_dir)

    def run(state: State, ctx: RunContext) -> Update:
        update = write_sql(env, params, state, ctx, {"history": history(state)}, template)
        update["escalated"] = True
        return update

    return run
