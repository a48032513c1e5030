"""Action planning (slm): the next action, decoded under a grammar whose element references are the
current page's refs (``tools/browser/actions.py``), so a malformed action or a reference to an
element that is not there cannot be written. A skill that skill curation chose is the action,
with no call (one decision, made once: the planner used to be asked again between the skill and
the plan's step, and a 0.5B never took the skill). ``operator.react`` (``react.py``) is the same
decision without the other modules."""

from __future__ import annotations

import re

from pydantic import Field

from slmgraph.agents.operator.common import (
    PROMPT_VARS,
    ModuleParams,
    ask,
    chosen_skill,
    page_of,
)
from slmgraph.prompts import load_prompt
from slmgraph.registry import NodeEnv, NodeFn, State, Update, register_agent
from slmgraph.tools.browser.actions import Action, grammar, parse


class Params(ModuleParams):
    prompt: str = "operator/plan"
    max_tokens: int = 48
    typed_values: bool = Field(
        True,
        description="type() writes only a value the instruction names (information gathering's"
        " values and the instruction's quoted strings, as written, lower or upper case)",
    )
    follow_exact: bool = Field(
        True,
        description='A step that names an action on this page exactly (click [6], type "ann"'
        ' into [3], choose "b" in [2], press Enter) and that the grammar admits is taken as'
        " written, with no model call; the slm grounds every other step",
    )
    no_repeats: bool = Field(
        True,
        description="The grammar leaves out the last action the page accepted: doing it again"
        " is a loop (the same text typed into the same field until the step limit)",
    )


def named_values(state: State) -> list[str]:
    """The values the instruction names: information gathering's, then its quoted strings,
    each also in lower and upper case (tasks ask for a value transformed)."""
    goal = str(page_of(state).goal or state.get("goal") or "")
    found = [str(v).strip() for v in (state.get("observation") or {}).get("values") or []]
    found += re.findall(r'"([^"]+)"', goal)
    found = [v for v in found if v and v in goal]  # copied from the instruction, not invented
    out: list[str] = []
    for v in found:
        out += [v, v.lower(), v.upper()]
    return list(dict.fromkeys(out))


_Q = r"(?:\"([^\"]+)\"|'([^']+)')"  # the text, in double or single quotes
_CLICK = re.compile(r"click \[(\d+)\]")
_TYPE = re.compile(rf"type {_Q} into \[(\d+)\]")
_SELECT = re.compile(rf"(?:choose|select) {_Q} (?:in|from) \[(\d+)\]")
_PRESS = re.compile(r"press (Enter|Tab|Escape|Backspace)")
_ACTION = re.compile(r"(click|type|select|press|done)\(.*\)")


def exact(step: str) -> Action | None:
    """The action a plan's step states exactly, in the plan prompt's own forms; None for
    anything else (a step in other words, two actions in one, a step with a remark)."""
    text = step.strip().rstrip(".").strip()
    if _ACTION.fullmatch(text):  # a plan written as actions
        try:
            action = parse(text)
        except ValueError:
            return None
        return action if action.op != "skill" else None
    if m := _CLICK.fullmatch(text):
        return Action("click", int(m[1]))
    if m := _TYPE.fullmatch(text):
        return Action("type", int(m[3]), m[1] or m[2])
    if m := _SELECT.fullmatch(text):
        return Action("select", int(m[3]), m[1] or m[2])
    if m := _PRESS.fullmatch(text):
        return Action("press", text=m[1])
    return None


def last_accepted(state: State) -> Action | None:
    """The last action the page accepted (a skill call is not one action, so it is none)."""
    for item in reversed(list(state.get("memory") or [])):
        if not item.get("error"):
            try:
                action = parse(str(item.get("action") or ""))
            except ValueError:
                return None
            return None if action.op == "skill" else action
    return None


@register_agent(
    "operator.action_planning",
    Params,
    reads=lambda p, b: ["page", "subtask", "observation", "skill", "skill_used", "memory"],
    writes=lambda p: ["action"],
    prompts=lambda p: {"prompt": p.prompt},
    prompt_vars=PROMPT_VARS,
    description="The next action: click(ref) | type(ref, text) | select | press | skill | done",
)
def action_planning(env: NodeEnv) -> NodeFn:
    params: Params = env.params
    template = load_prompt(params.prompt, env.spec.base_dir)

    def run(state: State) -> Update:
        if (skill := chosen_skill(state)) is not None:  # curation's choice runs as is
            return {"action": Action("skill", text=skill).to_dict()}
        page = page_of(state)
        texts = named_values(state) if params.typed_values else []
        exclude = last_accepted(state) if params.no_repeats else None
        constraint = grammar(page, texts=texts, exclude=exclude)
        if params.follow_exact:
            step = exact(str(state.get("subtask") or ""))
            if step is not None and re.fullmatch(constraint.regex or "", str(step)):
                return {"action": step.to_dict()}
        text = ask(env, params, template, state, constraint).value
        return {"action": parse(str(text)).to_dict()}

    return run
