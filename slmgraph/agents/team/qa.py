"""QA (slm): test cases written from the requirements, never from the code (so a test cannot
inherit the code's mistake). The requirements' own examples are kept as cases too; the
``team.run_tests`` tool runs them all in the sandbox on every version of the code."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from slmgraph.agents.team.common import CASE, RoleParams, ask_json, role_tiers
from slmgraph.prompts import load_prompt
from slmgraph.registry import NodeEnv, NodeFn, State, Update, register_agent


class Params(RoleParams):
    prompt: str = "team/tests"
    max_cases: int = Field(6, ge=1, le=20)
    max_tokens: int = 600  # six cases of two 120-character expressions


def merged(examples: Any, written: Any) -> list[dict[str, str]]:
    """The requirements' examples, then QA's cases, without repeating a call."""
    out: dict[str, dict[str, str]] = {}
    for case in [*(examples or []), *(written or [])]:
        if isinstance(case, dict) and case.get("call") and case.get("expected"):
            out.setdefault(str(case["call"]).strip(), {
                "call": str(case["call"]).strip(), "expected": str(case["expected"]).strip()
            })  # fmt: skip
    return list(out.values())


@register_agent(
    "team.qa",
    Params,
    reads=lambda p, b: ["task", "requirements"],
    writes=lambda p: ["tests"],
    prompts=lambda p: {"prompt": p.prompt},
    tiers=role_tiers,
    description="Requirements -> test cases (JSON: call and expected, Python expressions)",
)
def qa(env: NodeEnv) -> NodeFn:
    params: Params = env.params
    template = load_prompt(params.prompt, env.spec.base_dir)
    cases = {"type": "array", "items": CASE, "minItems": 1, "maxItems": params.max_cases}
    schema = {"type": "object", "properties": {"cases": cases}, "required": ["cases"]}

    def run(state: State) -> Update:
        written = ask_json(env, params, template, state, schema)["cases"]
        examples = (state.get("requirements") or {}).get("examples")
        return {"tests": merged(examples, written)}

    return run
