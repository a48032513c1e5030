"""Skill curation (slm): retrieve the skills whose instruction template matches this episode's
instruction (the store binds their slots), and let the model choose one or none. No call when
nothing matches, and none after the first step (a skill is a whole episode's sequence). This
runs before task inference: a chosen skill is the episode's plan and its action, so neither the
large model nor the planner is asked (Cradle's learned UI sequences, on no model at all). A
skill is offered while it has worked more often than not. New skills are stored by
``operator.finish`` after a success."""

from __future__ import annotations

from pydantic import Field

from slmgraph.agents.operator.common import PROMPT_VARS, ModuleParams, ask
from slmgraph.constraints.base import Constraint
from slmgraph.context import RunContext
from slmgraph.prompts import load_prompt
from slmgraph.registry import NodeEnv, NodeFn, State, Update, register_agent
from slmgraph.tools.browser.skills import SkillStore


class Params(ModuleParams):
    prompt: str = "operator/skills"
    enabled: bool = Field(True, description="Off: never retrieve (the skills-off ablation)")
    k: int = Field(3, ge=1, le=10, description="Skills offered at most")
    max_tokens: int = 24


@register_agent(
    "operator.skill_curation",
    Params,
    reads=lambda p, b: ["task", "goal", "step"],
    writes=lambda p: ["skill"],
    prompts=lambda p: {"prompt": p.prompt},
    prompt_vars=PROMPT_VARS,
    description="Retrieve matching skills from the store and choose one or none",
)
def skill_curation(env: NodeEnv) -> NodeFn:
    params: Params = env.params
    template = load_prompt(params.prompt, env.spec.base_dir)

    def run(state: State, ctx: RunContext) -> Update:
        if not params.enabled or int(state.get("step") or 0) > 0 or state.get("skill_used"):
            return {"skill": None}
        store: SkillStore = ctx.resource("skills", state, env.name)
        found = store.retrieve(str(state.get("task")), str(state.get("goal") or ""), params.k)
        if not found:
            return {"skill": None}
        names = [s.name for s, _ in found]
        listing = "\n".join(f"- {s.describe()} with {values}" for s, values in found)
        choice = ask(env, params, template, state, Constraint.choice(["none", *names]),
                     {"skills": listing}).value  # fmt: skip
        chosen = next(((s, v) for s, v in found if s.name == choice), None)
        if chosen is None:
            return {"skill": None}
        return {"skill": {"name": chosen[0].name, "values": chosen[1],
                          "describe": chosen[0].describe()}}  # fmt: skip

    return run
