"""Action planning (slm): the next action, decoded under a grammar whose element references
are the current page's refs (``tools/browser/actions.py``), so a malformed action or a
reference to an element that is not there cannot be written. ``operator.react`` is the same
decision without the other modules: the plain observe-act loop a user writes (the baseline)."""

from __future__ import annotations

import re

from pydantic import Field

from slmgraph.agents.operator.common import PROMPT_VARS, ModuleParams, ask, page_of
from slmgraph.prompts import load_prompt
from slmgraph.registry import NodeEnv, NodeFn, State, Update, register_agent
from slmgraph.tools.browser.actions import grammar, parse


class Params(ModuleParams):
    prompt: str = "operator/plan"
    max_tokens: int = 48
    typed_values: bool = Field(
        True,
        description="type() writes only a value the instruction names (information gathering's"
        " values and the instruction's quoted strings, as written, lower or upper case)",
    )


class ReactParams(ModuleParams):
    prompt: str = "operator/react"
    max_tokens: int = 48


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


def _planner(env: NodeEnv, params: ModuleParams) -> NodeFn:
    template = load_prompt(params.prompt, env.spec.base_dir)

    def run(state: State) -> Update:
        page = page_of(state)
        skill = state.get("skill") or {}
        names = [skill["name"]] if skill.get("name") and not state.get("skill_used") else []
        extra = {"skill": skill.get("describe") if names else "(none)"}
        texts = named_values(state) if getattr(params, "typed_values", False) else []
        text = ask(env, params, template, state, grammar(page, names, texts=texts), extra).value
        return {"action": parse(str(text)).to_dict()}

    return run


@register_agent(
    "operator.action_planning",
    Params,
    reads=lambda p, b: ["page", "subtask", "observation", "skill", "memory"],
    writes=lambda p: ["action"],
    prompts=lambda p: {"prompt": p.prompt},
    prompt_vars=PROMPT_VARS,
    description="The next action: click(ref) | type(ref, text) | select | press | skill | done",
)
def action_planning(env: NodeEnv) -> NodeFn:
    return _planner(env, env.params)


@register_agent(
    "operator.react",
    ReactParams,
    reads=lambda p, b: ["page", "memory"],
    writes=lambda p: ["action"],
    prompts=lambda p: {"prompt": p.prompt},
    prompt_vars=PROMPT_VARS,
    description="The baseline: one call from the page and the history to the next action",
)
def react(env: NodeEnv) -> NodeFn:
    return _planner(env, env.params)
