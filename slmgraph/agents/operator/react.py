"""The baseline: the plain observe-act loop a user writes. One call per step, from the page and
the history to the next action, under the same grammar of the page's refs as action planning
(``type`` writes free text). Its own module, so that the benchmark's record of it does not
depend on the operator's other modules (its fingerprint reads this file, not theirs)."""

from __future__ import annotations

from slmgraph.agents.operator.common import PROMPT_VARS, ModuleParams, ask, page_of
from slmgraph.prompts import load_prompt
from slmgraph.registry import NodeEnv, NodeFn, State, Update, register_agent
from slmgraph.tools.browser.actions import grammar, parse


class ReactParams(ModuleParams):
    prompt: str = "operator/react"
    max_tokens: int = 48


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
    params: ReactParams = env.params
    template = load_prompt(params.prompt, env.spec.base_dir)

    def run(state: State) -> Update:
        text = ask(env, params, template, state, grammar(page_of(state))).value
        return {"action": parse(str(text)).to_dict()}

    return run
