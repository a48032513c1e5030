"""Replaceability of the operator's modules (eval/operator/replace.py) on scripted tiers in
the real browser: a logged all-llm episode, each module moved to the small tier with every
other call replayed from the call log, the page's outcome compared."""

from __future__ import annotations

from pathlib import Path

import pytest

from slmgraph import load_spec
from slmgraph.eval.operator.miniwob import MODULES, Episode
from slmgraph.eval.operator.replace import replaceability
from slmgraph.graphs.builder import build
from slmgraph.runner import run
from slmgraph.telemetry import CallLog
from slmgraph.tools.browser import chromium
from slmgraph.tools.browser.miniwob import MiniWoB
from slmgraph.tools.browser.skills import SkillStore

pytestmark = pytest.mark.skipif(
    chromium.available() is not None, reason=f"no headless browser: {chromium.available()}"
)

SHARED = [
    {"node": "information_gathering", "output": '{"relevant": [4], "values": []}'},
    {"node": "self_reflection", "output": '{"success": true, "reason": "ok"}'},
    {"node": "task_inference", "output": '{"plan": ["press the button"]}'},
    {"node": "skill_curation", "output": "none"},
]
TIERS = {
    "slm": {"backend": "scripted", "size": "small",
            "settings": {"rules": [*SHARED, {"node": "action_planning", "output": "done()"}]}},
    "llm": {"backend": "scripted", "size": "large",
            "settings": {"rules": [*SHARED, {"node": "action_planning", "output": "click(4)"}]}},
}  # fmt: skip


def test_a_module_is_replaceable_where_the_outcome_stays(tmp_path: Path) -> None:
    data = load_spec("operator", tier_overrides=TIERS).model_dump(
        by_alias=True, exclude_none=True, exclude={"source"}
    )
    for module in MODULES:
        data["nodes"][module]["tier"] = "llm"
    data["nodes"]["observe"]["params"] = {"screenshots": None}
    data["nodes"]["task_inference"]["params"]["plan_as"] = "words"  # grounded by the planner
    spec = load_spec(data)
    log = CallLog(tmp_path / "calls.sqlite")
    item = Episode("click-test", 0)
    with MiniWoB(wait_ms=50) as browser:
        result = run(build(spec, call_log=log), {"task": item.task, "seed": item.seed},
                     resources={"browser": browser, "skills": SkillStore()})  # fmt: skip
        log.flush()
        assert result.output["outcome"] == "success"
        records = {item.id: {"run_id": result.run_id, "correct": True}}
        shares = replaceability(spec, [item], records, log, browser=browser,
                                modules=("information_gathering", "action_planning"))  # fmt: skip
    # The small tier gathers the same: every later call is replayed, the episode still succeeds.
    assert shares["information_gathering"]["share"] == 1.0
    assert shares["information_gathering"]["replayed_calls"] >= 2
    # The small planner says done() at once: the page never ends the episode, a failure.
    assert shares["action_planning"]["share"] == 0.0
