"""Task inference (llm by default): what to do next, from the instruction, the steps so far
and the last reflection — where the plan is adapted when something went wrong.

Two modes (``replan``). ``every_step``: one call per step, the current subtask. ``on_failure``
(the graph's default): one call writes the remaining steps as a plan; later steps take the
plan's next step with no call, and the large model is asked again only when it matters — the
last action was refused or reflected as failed, or the plan ran out before the page ended the
episode. Cradle calls its large model for every module every step; most of those steps are
routine, and here they run on no model at all."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from slmgraph.agents.operator.common import PROMPT_VARS, ModuleParams, ask
from slmgraph.constraints.base import Constraint
from slmgraph.prompts import load_prompt
from slmgraph.registry import NodeEnv, NodeFn, State, Update, register_agent

SCHEMA = {
    "type": "object",
    "properties": {"subtask": {"type": "string", "maxLength": 120}},
    "required": ["subtask"],
}
PLAN_SCHEMA = {
    "type": "object",
    "properties": {
        "plan": {"type": "array", "items": {"type": "string", "maxLength": 100},
                 "minItems": 1, "maxItems": 6},
    },
    "required": ["plan"],
}  # fmt: skip


class Params(ModuleParams):
    prompt: str = Field("", description="Default: operator/infer_plan (on_failure), operator/infer")
    max_tokens: int = 160  # a plan of six steps fits
    replan: Literal["every_step", "on_failure"] = Field(
        "on_failure",
        description="every_step: a call per step; on_failure: a plan, asked again only after a"
        " refused or failed action or when the plan ran out",
    )

    @property
    def prompt_name(self) -> str:
        default = "operator/infer_plan" if self.replan == "on_failure" else "operator/infer"
        return self.prompt or default


def needs_plan(state: State) -> bool:
    """Whether the plan must be (re)written at this step."""
    plan: dict[str, Any] = state.get("plan") or {}
    steps = list(plan.get("steps") or [])
    reflection = state.get("reflection")
    failed = bool(state.get("action_error")) or (
        reflection is not None and not reflection.get("success")
    )
    return not steps or failed or int(plan.get("pos", 0)) + 1 >= len(steps)


@register_agent(
    "operator.task_inference",
    Params,
    reads=lambda p, b: ["page", "memory", "reflection", "observation", "plan", "action_error"],
    writes=lambda p: ["subtask", "plan"],
    prompts=lambda p: {"prompt": p.prompt_name},
    prompt_vars=PROMPT_VARS,
    description="The current subtask: each step, or from a plan revised on failure (JSON)",
)
def task_inference(env: NodeEnv) -> NodeFn:
    params: Params = env.params
    template = load_prompt(params.prompt_name, env.spec.base_dir)

    def run(state: State) -> Update:
        if params.replan == "every_step":
            value = ask(env, params, template, state, Constraint.json(SCHEMA)).value
            return {"subtask": str(value["subtask"])}
        if not needs_plan(state):
            plan = dict(state.get("plan") or {})
            pos = int(plan.get("pos", 0)) + 1
            return {"subtask": str(plan["steps"][pos]), "plan": {**plan, "pos": pos}}
        value = ask(env, params, template, state, Constraint.json(PLAN_SCHEMA)).value
        steps = [str(s) for s in value["plan"]] or ["done"]
        return {"subtask": steps[0], "plan": {"steps": steps, "pos": 0}}

    return run
