"""The domain's nodes: ``units.read`` (an agent: the quantity in a question, as JSON) and
``units.convert`` (a tool: arithmetic, no model)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from slmgraph.constraints import Constraint
from slmgraph.prompts import load_prompt
from slmgraph.registry import NodeEnv, NodeFn, State, Update, register_agent, register_tool

#: Metres in each unit, by the unit's name (names, not symbols: "m" and "mi" are one token apart
#: for a small model decoding under the enum) and its symbol for the answer.
METRES = {
    "millimetre": (0.001, "mm"),
    "centimetre": (0.01, "cm"),
    "metre": (1.0, "m"),
    "kilometre": (1000.0, "km"),
    "inch": (0.0254, "in"),
    "foot": (0.3048, "ft"),
    "mile": (1609.344, "mi"),
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
        (unit, symbol), (to, to_symbol) = METRES[q["unit"]], METRES[q["to"]]
        return {"answer": f"{q['value']:g} {symbol} = {q['value'] * unit / to:.4g} {to_symbol}"}

    return run
