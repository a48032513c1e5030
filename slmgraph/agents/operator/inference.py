"""Task inference (llm by default): what to do next, from the instruction, the steps so far and the
last reflection — where the plan is adapted when something went wrong.

Two modes (``replan``). ``every_step``: one call per step, the current subtask. ``on_failure``
(the graph's default): one call writes the remaining steps as a plan; later steps take the
plan's next step with no call, and the large model is asked again only when it matters — the
last action was refused or reflected as failed, or the plan ran out before the page ended the
episode. Where skill curation chose a stored skill, the skill is the plan and no call is made; a
skill that fails is reflected on and the plan is written then. Cradle calls its large model for
every module every step; most of those steps are routine, and here they run on no model at all."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from slmgraph.agents.operator.common import (
    PROMPT_VARS,
    ModuleParams,
    ask,
    chosen_skill,
    page_of,
)
from slmgraph.agents.operator.planning import named_values
from slmgraph.constraints.base import Constraint
from slmgraph.prompts import load_prompt
from slmgraph.registry import NodeEnv, NodeFn, State, Update, register_agent
from slmgraph.tools.browser.actions import grammar

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
    prompt: str = Field(
        "",
        description="Default: operator/infer_actions (a plan of actions), operator/infer_plan"
        " (of steps in words), operator/infer (every_step)",
    )
    max_tokens: int = 160  # a plan of six steps fits
    replan: Literal["every_step", "on_failure"] = Field(
        "on_failure",
        description="every_step: a call per step; on_failure: a plan, asked again only after a"
        " refused or failed action or when the plan ran out",
    )
    plan_as: Literal["actions", "words"] = Field(
        "actions",
        description="actions: the plan is written as actions under the page's action grammar"
        " (one per line, refs of this page only), each taken as written; words: steps in words"
        " under a JSON schema, grounded by action planning",
    )

    @property
    def prompt_name(self) -> str:
        if self.prompt:
            return self.prompt
        if self.replan == "every_step":
            return "operator/infer"
        return "operator/infer_actions" if self.plan_as == "actions" else "operator/infer_plan"


#: The most actions one plan holds.
MAX_PLAN = 6


def plan_grammar(state: State) -> Constraint:
    """One to :data:`MAX_PLAN` actions, one per line, each admitted by the page's action
    grammar (what type may write: the values the instruction names, as action planning)."""
    one = grammar(page_of(state), allow_done=False, texts=named_values(state)).regex or ""
    return Constraint.pattern(f"{one}(\\n{one}){{0,{MAX_PLAN - 1}}}")


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
    reads=lambda p, b: [
        "page",
        "memory",
        "reflection",
        "observation",
        "plan",
        "action_error",
        "changes",
        "skill",
        "skill_used",
    ],
    writes=lambda p: ["subtask", "plan"],
    prompts=lambda p: {"prompt": p.prompt_name},
    prompt_vars=PROMPT_VARS,
    description="The current subtask: each step, or from a plan revised on failure (JSON)",
)
def task_inference(env: NodeEnv) -> NodeFn:
    params: Params = env.params
    template = load_prompt(params.prompt_name, env.spec.base_dir)

    def run(state: State) -> Update:
        if (skill := chosen_skill(state)) is not None:  # the skill is the plan: no call
            return {"subtask": f'skill("{skill}")'}
        if params.replan == "every_step":
            value = ask(env, params, template, state, Constraint.json(SCHEMA)).value
            return {"subtask": str(value["subtask"])}
        if not needs_plan(state):
            plan = dict(state.get("plan") or {})
            pos = int(plan.get("pos", 0)) + 1
            return {"subtask": str(plan["steps"][pos]), "plan": {**plan, "pos": pos}}
        if params.plan_as == "actions":
            text = str(ask(env, params, template, state, plan_grammar(state)).value)
            steps = [line.strip() for line in text.splitlines() if line.strip()] or ["done()"]
        else:
            value = ask(env, params, template, state, Constraint.json(PLAN_SCHEMA)).value
            steps = [str(s) for s in value["plan"]] or ["done"]
        return {"subtask": steps[0], "plan": {"steps": steps, "pos": 0}}

    return run
