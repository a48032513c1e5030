"""QA (slm): test cases written from the requirements, never from the code (so a test cannot
inherit the code's mistake). The task's own doctest examples and the requirements' examples
are kept as cases too, first (measured on our development tasks: the 0.5B product manager and
QA copy examples wrongly — ``'a3b1c2'`` unquoted, a call missing its parenthesis — and write
wrong expectations; the task's examples are read, not generated); the ``team.run_tests`` tool
runs them all in the sandbox on every version of the code."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from slmgraph.agents.team.common import CASE, RoleParams, ask_json, role_tiers
from slmgraph.prompts import load_prompt
from slmgraph.registry import NodeEnv, NodeFn, State, Update, register_agent


class Params(RoleParams):
    prompt: str = "team/tests"
    max_cases: int = Field(6, ge=1, le=20)
    max_tokens: int = 600  # six cases of two 120-character expressions


_DOCTEST = re.compile(r"^\s*>>> (.+)\n\s*([^\s>][^\n]*)$", re.M)


def task_examples(task: str) -> list[dict[str, str]]:
    """The task's own doctest examples (``>>> f(2)`` over ``4``) as cases: written by whoever
    wrote the task, so they come first and are read, not generated."""
    out = []
    for m in _DOCTEST.finditer(task):
        expected = m.group(2).strip()
        if expected.startswith(('"""', "'''")):  # the docstring ends: the call printed None
            expected = "None"
        out.append({"call": m.group(1).strip(), "expected": expected})
    return out


def merged(*sources: Any) -> list[dict[str, str]]:
    """Cases from each source in turn (the task's examples, the requirements', QA's), the first
    of those with the same call kept."""
    out: dict[str, dict[str, str]] = {}
    for case in [c for source in sources for c in (source or [])]:
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
        return {"tests": merged(task_examples(str(state.get("task") or "")), examples, written)}

    return run
