"""The domain's nodes: ``units.read`` (an agent: the quantity in a question, as JSON) and
``units.convert`` (a tool: arithmetic, no model)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from slmgraph.constraints import Constraint
from slmgraph.prompts import load_prompt
from slmgraph.registry import NodeEnv, NodeFn, State, Update, register_agent, register_tool

METRES = {
    "mm": 0.001,
    "cm": 0.01,
    "m": 1.0,
    "km": 1000.0,
    "in": 0.0254,
    "ft": 0.3048,
    "mi": 1609.344,
}
QUANTITY = {
    "type": "object",
    "properties": {
        "value": {"type": "number"},
        "unit": {"enum": sorted(METRES)},
        "to": {"enum": sorted(METRES)},
    },
    "required": ["value", "unit", "to"],
}


class ReadParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = "units/read"


@register_agent(
    "units.read",
    ReadParams,
    reads=lambda p, base: ["question"],
    writes=lambda p: ["quantity"],
    prompts=lambda p: {"prompt": p.prompt},
)
def read(env: NodeEnv) -> NodeFn:
    template = load_prompt(env.params.prompt, env.spec.base_dir)
    assert env.model is not None  # an agent node always has its tier's client

    def run(state: State) -> Update:
        result = env.model.complete(template.render(dict(state)), Constraint.json(QUANTITY))
        return {"quantity": result.value}

    return run


@register_tool("units.convert", reads=lambda p, base: ["quantity"], writes=lambda p: ["answer"])
def convert(env: NodeEnv) -> NodeFn:
    def run(state: State) -> Update:
        q = state["quantity"]
        value = q["value"] * METRES[q["unit"]] / METRES[q["to"]]
        return {"answer": f"{q['value']:g} {q['unit']} = {value:.4g} {q['to']}"}

    return run
