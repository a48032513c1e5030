"""S6 Promote and iterate: a shadow tier answers beside the node's tier (logged, never used,
never able to break the run); shadow evidence gates `slmgraph promote`, which edits only the
node's tier in the spec file; the drift report flags rising failures, fallbacks, a moved task
mix and calls that fit no known cluster."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from slmgraph import load_spec
from slmgraph.errors import SlmgraphError, SpecError
from slmgraph.graphs.builder import build
from slmgraph.pipeline.promote import (
    drift,
    promote,
    set_node_tier,
    shadow_report,
)
from slmgraph.runner import run
from slmgraph.telemetry.calllog import CallLog

SPEC = """\
# Triage, with a candidate tier in the shadow of `classify`.
name: shadowed
state: {ticket: str, category: str, reply: str}
output: [category, reply]
tiers:
  slm: {backend: scripted, settings: {rules: [{node: classify, match: "refund|charge", output: billing},
        {node: classify, output: technical}, {node: reply, output: "We are on it."}]}}
  cand:   # the fine-tuned student: agrees on billing, says "other" for the rest
    backend: scripted
    settings: {rules: [{match: "refund|charge", output: billing}, {match: "crash", output: other},
      {error: server}]}
nodes:
  classify:
    agent: prompt
    tier: slm      # moves to cand once the shadow agrees
    shadow: cand
    params: {user: "Ticket: {ticket}", output: category, constraint: {choice: [billing, technical, other]}}
  reply: {agent: prompt, tier: slm, params: {user: "{ticket}", output: reply}}
edges:
  - {from: START, to: classify}
  - {from: classify, to: reply}
  - {from: reply, to: END}
"""  # noqa: E501


def _spec(tmp_path: Path) -> Path:
    p = tmp_path / "shadowed.yaml"
    p.write_text(SPEC)
    return p


def _traffic(spec_path: Path, log: CallLog, tickets: list[str]) -> None:
    built = build(load_spec(spec_path), call_log=log)
    for t in tickets:
        result = run(built, {"ticket": t})
        assert result.status == "ok", result.error
    built.tiers.wait_shadows()


def test_shadow_calls_are_logged_beside_the_answer_and_never_break_it(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "calls.sqlite")
    tickets = ["please refund me", "double charge", "app crash on start", "it is slow"]
    _traffic(_spec(tmp_path), log, tickets)
    rows = log.rows()
    shadows = [r for r in rows if r["params"] and "shadow_of" in json.loads(r["params"])]
    assert len(shadows) == 4 and {r["tier"] for r in shadows} == {"cand"}
    assert {r["node"] for r in shadows} == {"classify"}  # the node's context reaches the log
    assert sum(r["status"] == "error" for r in shadows) == 1  # "it is slow": the rule errors
    (s,) = shadow_report(rows)
    assert (s.node, s.tier, s.shadow, s.n) == ("classify", "slm", "cand", 4)
    assert s.agreement == 0.5 and s.shadow_error_rate == 0.25
    # the answers are the primary tier's
    answers = [r["output"] for r in rows if r["node"] == "classify" and r["tier"] == "slm"]
    assert answers == ["billing", "billing", "technical", "technical"]


def test_validation_of_shadow(tmp_path: Path) -> None:
    bad = SPEC.replace("shadow: cand", "shadow: cnad")
    with pytest.raises(
        SpecError,
        match=r"Unknown tier 'cnad' at nodes\.classify\.shadow\. \(line 16\) Did you mean 'cand'",
    ):
        load_spec(bad)
    same = SPEC.replace("shadow: cand", "shadow: slm")
    with pytest.raises(SpecError, match="is the node's own tier"):
        load_spec(same)


def test_set_node_tier_edits_only_the_tier(tmp_path: Path) -> None:
    new = set_node_tier(SPEC, "classify", "cand")
    assert "    tier: cand      # moves to cand once the shadow agrees\n" in new
    assert "shadow: cand" not in new and new.count("\n") == SPEC.count("\n") - 1
    assert new.startswith("# Triage, with a candidate tier")
    flow = set_node_tier(SPEC, "reply", "cand")
    assert "reply: {agent: prompt, tier: cand, params:" in flow
    block_no_tier = "nodes:\n  a:\n    agent: prompt   # x\n    params: {}\n"
    assert set_node_tier(block_no_tier, "a", "t") == (
        "nodes:\n  a:\n    tier: t\n    agent: prompt   # x\n    params: {}\n"
    )
    empty = "nodes:\n  a:\n    agent: p\n    tier:\n"
    assert set_node_tier(empty, "a", "t") == "nodes:\n  a:\n    agent: p\n    tier: t\n"
    aliased = "x: &base {agent: p, tier: s}\nnodes:\n  a: *base\n  b: *base\n"
    with pytest.raises(SlmgraphError, match="YAML alias"):
        set_node_tier(aliased, "a", "t")
    flow_first = "nodes:\n  a: {shadow: t, agent: p}\n"
    assert set_node_tier(flow_first, "a", "t") == "nodes:\n  a: {agent: p, tier: t}\n"
    with pytest.raises(SlmgraphError, match=r"no node 'clasify'.*Did you mean 'classify'"):
        set_node_tier(SPEC, "clasify", "cand")


def test_promote_needs_evidence_and_edits_the_file(tmp_path: Path) -> None:
    path = _spec(tmp_path)
    log = CallLog(tmp_path / "calls.sqlite")
    with pytest.raises(SlmgraphError, match="no shadow calls of 'classify' on 'cand'"):
        promote(path, "classify", "cand", log=log)
    _traffic(path, log, ["refund please", "charge twice", "app crash"] * 4)
    with pytest.raises(SlmgraphError, match="12 shadow calls \\(need 30\\), agreement 67%"):
        promote(path, "classify", "cand", log=log)
    assert path.read_text() == SPEC  # refused: untouched
    dry = promote(path, "classify", "cand", log=log, min_calls=10, min_agreement=0.6,
                  dry_run=True)  # fmt: skip
    assert not dry.written and "-    tier: slm" in dry.diff and path.read_text() == SPEC
    done = promote(path, "classify", "cand", log=log, min_calls=10, min_agreement=0.6)
    assert done.written and done.old_tier == "slm" and done.evidence is not None
    promoted = load_spec(path)
    assert promoted.nodes["classify"].tier == "cand" and promoted.nodes["classify"].shadow is None
    with pytest.raises(SlmgraphError, match="no tier 'nope' under `tiers:`"):
        promote(path, "classify", "nope", log=log, force=True)


def test_promote_cli(tmp_path: Path) -> None:
    path = _spec(tmp_path)
    log = tmp_path / "calls.sqlite"
    _traffic(path, CallLog(log), ["refund please"] * 3)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "slmgraph", *args], capture_output=True, text=True, timeout=120
        )

    shadow = cli("shadow", "--log", str(log))
    assert shadow.returncode == 0 and "| classify | slm | cand | 3 | 100% |" in shadow.stdout
    refused = cli("promote", str(path), "classify", "--tier", "cand", "--log", str(log))
    assert refused.returncode == 1 and "3 shadow calls (need 30)" in refused.stderr
    ok = cli("promote", str(path), "classify", "--tier", "cand", "--log", str(log),
             "--min-calls", "3")  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "evidence: 3 shadow calls, agreement 100%" in ok.stdout
    assert "moved classify: slm -> cand" in ok.stdout


def _row(ts: float, node: str, tier: str, status: str = "ok", **kw: Any) -> dict[str, Any]:
    return {
        "ts": ts, "node": node, "tier": tier, "status": status, "call_group": kw.pop("g", str(ts)),
        "params": None, "fallback_from": None, "output": "x", "latency_s": 0.1, "cost_usd": 0.0,
        "messages": json.dumps([{"role": "user", "content": kw.pop("text", node)}]), **kw,
    }  # fmt: skip


def test_drift_flags_failures_fallbacks_and_a_new_mix() -> None:
    day = 86400.0
    steady = [_row(i * 60, "classify", "slm") for i in range(50)]
    steady += [_row(i * 60 + 1, "write_sql", "slm") for i in range(50)]
    report = drift(steady + [_row(day + r["ts"], r["node"], r["tier"]) for r in steady])
    assert not report.rerun and len(report.windows) == 2
    worse = [_row(day + i * 60, "classify", "slm", "error" if i < 10 else "ok") for i in range(50)]
    worse += [_row(day + i * 60 + 1, "write_sql", "llm", fallback_from="slm", g=f"f{i}")
              for i in range(10)]  # fmt: skip
    worse += [_row(day + 5000 + i, "research", "llm") for i in range(60)]
    report = drift(steady + worse)
    text = " ".join(report.reasons)
    assert "tier slm fails 20% of calls (was 0%)" in text
    assert "fallbacks on" in text and "the mix of nodes moved" in text
    assert "Run curate/cluster/select/finetune again" in report.markdown()
    with pytest.raises(SlmgraphError, match="empty"):
        drift([])


def test_drift_assigns_calls_to_known_clusters(tmp_path: Path) -> None:
    pytest.importorskip("sklearn", reason="the 'cluster' extra is not installed")
    from slmgraph.pipeline.cluster import cluster, write

    def ex(i: int, kind: str) -> dict[str, Any]:
        if kind == "sql":
            m = [
                {"role": "system", "content": "You write SQLite queries."},
                {"role": "user", "content": f"Question: how many singers older than {i}?"},
            ]
            return {"node": "write_sql", "messages": m, "output": f"SELECT count(*) FROM t{i}"}
        m = [
            {"role": "system", "content": "You sort support tickets into a category."},
            {"role": "user", "content": f"Ticket: my invoice {i} is wrong\\nCategory:"},
        ]
        return {"node": "classify", "messages": m, "output": "billing"}  # fmt: skip

    examples = [ex(i, k) for i in range(12) for k in ("sql", "ticket")]
    report = cluster(examples, k=2, embedder="tfidf")
    write(report, examples, tmp_path / "c")
    t0 = time.time()
    known = [
        {**_row(t0 + i, e["node"], "slm", text=e["messages"][1]["content"]),
         "messages": json.dumps(e["messages"]), "output": e["output"]}
        for i, e in enumerate(examples)
    ]  # fmt: skip
    odd = {"role": "user", "content": "Translate 'bonjour' into German please"}
    new = [
        {**_row(t0 + 86400 + i, "translate", "slm"),
         "messages": json.dumps([odd]), "output": "Guten Tag"}
        for i in range(24)
    ]  # fmt: skip
    rep = drift(known + new, clusters=tmp_path / "c")
    first, last = rep.windows
    assert "unassigned" not in first.cluster_share and len(first.cluster_share) == 2
    assert last.cluster_share.get("unassigned") == 1.0
    assert any("fit no known task cluster" in r for r in rep.reasons)
