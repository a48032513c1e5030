"""Self-reflection (slm): did the last action do what was intended? JSON ``{success, reason}``
from the action, the page's answer (a refusal) and what changed. No call on the first step,
where nothing was done yet, nor (``check``) where the page itself says: a refused action
failed, and a typed or chosen value that its field now holds worked. A small model's false
"did not work" on those made the planner redo a finished step until the step limit."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from slmgraph.agents.operator.common import PROMPT_VARS, ModuleParams, ask, page_of
from slmgraph.constraints.base import Constraint
from slmgraph.prompts import load_prompt
from slmgraph.registry import NodeEnv, NodeFn, State, Update, register_agent
from slmgraph.tools.browser.actions import parse

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
    check: bool = Field(
        True,
        description="Decide with no model call what the page shows: a refused action failed;"
        " a typed or chosen value that its field now holds worked",
    )


def page_verdict(state: State, last: dict[str, Any]) -> dict[str, Any] | None:
    """The reflection the page itself gives on ``last``, or None where a model must judge."""
    if last.get("error"):
        return {"success": False, "reason": f"the page refused it: {str(last['error'])[:100]}"}
    try:
        action = parse(str(last.get("action") or ""))
    except ValueError:
        return None
    if action.op in ("type", "select") and action.ref is not None:
        element = page_of(state).get(action.ref)
        if element is not None and element.value == action.text:
            return {"success": True, "reason": f"[{action.ref}] now holds {action.text!r}"}
    return None


@register_agent(
    "operator.self_reflection",
    Params,
    reads=lambda p, b: ["memory", "changes", "action_error", "page"],
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
        if params.check and (verdict := page_verdict(state, last)) is not None:
            return {"reflection": verdict}
        extra = {"last_action": last.get("action"), "page_answer": last.get("error") or "accepted"}
        value = ask(env, params, template, state, Constraint.json(SCHEMA), extra).value
        return {"reflection": {"success": bool(value["success"]), "reason": str(value["reason"])}}

    return run
