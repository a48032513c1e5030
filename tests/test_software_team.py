"""The software team graph on scripted tiers: the real graph, the real sandbox. A fix loop that
passes on the second try, the debug escalation on the llm, a run that exhausts both and ends
with its best code, a budget stop, and constrained roles whose bad output falls back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from slmgraph import load_spec, run
from slmgraph.agents.team.engineer import CODE_ONLY, unfenced, with_task_imports
from slmgraph.agents.team.qa import as_expected, merged, task_examples
from slmgraph.constraints.base import Constraint, check_output
from slmgraph.errors import ModelError, SpecError
from slmgraph.tools.code.source import importable

TASK = '''from typing import List


def total(xs: List[int]) -> int:
    """Sum of the numbers; 0 for an empty list.
    >>> total([1, 2, 3])
    6
    """
'''
REQUIREMENTS = json.dumps({
    "goal": "Sum a list of integers", "inputs": ["xs: list of int"], "output": "int",
    "edge_cases": ["empty list"], "examples": [{"call": "total([1, 2, 3])", "expected": "6"}],
})  # fmt: skip
DESIGN = json.dumps({
    "signature": "def total(xs: List[int]) -> int:", "data_structures": [],
    "steps": ["add the numbers"], "test_cases": ["empty list"],
})  # fmt: skip
CASES = json.dumps({"cases": [{"call": "total([])", "expected": "0"},
                              {"call": "total([5, -5, 2])", "expected": "2"}]})  # fmt: skip
WRONG = "def total(xs: List[int]) -> int:\n    return xs[0]\n"  # fails 2 of 3, crashes on []
HALF = "def total(xs: List[int]) -> int:\n    return sum(xs) if xs else 1\n"  # 2 of 3
RIGHT = "def total(xs: List[int]) -> int:\n    return sum(xs)\n"


def _tiers(engineer: list[str], debug: str = RIGHT) -> dict[str, Any]:
    slm = [
        {"node": "product_manager", "output": REQUIREMENTS},
        {"node": "qa", "output": CASES},
        {"node": "engineer", "outputs": engineer},
    ]
    llm = [{"node": "architect", "output": DESIGN}, {"node": "debug", "output": debug}]
    return {
        "slm": {"backend": "scripted", "fallback": "llm", "size": "small",
                "price": {"input_per_1m": 0.02, "output_per_1m": 0.06},
                "settings": {"rules": slm}},
        "llm": {"backend": "scripted", "size": "large",
                "price": {"input_per_1m": 0.2, "output_per_1m": 0.6},
                "settings": {"rules": llm, "default": "def total(xs):\n    return -1\n"}},
    }  # fmt: skip


def _run(tiers: dict[str, Any], **limits: Any) -> Any:
    spec = load_spec("software_team", tier_overrides=tiers)
    if limits:
        data = spec.model_dump(by_alias=True, exclude_none=True, exclude={"source"})
        data["limits"].update(limits)
        spec = load_spec(data)
    return run(spec, {"task": TASK}, call_log=False)


def _roles(result: Any) -> list[tuple[str, str]]:
    return [(t["node"], t["tier"]) for t in result.trace if t["model"]]


def test_the_fix_loop_passes_on_the_second_try() -> None:
    r = _run(_tiers([WRONG, RIGHT]))
    assert r.status == "ok" and r.output["outcome"] == "passed", r.error
    assert r.output["code"].startswith("from typing import List\n")  # the task's import kept
    report = r.output["report"]
    assert report["all_passed"] and report["total"] == 3  # the example and QA's two cases
    assert report["isolation"] in {"bwrap", "rlimits"}
    assert _roles(r) == [("product_manager", "slm"), ("architect", "llm"), ("qa", "slm"),
                         ("engineer", "slm"), ("engineer", "slm")]  # fmt: skip
    first = next(h for h in r.state["history"] if "report" in h)["report"]
    assert first["passed"] == 0 and "IndexError" in json.dumps(first["results"])


def test_an_exhausted_engineer_hands_over_to_debug_on_the_llm() -> None:
    r = _run(_tiers([WRONG]))
    assert r.output["outcome"] == "passed"
    assert [n for n, _ in _roles(r)].count("engineer") == 3
    assert _roles(r)[-1] == ("debug", "llm")


def test_exhausting_debug_too_ends_with_the_best_code_and_its_report() -> None:
    r = _run(_tiers([WRONG, HALF, WRONG], debug=WRONG))
    assert r.status == "ok" and r.output["outcome"] == "failed"
    assert "else 1" in r.output["code"]  # HALF passed the most cases
    assert r.output["report"]["passed"] == 2 and not r.output["report"]["all_passed"]
    assert [t["node"] for t in r.trace][-1] == "finish"


def test_a_spent_budget_ends_at_finish_with_the_best_code_so_far() -> None:
    first = _run(_tiers([WRONG, HALF, RIGHT]))
    used = [t["tokens_in"] + t["tokens_out"] for t in first.trace if t["model"]]
    budget = sum(used[:4]) + 1  # enough for the first version, not for the fix
    r = _run(_tiers([WRONG, HALF, RIGHT]), max_tokens=budget)
    assert r.status == "ok" and r.output["outcome"] == "budget"
    assert r.state["budget"]["limit"] == "max_tokens"
    assert any(t["status"] == "budget" for t in r.trace)
    assert [n for n, _ in _roles(r)].count("engineer") == 2  # the fix that crossed the budget
    # The fix that crossed the budget was never tested: the run ends with the version that was,
    # and that version's report (code and report always belong together).
    assert "xs[0]" in r.output["code"] and r.output["report"]["passed"] == 0


def test_a_role_whose_output_breaks_its_schema_falls_back_to_the_llm() -> None:
    tiers = _tiers([RIGHT])
    tiers["slm"]["settings"]["rules"][0] = {"node": "product_manager", "output": "{'goal': 1"}
    tiers["llm"]["settings"]["rules"].append({"node": "product_manager", "output": REQUIREMENTS})
    r = _run(tiers)
    assert r.output["outcome"] == "passed"
    pm = [t for t in r.trace if t["node"] == "product_manager"]
    assert pm[0]["status"] != "ok"
    assert pm[-1]["tier"] == "llm" and pm[-1]["status"] == "ok"


@pytest.mark.parametrize(
    "text",
    [
        "Here is the code:\ndef f():\n    return 1\n",  # prose first
        "```python\ndef f():\n    return 1\n```\nThis returns 1.",  # prose after the fence
        "```python\n```",  # no code
        "",
    ],
)
def test_the_engineers_constraint_refuses_prose(text: str) -> None:
    with pytest.raises(ModelError):
        check_output(text, Constraint.pattern(CODE_ONLY))


def test_the_engineers_constraint_admits_modules_and_a_fence_around_them() -> None:
    code = (
        "import math\nfrom typing import List\n\nLIMIT: int = 3\na, b = 1, 2\n\n\n@staticmethod\n"
        "def f(xs: List[int]) -> int:\n    # comment\n    return math.floor(sum(xs))\n\n"
        "class A:\n    pass"
    )
    assert check_output(code, Constraint.pattern(CODE_ONLY)) == code
    fenced = f"```python\n{code}\n```"
    assert check_output(fenced, Constraint.pattern(CODE_ONLY)) == fenced
    assert unfenced(fenced).strip() == code
    assert importable(code + "\n") == code + "\n"  # nothing to take out


def test_the_models_own_test_code_is_taken_out() -> None:
    code = (
        "def f(x):\n    return 2 * x\n\nprint(f(2))\nassert f(2) == 5  # wrong\n"
        "result = f(3)\nSCALE = max(1, 2)\n\n@decorate\ndef g():\n    pass\n\n"
        "for i in range(3):\n    print(i)\n\nif __name__ == '__main__':\n    print(input())\n"
    )
    assert check_output(code, Constraint.pattern(CODE_ONLY)) == code
    kept = importable(code)
    assert (
        kept
        == "def f(x):\n    return 2 * x\n\nSCALE = max(1, 2)\n\n@decorate\ndef g():\n    pass\n"
    )
    assert importable("def f(:\n    pass\nprint(1)\n") == "def f(:\n    pass\nprint(1)\n"


def test_task_imports_are_restored_once() -> None:
    code = "def total(xs):\n    return sum(xs)\n"
    assert with_task_imports(code, TASK).startswith("from typing import List\ndef total")
    assert with_task_imports("from typing import List\n" + code, TASK).count("import") == 1


def test_qa_keeps_the_examples_and_drops_repeats() -> None:
    written = [{"call": "f(1) ", "expected": "3"}, {"call": "f(2)", "expected": "4"}, {}]
    out = merged([{"call": "f(1)", "expected": "2"}], written)
    assert out == [{"call": "f(1)", "expected": "2"}, {"call": "f(2)", "expected": "4"}]


def test_an_unsure_role_escalates_to_its_escalation_tier() -> None:
    tiers = _tiers([WRONG])
    tiers["slm"]["settings"]["rules"][2] = {"node": "engineer", "output": WRONG, "logprob": -2.0}
    tiers["llm"]["settings"]["rules"].append({"node": "engineer", "output": RIGHT})
    data = load_spec("software_team", tier_overrides=tiers).model_dump(
        by_alias=True, exclude_none=True, exclude={"source"}
    )
    data["nodes"]["engineer"]["params"] = {"escalate_to": "llm", "escalate_below": -0.5}
    r = run(load_spec(data), {"task": TASK}, call_log=False)
    assert r.output["outcome"] == "passed"
    assert [(t["node"], t["tier"]) for t in r.trace if t["node"] == "engineer"] == [
        ("engineer", "slm"), ("engineer", "llm")
    ]  # fmt: skip
    data["nodes"]["engineer"]["params"]["escalate_to"] = "lmm"
    with pytest.raises(SpecError, match="lmm"):
        load_spec(data)


def test_a_fix_that_fails_on_every_tier_keeps_the_last_version() -> None:
    tiers = _tiers([HALF])
    tiers["slm"]["settings"]["rules"].insert(
        2, {"node": "engineer", "match": "Test report", "error": "invalid_output"}
    )
    tiers["llm"]["settings"]["rules"] = [
        tiers["llm"]["settings"]["rules"][0],  # the architect
        {"node": "engineer", "error": "invalid_output"},
        {"node": "debug", "error": "timeout"},
    ]
    r = _run(tiers)
    assert r.status == "ok" and r.output["outcome"] == "failed", r.error
    assert "else 1" in r.output["code"] and r.output["report"]["passed"] == 2
    errors = [h for h in r.state["history"] if h.get("error")]
    assert len(errors) == 3  # two fixes and debug, each kept the version before it


def test_the_tasks_own_examples_come_first() -> None:
    task = 'def f(x):\n    """Doc.\n    >>> f(2)\n    4\n    >>> f(0)\n    """\n'
    assert task_examples(task) == [
        {"call": "f(2)", "expected": "4"},
        {"call": "f(0)", "expected": "None"},  # a doctest that prints nothing
    ]
    assert merged(task_examples(task), [{"call": "f(2)", "expected": "5"}]) == task_examples(task)


def test_an_example_written_as_a_comparison_is_a_case_not_a_none() -> None:
    # HumanEval/108's style: no output line under `>>> f(x) == y`; read as "prints nothing"
    # it was a case no code could pass (the comparison is never None).
    task = (
        'def f(x):\n    """Doc.\n    >>> f([]) == 0\n    >>> f([1, 2]) == 3\n'
        '    >>> f([1]) [0, 1]\n    >>> f\n    """\n'
    )
    assert task_examples(task) == [
        {"call": "f([])", "expected": "0"},
        {"call": "f([1, 2])", "expected": "3"},
    ]  # a subscript after a call, or a bare name, is no case


def test_a_string_written_without_its_quotes_is_the_string() -> None:
    assert [as_expected(x) for x in ("YES", "Hello !!!Wdlor", "True", "None", "3")] == [
        "'YES'", "'Hello !!!Wdlor'", "True", "None", "3"
    ]  # fmt: skip
    # kept as written: Python already, or not plain text (the harness calls those invalid)
    assert [as_expected(x) for x in ("'a'", "[1, 2", "3 4", "f(2)", "x.y")] == [
        "'a'", "[1, 2", "3 4", "f(2)", "x.y"
    ]  # fmt: skip
    assert merged([{"call": "f(1)", "expected": "NO"}]) == [{"call": "f(1)", "expected": "'NO'"}]


def test_a_case_that_is_not_python_is_the_tests_fault() -> None:
    tiers = _tiers([RIGHT])
    tiers["slm"]["settings"]["rules"][1] = {
        "node": "qa",
        "output": '{"cases": [{"call": "total([1, 2]", "expected": "3"}, '
        '{"call": "total([])", "expected": "[0"}]}',
    }
    r = _run(tiers)
    assert r.output["outcome"] == "passed"  # the two broken cases are not counted
    assert r.output["report"]["invalid"] == 2 and r.output["report"]["total"] == 1  # the task's


def test_the_engineer_writes_from_the_task_unless_the_spec_gives_it_the_design() -> None:
    """The default (chosen on the development tasks): the first version's prompt is the task
    alone; ``prompt: team/code`` shows it the architect's design too."""
    tiers = _tiers([RIGHT])
    # An engineer that saw the design's step writes WRONG; one that did not writes RIGHT.
    tiers["slm"]["settings"]["rules"].insert(
        0, {"node": "engineer", "match": "add the numbers", "output": WRONG}
    )
    r = _run(tiers)
    assert r.output["outcome"] == "passed" and [n for n, _ in _roles(r)].count("engineer") == 1
    data = load_spec("software_team", tier_overrides=tiers).model_dump(
        by_alias=True, exclude_none=True, exclude={"source"}
    )
    data["nodes"]["engineer"]["params"] = {"prompt": "team/code"}
    r = run(load_spec(data), {"task": TASK}, call_log=False)
    assert "xs[0]" in r.state["history"][0]["code"]  # its first version followed the design


def test_the_report_says_what_the_fix_loop_gained_and_lost() -> None:
    from slmgraph.eval.team.report import markdown, summarize

    def rec(correct: bool, *drafts: bool) -> dict[str, Any]:
        return {"correct": correct, "trace": [], "visits": {"run_tests": len(drafts)},
                "drafts": [{"node": "engineer", "correct": d} for d in drafts]}  # fmt: skip

    s = summarize([rec(True, True), rec(True, False, True), rec(False, True, False),
                   rec(False, False, False)], "team-x")  # fmt: skip
    assert s["first_draft_pass"] == 0.5 and s["gained_by_loop"] == 1 and s["lost_by_loop"] == 1
    assert "| team-x | 4 | 50.0% | 1 | 1 |" in markdown([s])
    assert "drafts_n" not in summarize([{"correct": True, "trace": []}], "old")  # older records
