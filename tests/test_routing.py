"""Routing strategies as graph pieces on scripted tiers: the cascade (mean/min logprob and
self-consistency, escalation on failure, defined end states), parallel verification, rules and
trained-classifier routers, threshold calibration against a stated target, and the cost report
(share on small tiers, dollars against an all-LLM counterfactual)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from slmgraph import load_spec
from slmgraph.errors import SlmgraphError, SpecError
from slmgraph.graphs.builder import build
from slmgraph.runner import run
from slmgraph.telemetry.calllog import CallLog

PRICES = {"slm": {"input_per_1m": 0.02, "output_per_1m": 0.06},
          "llm": {"input_per_1m": 0.20, "output_per_1m": 0.60}}  # fmt: skip


def spec(node: dict[str, Any], slm_rules: list[Any], llm_rules: list[Any], **kw: Any) -> Any:
    return load_spec(
        {
            "name": "routed",
            "state": {
                "q": "str",
                "a": "str",
                "conf": "float",
                "tier": "str",
                "agree": "bool",
                "db": "str",
            },
            "tiers": {
                "slm": {
                    "backend": "scripted",
                    "size": "small",
                    "settings": {"rules": slm_rules},
                    "price": PRICES["slm"],
                },
                "llm": {
                    "backend": "scripted",
                    "settings": {"rules": llm_rules},
                    "price": PRICES["llm"],
                },
            },
            "nodes": {"answer": {"tier": "slm", **node}},
            "edges": [{"from": "START", "to": "answer"}, {"from": "answer", "to": "END"}],
            **kw,
        }
    )


CASCADE = {
    "agent": "cascade",
    "params": {"user": "{q}", "output": "a", "escalate_to": "llm", "threshold": -0.5,
               "confidence_key": "conf", "tier_key": "tier"},
}  # fmt: skip
SLM = [
    {"match": "easy", "output": "small answer", "logprob": -0.1},
    {"match": "hard", "output": "small guess", "logprob": -1.5},
    {"match": "broken", "error": "server"},
    {"match": "both", "error": "invalid_output"},
]
LLM = [{"match": "both", "error": "server"}, {"output": "large answer"}]


def test_cascade_escalates_on_low_confidence_and_failure() -> None:
    built = build(spec(CASCADE, SLM, LLM), call_log=False)
    easy = run(built, {"q": "easy one"})
    assert easy.output == {
        "q": "easy one", "a": "small answer", "conf": pytest.approx(-0.1), "tier": "slm"
    }  # fmt: skip
    assert [t["tier"] for t in easy.trace if t.get("model")] == ["slm"]
    hard = run(built, {"q": "hard one"})
    assert hard.output["a"] == "large answer" and hard.output["tier"] == "llm"
    assert [t["tier"] for t in hard.trace if t.get("model")] == ["slm", "llm"]
    broken = run(built, {"q": "broken"})
    assert broken.status == "ok" and broken.output["a"] == "large answer"
    both = run(built, {"q": "both fail"})
    assert both.status == "error" and "both tiers failed" in str(both.error)


def test_cascade_keeps_the_small_answer_when_escalation_fails() -> None:
    llm_down = [{"error": "connection"}]
    result = run(build(spec(CASCADE, SLM, llm_down), call_log=False), {"q": "hard one"})
    assert result.status == "ok" and result.output["a"] == "small guess"
    assert result.output["tier"] == "slm"


def test_cascade_min_logprob_and_self_consistency() -> None:
    node = {**CASCADE, "params": {**CASCADE["params"], "confidence": "min_logprob"}}
    assert run(build(spec(node, SLM, LLM), call_log=False), {"q": "easy"}).output["tier"] == "slm"
    votes = {**CASCADE, "params": {**CASCADE["params"], "confidence": "consistency",
                                   "samples": 3, "threshold": 0.6}}  # fmt: skip
    agreeing = [{"outputs": ["x", "X ", "y"]}]
    out = run(build(spec(votes, agreeing, LLM), call_log=False), {"q": "?"}).output
    assert out["a"] == "x" and out["conf"] == pytest.approx(2 / 3) and out["tier"] == "slm"
    split = [{"outputs": ["x", "y", "z"]}]
    out = run(build(spec(votes, split, LLM), call_log=False), {"q": "?"}).output
    assert out["a"] == "large answer" and out["conf"] == pytest.approx(1 / 3)


def test_cascade_escalates_sql_that_does_not_execute(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "shop.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE item (name TEXT, price REAL)")
    node = {**CASCADE, "params": {**CASCADE["params"], "validator": "sql_executes"}}
    slm = [{"match": "typo", "output": "SELECT nme FROM item", "logprob": -0.01},
           {"output": "SELECT name FROM item", "logprob": -0.01}]  # fmt: skip
    llm = [{"output": "SELECT name, price FROM item"}]
    built = build(spec(node, slm, llm), call_log=False)
    ok = run(built, {"q": "names", "db": str(db)}).output
    assert (ok["a"], ok["tier"]) == ("SELECT name FROM item", "slm")
    typo = run(built, {"q": "typo", "db": str(db)}).output  # confident, but it does not run
    assert (typo["a"], typo["tier"]) == ("SELECT name, price FROM item", "llm")
    no_db = run(built, {"q": "names"})
    assert no_db.status == "error" and "state key 'db'" in str(no_db.error)


def test_cascade_names_an_unknown_tier_at_its_yaml_path() -> None:
    node = {**CASCADE, "params": {**CASCADE["params"], "escalate_to": "lmm"}}
    with pytest.raises(
        SpecError, match=r"Unknown tier 'lmm' at nodes\.answer\.params\.escalate_to"
    ):
        spec(node, SLM, LLM)


PARALLEL = {
    "agent": "parallel",
    "params": {"user": "{q}", "output": "a", "verifier": "llm", "agree_key": "agree"},
}


@pytest.mark.parametrize("concurrent", [True, False])
def test_parallel_verification_policies_and_failures(tmp_path: Path, concurrent: bool) -> None:
    slm = [{"match": "same", "output": "Paris"}, {"match": "slm down", "error": "timeout"},
           {"output": "Lyon"}]  # fmt: skip
    llm = [{"match": "verifier down", "error": "server"}, {"output": "paris"}]
    log = CallLog(tmp_path / "calls.sqlite")
    node = {**PARALLEL, "params": {**PARALLEL["params"], "concurrent": concurrent}}
    built = build(spec(node, slm, llm), call_log=log)
    same = run(built, {"q": "same"})
    assert same.output == {"q": "same", "a": "Paris", "agree": True}  # the draft stands
    assert sorted(t["tier"] for t in same.trace if t.get("model")) == ["llm", "slm"]
    assert run(built, {"q": "differ"}).output == {"q": "differ", "a": "paris", "agree": False}
    assert run(built, {"q": "slm down"}).output["a"] == "paris"
    down = run(built, {"q": "verifier down"}).output
    assert (down["a"], down["agree"]) == ("Lyon", False)
    assert {r["node"] for r in log.rows()} == {"answer"}  # both sides logged as the node's
    draft_wins = {**PARALLEL, "params": {**PARALLEL["params"], "policy": "draft"}}
    assert run(build(spec(draft_wins, slm, llm), call_log=False), {"q": "x"}).output["a"] == "Lyon"


def _routed(router: dict[str, Any]) -> Any:
    return load_spec(
        {
            "name": "rules",
            "state": {"q": "str", "a": "str"},
            "tiers": {"slm": {"backend": "scripted", "settings": {"default": "small"}},
                      "llm": {"backend": "scripted", "settings": {"default": "large"}}},
            "nodes": {
                n: {"agent": "prompt", "tier": t, "params": {"user": "{q}", "output": "a"}}
                for n, t in (("small", "slm"), ("large", "llm"))
            },
            "edges": [{"from": "START", **router, "routes": {"slm": "small", "llm": "large"}},
                      {"from": "small", "to": "END"}, {"from": "large", "to": "END"}],
        }
    )  # fmt: skip


def test_rules_router() -> None:
    rules = {"router": "rules", "params": {"key": "q", "default": "slm", "rules": [
        {"match": r"\bwhy\b", "route": "llm"}, {"contains": ["explain"], "route": "llm"},
        {"min_length": 60, "route": "llm"}]}}  # fmt: skip
    built = build(_routed(rules), call_log=False)
    assert run(built, {"q": "how many singers?"}).output["a"] == "small"
    assert run(built, {"q": "Why is the sky blue?"}).output["a"] == "large"
    assert run(built, {"q": "please EXPLAIN joins"}).output["a"] == "large"
    assert run(built, {"q": "x" * 61}).output["a"] == "large"
    bad = {"router": "rules", "params": {"key": "q", "default": "slm",
                                         "rules": [{"match": "a", "route": "mid"}]}}  # fmt: skip
    with pytest.raises(SpecError, match="mid"):
        _routed(bad)


TEXTS = [f"how many {w} are there" for w in ("singers", "cars", "dogs", "songs", "pets")] + [
    f"which {w} has the highest average rating across all reviews per year"
    for w in ("movie", "album", "teacher", "hotel", "course")
]


def test_classifier_router_trained_on_outcomes(tmp_path: Path) -> None:
    pytest.importorskip("sklearn", reason="the 'cluster' extra is not installed")
    from slmgraph.routing.classifier import RouterModel, train

    model = train(TEXTS, [True] * 5 + [False] * 5, embedder="tfidf")
    path = model.save(tmp_path / "router.json")
    p = RouterModel.load(path).p_slm(["how many cats are there", "which film has the highest "
                                      "average rating across all reviews per year"])  # fmt: skip
    assert p[0] > 0.5 > p[1]
    built = build(_routed({"router": "classifier", "params": {"key": "q", "model": str(path)}}),
                  call_log=False)  # fmt: skip
    assert run(built, {"q": "how many cats are there"}).output["a"] == "small"
    assert run(built, {"q": "which song has the highest average rating"}).output["a"] == "large"
    with pytest.raises(SlmgraphError, match="both successes and failures"):
        train(TEXTS, [True] * 10, embedder="tfidf")
    with pytest.raises(SlmgraphError, match="no router model at"):
        RouterModel.load(tmp_path / "absent.json")


def _records(tmp_path: Path) -> Path:
    # scores that separate: the slm is right when its score is high; the llm is right 90%
    rows = [{"score": i / 20, "slm_correct": i >= 8, "llm_correct": i % 10 != 0,
             "slm_cost": 1e-6, "llm_cost": 1e-5} for i in range(20)]  # fmt: skip
    p = tmp_path / "records.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


def test_calibrate_targets(tmp_path: Path) -> None:
    from slmgraph.routing.calibrate import calibrate, read_records

    records = read_records(_records(tmp_path))
    esc = calibrate(records, "escalations<=0.25")["chosen"]
    assert esc["escalation_rate"] <= 0.25
    q = calibrate(records, "quality>=llm-0.01")
    assert q["chosen"]["quality"] >= q["llm_only"]["quality"] - 0.01
    assert q["chosen"]["cost_per_question"] < q["llm_only"]["cost_per_question"]
    cost = calibrate(records, "cost<=0.4*llm")["chosen"]
    assert cost["cost_per_question"] <= 0.4 * 1e-5 + 1e-12
    assert calibrate(records, "quality>=0.99")["chosen"] is None
    with pytest.raises(SlmgraphError, match=r"use e\.g\."):
        calibrate(records, "speed>=2")


def test_router_cli_train_calibrate_and_report(tmp_path: Path) -> None:
    pytest.importorskip("sklearn", reason="the 'cluster' extra is not installed")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "slmgraph", *args], capture_output=True,
                              text=True, timeout=120)  # fmt: skip

    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"text": t, "success": i < 5}) + "\n"
                            for i, t in enumerate(TEXTS)))  # fmt: skip
    model = tmp_path / "router.json"
    out = cli("router", "train", "--data", str(data), "--out", str(model), "--embed", "tfidf")
    assert out.returncode == 0 and "trained on 10 examples (50% slm successes" in out.stdout
    cal = cli("router", "calibrate", str(_records(tmp_path)), "--target", "escalations<=0.5",
              "--out", str(tmp_path / "curve.json"), "--png", str(tmp_path / "curve.png"),
              "--model", str(model), "--write")  # fmt: skip
    assert cal.returncode == 0, cal.stderr
    assert "wrote threshold" in cal.stdout and (tmp_path / "curve.png").stat().st_size > 1000
    assert json.loads(model.read_text())["threshold"] != 0.5

    # cost report over a log of cascade runs
    log = CallLog(tmp_path / "calls.sqlite")
    built = build(spec(CASCADE, SLM, LLM), call_log=log)
    for q in ["easy"] * 6 + ["hard"] * 2:
        run(built, {"q": q})
    log.close()
    rep = cli("report", "--log", str(tmp_path / "calls.sqlite"), "--png",
              str(tmp_path / "cost.png"), "--curve", str(tmp_path / "curve.json"),
              "--json", str(tmp_path / "cost.json"))  # fmt: skip
    assert rep.returncode == 0, rep.stderr
    assert "10 model calls in 8 runs; 80% on small-model tiers" in rep.stdout
    report = json.loads((tmp_path / "cost.json").read_text())
    assert report["cost_usd"] < report["all_llm_cost_usd"] and 0 < report["saving"] < 1
