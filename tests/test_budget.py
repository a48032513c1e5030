"""Budgets for every graph (``limits.max_tokens`` / ``max_cost_usd``): a run past its budget
ends in a defined state — at ``limits.on_budget`` or with an error — and the trace says so."""

from __future__ import annotations

from typing import Any

import pytest
from test_graph_runs import SCRIPTED_TIERS

from slmgraph import load_spec, run
from slmgraph.errors import SpecError

TICKET = {"ticket": "I was charged twice, please refund"}


def _triage(**limits: Any) -> Any:
    data = load_spec("triage", tier_overrides=SCRIPTED_TIERS).model_dump(
        by_alias=True, exclude_none=True, exclude={"source"}
    )
    data["limits"] = {**data.get("limits", {}), **limits}
    return data


def test_a_run_within_its_budget_is_untouched() -> None:
    r = run(load_spec(_triage(max_tokens=100_000, max_cost_usd=1.0)), TICKET, call_log=False)
    assert r.status == "ok" and not r.state.get("budget")
    assert [t["node"] for t in r.trace] == ["classify", "extract", "reply"]


def test_tokens_past_the_budget_end_the_run_with_an_error_and_a_trace_entry() -> None:
    first = run(load_spec(_triage()), TICKET, call_log=False)
    classify_tokens = first.trace[0]["tokens_in"] + first.trace[0]["tokens_out"]
    r = run(load_spec(_triage(max_tokens=classify_tokens - 1)), TICKET, call_log=False)
    assert r.status == "error" and "limits.max_tokens" in (r.error or "")
    assert [t["node"] for t in r.trace if t["model"]] == ["classify"]  # nothing ran after it
    assert r.trace[-1]["status"] == "budget" and r.trace[-1]["node"] == "classify"
    assert r.state["budget"]["limit"] == "max_tokens"
    assert r.state["budget"]["tokens"] == classify_tokens


def test_dollars_past_the_budget_go_to_on_budget_once() -> None:
    data = _triage(max_cost_usd=1e-9, on_budget="apologise")
    data["nodes"]["apologise"] = {"tool": "set", "params": {"values": {"reply": "Over budget."}}}
    data["edges"].append({"from": "apologise", "to": "END"})
    r = run(load_spec(data), TICKET, call_log=False)
    # classify spends the budget; the run goes to the on_budget node, then ends
    assert r.status == "ok", r.error
    assert [t["node"] for t in r.trace] == ["classify", "classify", "apologise"]
    assert r.output["reply"] == "Over budget." and r.output["details"] is None
    assert r.state["budget"]["limit"] == "max_cost_usd"
    assert r.state["budget"]["after_node"] == "classify"
    assert r.state["budget"]["goes_to"] == "apologise"


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"on_budget": "replay", "max_tokens": 5}, "Unknown node 'replay'"),
        ({"on_budget": "reply"}, "`on_budget` without a budget"),
        ({"max_tokens": 0}, "greater than or equal to 1"),
    ],
)
def test_bad_budgets_name_their_yaml_path(limits: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as err:
        load_spec(_triage(**limits))
    assert "limits" in str(err.value) and message in str(err.value)
