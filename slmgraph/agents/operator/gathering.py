"""Information gathering (slm): the page -> a structured observation. The elements with their
refs and what changed are read from the DOM by the ``operator.observe`` tool (no model is
needed to list a page); the model picks the elements the instruction needs and copies the
values it asks to type, choose or click, so the planner reads a marked page and exact values."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from slmgraph.agents.operator.common import PROMPT_VARS, ModuleParams, ask, page_of
from slmgraph.constraints.base import Constraint
from slmgraph.prompts import load_prompt
from slmgraph.registry import NodeEnv, NodeFn, State, Update, register_agent


class Params(ModuleParams):
    prompt: str = "operator/gather"
    max_relevant: int = Field(6, ge=1, le=20)
    max_tokens: int = 160


def schema(refs: list[int], max_relevant: int) -> dict[str, Any]:
    items: dict[str, Any] = {"type": "integer", "enum": refs} if refs else {"type": "integer"}
    return {
        "type": "object",
        "properties": {
            "relevant": {"type": "array", "items": items, "maxItems": max_relevant},
            "values": {"type": "array", "items": {"type": "string", "maxLength": 60},
                       "maxItems": 4},
        },
        "required": ["relevant", "values"],
    }  # fmt: skip


@register_agent(
    "operator.information_gathering",
    Params,
    reads=lambda p, b: ["page", "changes"],
    writes=lambda p: ["observation"],
    prompts=lambda p: {"prompt": p.prompt},
    prompt_vars=PROMPT_VARS,
    description="The page -> the elements the instruction needs and the values it names (JSON)",
)
def information_gathering(env: NodeEnv) -> NodeFn:
    params: Params = env.params
    template = load_prompt(params.prompt, env.spec.base_dir)

    def run(state: State) -> Update:
        refs = page_of(state).refs()
        value = ask(env, params, template, state,
                    Constraint.json(schema(refs, params.max_relevant))).value  # fmt: skip
        relevant = [r for r in value.get("relevant") or [] if r in refs]
        return {"observation": {"relevant": relevant, "values": list(value.get("values") or [])}}

    return run
