"""Task inference (llm by default): the current subtask, from the instruction, the steps so
far and the last reflection — where the plan is adapted when something went wrong."""

from __future__ import annotations

from slmgraph.agents.operator.common import PROMPT_VARS, ModuleParams, ask
from slmgraph.constraints.base import Constraint
from slmgraph.prompts import load_prompt
from slmgraph.registry import NodeEnv, NodeFn, State, Update, register_agent

SCHEMA = {
    "type": "object",
    "properties": {"subtask": {"type": "string", "maxLength": 120}},
    "required": ["subtask"],
}


class Params(ModuleParams):
    prompt: str = "operator/infer"
    max_tokens: int = 60


@register_agent(
    "operator.task_inference",
    Params,
    reads=lambda p, b: ["page", "memory", "reflection", "observation"],
    writes=lambda p: ["subtask"],
    prompts=lambda p: {"prompt": p.prompt},
    prompt_vars=PROMPT_VARS,
    description="The current subtask, in one sentence (JSON)",
)
def task_inference(env: NodeEnv) -> NodeFn:
    params: Params = env.params
    template = load_prompt(params.prompt, env.spec.base_dir)

    def run(state: State) -> Update:
        value = ask(env, params, template, state, Constraint.json(SCHEMA)).value
        return {"subtask": str(value["subtask"])}

    return run
