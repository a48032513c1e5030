"""What the team's roles share: prompts rendered with JSON documents, a call under a schema."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from slmgraph.agents.prompt import render
from slmgraph.constraints.base import Constraint
from slmgraph.models.base import Message
from slmgraph.prompts import PromptTemplate, load_prompt
from slmgraph.registry import NodeEnv, NodeFn, State, Update
from slmgraph.tiers import Result


class RoleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(description="Built-in prompt name (team/...) or a YAML file path")
    max_tokens: int = Field(600, ge=16, le=8192)
    temperature: float | None = Field(None, ge=0, le=2)
    escalate_to: str | None = Field(
        None, description="A tier that redoes the call when the node's tier is unsure"
    )
    escalate_below: float = Field(
        -0.6, le=0, description="Unsure: the answer's mean token logprob is below this"
    )


def role_tiers(params: RoleParams) -> dict[str, str]:
    return {"escalate_to": params.escalate_to} if params.escalate_to else {}


def mean_logprob(result: Result) -> float | None:
    lps = result.completion.logprobs
    return sum(lps) / len(lps) if lps else None


def complete(
    env: NodeEnv, params: RoleParams, messages: list[Message], constraint: Constraint
) -> Result:
    """The node's tier answers; with ``escalate_to``, an unsure answer (mean logprob below
    ``escalate_below``) is asked again of that tier, whose answer stands (both are logged)."""
    assert env.model is not None
    result = env.model.complete(
        messages, constraint, max_tokens=params.max_tokens, temperature=params.temperature
    )
    score = mean_logprob(result)
    target = params.escalate_to
    unsure = score is not None and score < params.escalate_below
    if target and env.models and result.tier != target and unsure:
        result = env.models(target, fallback=False).complete(
            messages, constraint, max_tokens=params.max_tokens, temperature=params.temperature
        )
    return result


def as_text(value: Any) -> str:
    """A state value as a prompt shows it: documents as indented JSON, text as is."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=1, ensure_ascii=False)


def values(
    template: PromptTemplate, state: State, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The template's placeholders, filled from ``extra`` and the state, as text."""
    merged = {**state, **(extra or {})}
    return {k: as_text(merged.get(k)) for k in template.placeholders()}


def ask_json(
    env: NodeEnv,
    params: RoleParams,
    template: PromptTemplate,
    state: State,
    schema: dict[str, Any],
) -> Any:
    """The role's document: the prompt, the node's tier, decoded under ``schema``."""
    messages = render(env, template, values(template, state))
    return complete(env, params, messages, Constraint.json(schema)).value


def text_list(max_items: int, max_length: int = 160) -> dict[str, Any]:
    return {
        "type": "array",
        "items": {"type": "string", "maxLength": max_length},
        "maxItems": max_items,
    }


#: A test case: two Python expressions (tools/code/harness.py runs them).
CASE = {
    "type": "object",
    "properties": {
        "call": {"type": "string", "maxLength": 120},
        "expected": {"type": "string", "maxLength": 120},
    },
    "required": ["call", "expected"],
}


def document_node(env: NodeEnv, key: str, schema: dict[str, Any]) -> NodeFn:
    """A role that writes one JSON document under ``schema`` to state key ``key``."""
    params: RoleParams = env.params
    template = load_prompt(params.prompt, env.spec.base_dir)

    def run(state: State) -> Update:
        return {key: ask_json(env, params, template, state, schema)}

    return run
