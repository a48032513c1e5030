"""Product manager (slm): the task statement -> a requirements document under a schema (goal,
inputs and output, edge cases, examples as calls with expected values)."""

from __future__ import annotations

from slmgraph.agents.team.common import CASE, RoleParams, document_node, role_tiers, text_list
from slmgraph.registry import NodeEnv, NodeFn, register_agent

SCHEMA = {
    "type": "object",
    "properties": {
        "goal": {"type": "string", "maxLength": 200},
        "inputs": text_list(4, 100),
        "output": {"type": "string", "maxLength": 150},
        "edge_cases": text_list(4, 80),
        "examples": {"type": "array", "items": CASE, "maxItems": 4},
    },
    "required": ["goal", "inputs", "output", "edge_cases", "examples"],
}


class Params(RoleParams):
    prompt: str = "team/requirements"
    max_tokens: int = 700  # the schema's longest document is ~2,000 characters


@register_agent(
    "team.product_manager",
    Params,
    reads=lambda p, b: ["task"],
    writes=lambda p: ["requirements"],
    prompts=lambda p: {"prompt": p.prompt},
    tiers=role_tiers,
    description="Task -> requirements (JSON: goal, inputs, output, edge cases, examples)",
)
def product_manager(env: NodeEnv) -> NodeFn:
    return document_node(env, "requirements", SCHEMA)
