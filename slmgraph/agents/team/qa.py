"""QA (slm): test cases written from the requirements, never from the code (so a test cannot
inherit the code's mistake). The task's own doctest examples and the requirements' examples
are kept as cases too, first (measured on our development tasks: the 0.5B product manager and
QA copy examples wrongly — ``'a3b1c2'`` unquoted, a call missing its parenthesis — and write
wrong expectations; the task's examples are read, not generated); the ``team.run_tests`` tool
runs them all in the sandbox on every version of the code."""

from __future__ import annotations

import ast
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


def _unprinted(call: str) -> dict[str, str] | None:
    """A ``>>>`` line with no output line under it. Doctest reads that as "prints nothing",
    i.e. a call that returns None; but docstrings (HumanEval's among them) also write
    ``>>> f(2) == 4`` to mean "this holds", which is a case ``f(2)`` -> ``4``, never
    ``None`` (the comparison is True or False: a case that no code can pass). Anything else
    (``f(x) [1, 2]``, a typo for an output line) is not a case."""
    try:
        tree = ast.parse(call, mode="eval").body
    except SyntaxError:
        return None
    if isinstance(tree, ast.Compare) and len(tree.ops) == 1 and isinstance(tree.ops[0], ast.Eq):
        left = ast.get_source_segment(call, tree.left)
        right = ast.get_source_segment(call, tree.comparators[0])
        return {"call": left, "expected": right} if left and right else None
    return {"call": call, "expected": "None"} if isinstance(tree, ast.Call) else None


def task_examples(task: str) -> list[dict[str, str]]:
    """The task's own doctest examples (``>>> f(2)`` over ``4``) as cases: written by whoever
    wrote the task, so they come first and are read, not generated. The expected value is
    the line under the call; a call with none is read by ``_unprinted``."""
    lines = task.splitlines()
    out = []
    for i, line in enumerate(lines):
        text = line.strip()
        if not text.startswith(">>> "):
            continue
        call = text[4:].strip()
        below = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if below and not below.startswith((">>>", '"""', "'''")):
            out.append({"call": call, "expected": below})
        elif (case := _unprinted(call)) is not None:
            out.append(case)
    return out


_CONSTANTS = frozenset({"True", "False", "None"})
_TEXT = re.compile(r"[^\[\]{}()'\"]*[A-Za-z][^\[\]{}()'\"]*")


def as_expected(text: str) -> str:
    """An expected value as a Python expression. The small models write a string result
    without its quotes (``YES``, ``Hello !!!Wdlor``; seen on our development tasks first, and
    in all 6 of team-slm's 40 HumanEval runs that ended untested, every case invalid): a bare
    word other than True/False/None, or text with a letter and no brackets or quotes that does
    not parse, is the string it spells. Anything else is kept as written (and if it is not
    Python, the harness reports the case invalid)."""
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        return repr(text) if _TEXT.fullmatch(text) else text
    return repr(text) if isinstance(tree, ast.Name) and tree.id not in _CONSTANTS else text


def merged(*sources: Any) -> list[dict[str, str]]:
    """Cases from each source in turn (the task's examples, the requirements', QA's), the first
    of those with the same call kept; expected values through :func:`as_expected`."""
    out: dict[str, dict[str, str]] = {}
    for case in [c for source in sources for c in (source or [])]:
        if isinstance(case, dict) and case.get("call") and case.get("expected"):
            call, expected = str(case["call"]).strip(), str(case["expected"]).strip()
            out.setdefault(call, {"call": call, "expected": as_expected(expected)})
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
