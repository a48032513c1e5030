"""benchmarks/humaneval_tests.py: a team's cases judged against a reference, in the real sandbox."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1] / "benchmarks"))

from humaneval_tests import judge, summarize

PROMPT = 'def double(x):\n    """Twice x.\n    >>> double(2)\n    4\n    """\n'
REFERENCE = PROMPT + "    return 2 * x\n"


def test_a_case_the_reference_fails_is_a_wrong_generated_test() -> None:
    record = {
        "id": "t/1",
        "correct": False,
        "tests": [
            {"call": "double(2)", "expected": "4"},  # the task's own example
            {"call": "double(3)", "expected": "6"},
            {"call": "double(5)", "expected": "11"},  # wrong: the reference says 10
            {"call": "double(", "expected": "0"},  # not Python: invalid, not counted
        ],
    }
    judged = judge(record, PROMPT, REFERENCE)
    assert judged["doc"] == [1, 1] and judged["gen"] == [1, 2] and judged["gen_invalid"] == 1
    assert judged["wrong"] == [{"call": "double(5)", "expected": "11", "reference": "10"}]
    right = judge({"id": "t/2", "correct": True, "tests": record["tests"][:2]}, PROMPT, REFERENCE)
    summary = summarize("team-x", [judged, right])
    assert summary["generated_cases"] == 3 and summary["generated_right"] == 0.6667
    assert summary["tasks_with_a_wrong_case"] == 1
    assert summary["pass_at_1_all_right"] == 1.0 and summary["pass_at_1_some_wrong"] == 0.0
