"""Self-reflection (slm): did the last action do what was intended? JSON ``{success, reason}``
from the action, the page's answer (a refusal) and what changed. No call on the first step,
where nothing was done yet."""

from __future__ import annotations

from slmgraph.agents.operator.common import PROMPT_VARS, ModuleParams, ask
from slmgraph.constraints.base import Constraint
from slmgraph.prompts import load_prompt
from slmgraph.registry import NodeEnv, NodeFn, State, Update, register_agent

SCHEMA = {
    "type": "object",
    "properties": {
        "success": {"type": "boolean"},
        "reason": {"type": "string", "maxLength": 120},
    },
    "required": ["success", "reason"],
}


class Params(ModuleParams):
    prompt: str = "operator/reflect"
    max_tokens: int = 80


@register_agent(
    "operator.self_reflection",
    Params,
    reads=lambda p, b: ["memory", "changes", "action_error"],
    writes=lambda p: ["reflection"],
    prompts=lambda p: {"prompt": p.prompt},
    prompt_vars=PROMPT_VARS,
    description="Did the last action do what was intended? (JSON: success, reason)",
)
def self_reflection(env: NodeEnv) -> NodeFn:
    params: Params = env.params
    template = load_prompt(params.prompt, env.spec.base_dir)

    def run(state: State) -> Update:
        memory = list(state.get("memory") or [])
        if not memory:
            return {"reflection": None}
        last = memory[-1]
        extra = {"last_action": last.get("action"), "page_answer": last.get("error") or "accepted"}
        value = ask(env, params, template, state, Constraint.json(SCHEMA), extra).value
        return {"reflection": {"success": bool(value["success"]), "reason": str(value["reason"])}}

    return run
