"""The software team's development tasks (benchmarks/data/team_dev_tasks.yaml) are right:
each task's reference solution passes its hidden tests in the real sandbox and agrees with the
examples in its docstring, so a team that fails a dev task failed the task, not a typo of ours."""

from __future__ import annotations

import ast
import doctest
from pathlib import Path

import pytest

from slmgraph import yamlfile
from slmgraph.eval.team.humaneval import load_dev_tasks, official_pass

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "team_dev_tasks.yaml"
RAW = {d["id"]: d for d in yamlfile.parse_bytes(PATH.read_bytes(), str(PATH)).data}
TASKS = load_dev_tasks(PATH)


def test_every_task_has_a_reference_and_the_ids_are_unique() -> None:
    assert len(RAW) == len(TASKS) >= 24
    assert all(d.get("solution") for d in RAW.values())


@pytest.mark.parametrize("task", TASKS, ids=[t.id for t in TASKS])
def test_the_reference_passes_the_hidden_tests_and_the_docstring(task) -> None:  # type: ignore[no-untyped-def]
    solution = str(RAW[task.id]["solution"])
    passed, why = official_pass(task, solution)
    assert passed, why
    # A wrong reference fails too: the tests are not vacuous.
    broken = solution.replace("return", "return None and", 1)
    assert not official_pass(task, broken)[0]
    scope: dict[str, object] = {}
    exec(compile(solution, task.id, "exec"), scope)  # our own reference code
    fn = next(n for n in ast.parse(task.prompt).body
              if isinstance(n, ast.FunctionDef) and n.name == task.entry_point)  # fmt: skip
    examples = doctest.DocTestParser().get_examples(ast.get_docstring(fn) or "")
    assert examples, "a dev task shows at least one example, as HumanEval's do"
    for ex in examples:
        got = eval(ex.source, scope)
        assert repr(got) == ex.want.strip() or (got is None and not ex.want.strip()), ex.source
