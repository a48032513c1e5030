"""Architect (llm by default): requirements -> a design under a schema (the signature, data
structures, the algorithm as steps, the cases worth testing)."""

from __future__ import annotations

from slmgraph.agents.team.common import RoleParams, document_node, role_tiers, text_list
from slmgraph.registry import NodeEnv, NodeFn, register_agent

SCHEMA = {
    "type": "object",
    "properties": {
        "signature": {"type": "string", "maxLength": 200},
        "data_structures": text_list(3, 100),
        "steps": text_list(6, 150),
        "test_cases": text_list(4, 100),
    },
    "required": ["signature", "data_structures", "steps", "test_cases"],
}


class Params(RoleParams):
    prompt: str = "team/design"
    max_tokens: int = 600  # the schema's longest document is ~1,800 characters


@register_agent(
    "team.architect",
    Params,
    reads=lambda p, b: ["task", "requirements"],
    writes=lambda p: ["design"],
    prompts=lambda p: {"prompt": p.prompt},
    tiers=role_tiers,
    description="Requirements -> design (JSON: signature, data structures, steps, test cases)",
)
def architect(env: NodeEnv) -> NodeFn:
    return document_node(env, "design", SCHEMA)
