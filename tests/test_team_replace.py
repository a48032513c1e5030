"""Replaceability of the team's roles (eval/team/replace.py) on scripted tiers: a logged
large-model run, each role moved to the small tier with every other call replayed from the
call log, the official outcome compared."""

from __future__ import annotations

from pathlib import Path

from test_software_team import CASES, DESIGN, REQUIREMENTS, RIGHT, TASK, WRONG

from slmgraph import load_spec
from slmgraph.eval.team.humaneval import Task, official_pass
from slmgraph.eval.team.replace import replaceability
from slmgraph.graphs.builder import build
from slmgraph.runner import run
from slmgraph.telemetry import CallLog

TIERS = {
    "slm": {"backend": "scripted", "size": "small", "settings": {"rules": [
        {"node": "product_manager", "output": REQUIREMENTS},
        {"node": "architect", "output": DESIGN},
        {"node": "qa", "output": CASES},
        {"node": "engineer", "output": WRONG},
    ]}},
    "llm": {"backend": "scripted", "size": "large", "settings": {"rules": [
        {"node": "product_manager", "output": REQUIREMENTS},
        {"node": "architect", "output": DESIGN},
        {"node": "qa", "output": CASES},
        {"node": "engineer", "output": RIGHT},
    ], "default": "def total(xs):\n    return -1\n"}},
}  # fmt: skip
OFFICIAL = (
    "def check(candidate):\n    assert candidate([1, 2]) == 3\n    assert candidate([]) == 0\n"
)


def test_a_role_is_replaceable_where_the_outcome_stays(tmp_path: Path) -> None:
    data = load_spec("software_team", tier_overrides=TIERS).model_dump(
        by_alias=True, exclude_none=True, exclude={"source"}
    )
    for role in ("product_manager", "architect", "qa", "engineer", "debug"):
        data["nodes"][role]["tier"] = "llm"
    spec = load_spec(data)
    task = Task("t/0", TASK, "total", OFFICIAL, "q1")
    log = CallLog(tmp_path / "calls.sqlite")
    result = run(build(spec, call_log=log), {"task": TASK})
    log.flush()
    passed, _ = official_pass(task, result.output["code"])
    assert passed
    records = {task.id: {"run_id": result.run_id, "correct": passed}}
    shares = replaceability(spec, [task], records, log, roles=("qa", "engineer"))
    # QA on the small tier writes the same cases: nothing downstream changes.
    assert shares["qa"]["share"] == 1.0 and shares["qa"]["replayed_calls"] >= 3
    # The small engineer's code fails; the fixes and debug (llm, not in the log: computed)
    # never reach code that passes the official tests.
    assert shares["engineer"]["share"] == 0.0 and shares["engineer"]["computed_calls"] >= 4
