"""The real graph driven by scripted models: routing, trace, call log, fallback, loop bounds,
failure containment, human-in-the-loop interrupts."""

from __future__ import annotations

from pathlib import Path

import pytest

from slmgraph import load_spec, run
from slmgraph.graphs.builder import build
from slmgraph.models.scripted import ScriptedBackend
from slmgraph.models.settings import ScriptedRule
from slmgraph.telemetry import CallLog

SCRIPTED_TIERS = {
    "slm": {
        "backend": "scripted",
        "fallback": "llm",
        "price": {"input_per_1m": 0.02, "output_per_1m": 0.06},
        "settings": {
            "rules": [
                {"node": "classify", "match": "(?i)charged|refund", "output": "billing"},
                {"node": "classify", "output": "other"},
                {
                    "node": "extract",
                    "output": '{"product": "Pro", "urgency": "high", "summary": "double charge"}',
                },
            ]
        },
    },
    "llm": {
        "backend": "scripted",
        "price": {"input_per_1m": 0.2, "output_per_1m": 0.6},
        "settings": {"default": "We are sorry; a refund is on its way."},
    },
}


def test_triage_routes_and_traces(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "log.sqlite")
    spec = load_spec("triage", tier_overrides=SCRIPTED_TIERS)
    result = run(build(spec, call_log=log), {"ticket": "I was charged twice"})
    assert result.status == "ok"
    assert result.output["category"] == "billing"
    assert result.output["details"] == {
        "product": "Pro",
        "urgency": "high",
        "summary": "double charge",
    }
    assert result.output["reply"].startswith("We are sorry")
    assert [(t["node"], t["tier"]) for t in result.trace] == [
        ("classify", "slm"),
        ("extract", "slm"),
        ("reply", "llm"),
    ]
    # One call-log row per model call, with tokens, latency and cost.
    rows = log.for_run(result.run_id)
    assert [(r["node"], r["tier"], r["status"]) for r in rows] == [
        ("classify", "slm", "ok"),
        ("extract", "slm", "ok"),
        ("reply", "llm", "ok"),
    ]
    assert all(r["tokens_in"] > 0 and r["tokens_out"] > 0 for r in rows)
    assert all(r["latency_s"] is not None and r["latency_s"] >= 0 for r in rows)
    assert rows[0]["constraint_kind"] == "choice"
    assert rows[1]["constraint_kind"] == "json_schema"
    assert rows[2]["cost_usd"] == pytest.approx(
        (rows[2]["tokens_in"] * 0.2 + rows[2]["tokens_out"] * 0.6) / 1e6
    )
    assert result.totals["model_calls"] == 3


def test_other_category_skips_extraction() -> None:
    spec = load_spec("triage", tier_overrides=SCRIPTED_TIERS)
    result = run(spec, {"ticket": "What are your opening hours?"}, call_log=False)
    assert result.output["category"] == "other"
    assert [t["node"] for t in result.trace] == ["classify", "reply"]


def test_invalid_output_falls_back_to_next_tier(tmp_path: Path) -> None:
    tiers = {
        **SCRIPTED_TIERS,
        "slm": {
            **SCRIPTED_TIERS["slm"],
            "settings": {
                "rules": [
                    {"node": "classify", "output": "billing"},
                    {"node": "extract", "output": "{not json"},
                ]
            },
        },
        "llm": {
            "backend": "scripted",
            "settings": {
                "rules": [
                    {
                        "node": "extract",
                        "output": '{"product": "Pro", "urgency": "low", "summary": "s"}',
                    },
                    {"output": "reply text"},
                ]
            },
        },
    }
    log = CallLog(tmp_path / "log.sqlite")
    result = run(
        build(load_spec("triage", tier_overrides=tiers), call_log=log), {"ticket": "refund please"}
    )
    assert result.status == "ok"
    assert result.output["details"]["urgency"] == "low"
    extract = [r for r in log.for_run(result.run_id) if r["node"] == "extract"]
    assert [(r["tier"], r["status"], r["error_kind"]) for r in extract] == [
        ("slm", "error", "invalid_output"),
        ("llm", "ok", None),
    ]
    assert extract[0]["call_group"] == extract[1]["call_group"]
    assert extract[1]["fallback_from"] == "slm" and extract[1]["attempt"] == 2


def test_failure_ends_the_run_in_a_defined_state() -> None:
    tiers = {
        "slm": {
            "backend": "scripted",
            "settings": {"rules": [{"error": "timeout"}]},
            "fallback": "llm",
        },
        "llm": {"backend": "scripted", "settings": {"rules": [{"error": "connection"}]}},
    }
    result = run(load_spec("triage", tier_overrides=tiers), {"ticket": "x"}, call_log=False)
    assert result.status == "error"
    assert result.state["failed_node"] == "classify"
    assert "all tiers failed" in (result.error or "")
    assert "timeout" in (result.error or "") and "connection" in (result.error or "")
    assert "reply" not in result.output or result.output["reply"] is None


REPAIR = """
name: repair
state: {task: str, draft: str, ok: bool}
imports: [helpers]
tiers:
  slm: {backend: scripted}
nodes:
  write:
    agent: prompt
    max_visits: 3
    on_limit: give_up
    params: {user: "Write {task}", output: draft}
  check:
    tool: "helpers:check_draft"
  give_up:
    tool: set
    params: {values: {draft: "GAVE UP"}}
edges:
  - {from: START, to: write}
  - {from: write, to: check}
  - from: check
    router: field
    params: {key: ok}
    routes: {"true": END, "false": write}
  - {from: give_up, to: END}
"""


def test_repair_loop_then_success() -> None:
    backend = ScriptedBackend([ScriptedRule(outputs=["bad", "bad", "good"])])
    result = run(load_spec(REPAIR), {"task": "t"}, backends={"slm": backend}, call_log=False)
    assert result.output["draft"] == "good"
    assert result.state["visits"] == {"write": 3, "check": 3}


def test_loop_bound_diverts_to_on_limit() -> None:
    backend = ScriptedBackend([ScriptedRule(output="bad")])
    result = run(load_spec(REPAIR), {"task": "t"}, backends={"slm": backend}, call_log=False)
    assert result.output["draft"] == "GAVE UP"
    assert result.state["visits"]["write"] == 3
    assert len(backend.calls) == 3


def test_interrupt_before_and_resume_with_edit() -> None:
    spec_text = REPAIR.replace("  check:\n", "  check:\n    interrupt_before: true\n")
    backend = ScriptedBackend([ScriptedRule(output="bad")])
    built = build(load_spec(spec_text), backends={"slm": backend}, call_log=False)
    first = run(built, {"task": "t"}, thread_id="th1")
    assert first.status == "interrupted" and first.next_nodes == ["check"]
    assert first.state["draft"] == "bad"
    # A human edits the draft and approves.
    second = run(built, {"draft": "good"}, thread_id="th1", resume=True)
    assert second.status == "ok"
    assert second.output["draft"] == "good"


def test_unknown_input_key_is_a_spec_error() -> None:
    from slmgraph import SpecError

    with pytest.raises(SpecError, match="Did you mean 'ticket'"):
        run(load_spec("triage", tier_overrides=SCRIPTED_TIERS), {"tikcet": "x"}, call_log=False)


def test_mermaid_snapshot() -> None:
    from slmgraph.graphs.builder import build_graph

    mermaid = (
        build_graph(load_spec("triage", tier_overrides=SCRIPTED_TIERS), call_log=False)
        .get_graph()
        .draw_mermaid()
    )
    edges = sorted(line.strip() for line in mermaid.splitlines() if "->" in line)
    assert edges == sorted(
        [
            "__start__ -.-> classify;",
            "classify -. &nbsp;(error)&nbsp; .-> __end__;",
            "classify -.-> extract;",
            "classify -.-> reply;",
            "extract -. &nbsp;(error)&nbsp; .-> __end__;",
            "extract -.-> reply;",
            "reply -.-> __end__;",
        ]
    )
    assert "tier = slm" in mermaid and "tier = llm" in mermaid


def test_changing_a_node_tier_is_one_line() -> None:
    text = Path(load_spec("triage").source or "").read_text()
    moved = text.replace(
        "  extract:\n    agent: prompt\n", "  extract:\n    agent: prompt\n    tier: llm\n"
    )
    import yaml

    data = yaml.safe_load(moved)
    data["tiers"] = SCRIPTED_TIERS | {
        "llm": {
            "backend": "scripted",
            "settings": {
                "rules": [
                    {
                        "node": "extract",
                        "output": '{"product": "P", "urgency": "low", "summary": "s"}',
                    },
                    {"output": "ok"},
                ]
            },
        }
    }
    result = run(load_spec(data), {"ticket": "refund"}, call_log=False)
    assert [(t["node"], t["tier"]) for t in result.trace] == [
        ("classify", "slm"),
        ("extract", "llm"),
        ("reply", "llm"),
    ]
