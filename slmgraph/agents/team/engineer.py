"""Engineer (slm) and debug (llm): Python source, decoded under a constraint that admits code
and nothing else around it: the output starts with a line of code (an import, a comment, a
decorator or a definition — no "Here is the code:"), may open a Markdown fence
before it, and ends at the fence that closes it (no explanation after). The model's own
top-level test code (prints, asserts, a ``__main__`` block) is then removed by the syntax tree
(:mod:`slmgraph.tools.code.source`), so the module imports cleanly.

Why not forbid top-level statements in the grammar itself: the models end code with examples
of its use, and forbidden them, they do not stop. Measured on the 0.5B and 1.5B: allowed only
definitions after the first, with no fence, the 0.5B wrote a test function and then
commented-out calls until ``max_tokens``; with the fence but definitions only, the 1.5B ran to
``max_tokens`` on 11 of 40 HumanEval tasks (it had nowhere to put its examples). Allowed to
write them and close the fence, both stop where they stop unconstrained.

The first visit writes from the task alone, with the prompt the ``solo-*`` baselines use
(``team/solo``); later visits (``team/fix_fresh``) and debug (``team/debug_fresh``) write the
function again from the task and the last version's failing test report, without that
version's code. Both chosen on our 24 development tasks
(``benchmarks/results/team-dev-2026-12-04.md``), against the settings before them:

- written from the task and the architect's design (``team/code``), the 0.5B's first version
  passed 8 of 24; from the task alone 11 (the runs ended 8 against 12 solved, paired 1 to 5);
- shown the failed code (``team/fix``, ``team/debug``), the 0.5B's fixes copied it unchanged
  48 times in 62 and the 1.5B's debug 14 in 31, and the loop turned a failing first version
  into a passing one in 1 of 31 runs; without it, 4 copies in 30 and 0 in 15, the loop gained
  5 and lost 1, and the runs ended 15 against 12 solved (paired 4 to 1).

Each is a one-line change back in the spec (``prompt``, ``fix_prompt``). A call that fails on
every tier keeps the last version (the loop's bound and the best version so far still decide
the run). The task's own import lines (``from typing import List``) are put back when the code
lacks them: a small model often drops them, and the task gave them."""

from __future__ import annotations

import re

from pydantic import Field

from slmgraph.agents.prompt import render
from slmgraph.agents.team.common import RoleParams, complete, role_tiers, values
from slmgraph.constraints.base import Constraint
from slmgraph.errors import ModelError
from slmgraph.prompts import load_prompt
from slmgraph.registry import NodeEnv, NodeFn, State, Update, register_agent
from slmgraph.tools.code.harness import failures_text
from slmgraph.tools.code.source import importable

# The first line is code: an import, a comment, a decorator or a definition. (Not an
# assignment: "Thebug, as = 1, is not correct." reads as one.)
_FIRST = r"(?:import |from |#|@|def |class |async def )"
# Then any line that does not start a Markdown fence; the fence, if any, ends the output.
_LINE = r"(?:[^`\n][^\n]*|`[^`\n][^\n]*|``[^`\n][^\n]*)?"
#: Python source and nothing else (see the module docstring).
CODE_ONLY = rf"(?:```(?:python)?\n)?{_FIRST}[^\n]*(?:\n{_LINE})*(?:\n```)?"
_FENCE = re.compile(r"^```(?:python)?\n|\n```$")


def unfenced(text: str) -> str:
    """The code without the fence the grammar lets it open and close with."""
    return _FENCE.sub("", text)


_IMPORT = re.compile(r"^(?:from\s+\S+\s+import\s+.+|import\s+.+)$", re.M)


def with_task_imports(code: str, task: str) -> str:
    """``code`` with the task's import lines it lacks put first."""
    missing = [line for line in _IMPORT.findall(task) if line not in code]
    return "\n".join([*missing, code]) if missing else code


class Params(RoleParams):
    prompt: str = Field("team/solo", description="The first version's prompt (team/code: + design)")
    fix_prompt: str = Field(
        "team/fix_fresh", description="The prompt once a test report exists (team/fix: + code)"
    )
    max_tokens: int = 700


WRITES = ["code", "history"]


def _coder(env: NodeEnv) -> NodeFn:
    params: Params = env.params
    first = load_prompt(params.prompt, env.spec.base_dir)
    fix = load_prompt(params.fix_prompt, env.spec.base_dir)
    constraint = Constraint.pattern(CODE_ONLY)

    def run(state: State) -> Update:
        report = state.get("report")
        template = fix if report and state.get("code") else first
        extra = {"failures": failures_text(report) if report else ""}
        messages = render(env, template, values(template, state, extra))
        try:
            result = complete(env, params, messages, constraint)
        except ModelError as exc:
            # Every tier failed (a runaway to max_tokens, a server down): this version is the
            # last one again, so the loop's bound and the best version so far still decide.
            code = str(state.get("code") or "")
            return {"code": code, "history": [{"node": env.name, "tier": None, "code": code,
                                               "error": str(exc)}]}  # fmt: skip
        code = importable(unfenced(str(result.value)).rstrip() + "\n")
        code = with_task_imports(code, str(state.get("task") or ""))
        return {"code": code, "history": [{"node": env.name, "tier": result.tier, "code": code}]}

    return run


@register_agent(
    "team.engineer",
    Params,
    reads=lambda p, b: ["task"],  # and what its prompts name (checked with them)
    writes=lambda p: WRITES,
    prompts=lambda p: {"prompt": p.prompt, "fix_prompt": p.fix_prompt},
    prompt_vars=frozenset({"failures"}),
    tiers=role_tiers,
    description="Design (and failing tests) -> Python source, code only",
)
def engineer(env: NodeEnv) -> NodeFn:
    return _coder(env)


class DebugParams(Params):
    prompt: str = "team/debug_fresh"
    fix_prompt: str = "team/debug_fresh"
    max_tokens: int = 900


@register_agent(
    "team.debug",
    DebugParams,
    reads=lambda p, b: ["task", "code", "report"],
    writes=lambda p: WRITES,
    prompts=lambda p: {"prompt": p.prompt, "fix_prompt": p.fix_prompt},
    prompt_vars=frozenset({"failures"}),
    tiers=role_tiers,
    description="Failing code and its test report -> fixed Python source (the llm's turn)",
)
def debug(env: NodeEnv) -> NodeFn:
    return _coder(env)
