"""The evaluation harness: stratified samples, execution-accuracy scoring, resumable runs,
summaries, and the `slmgraph eval spider` command on a small Spider-layout folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from slmgraph.eval.sql import evaluate, execution_match, load_split, stratified_sample
from slmgraph.eval.sql.report import markdown, summarize
from slmgraph.eval.sql.spider import Item
from slmgraph.eval.sql.systems import Prediction
from slmgraph.eval.stats import wilson
from slmgraph.tools.sql.demo import build_demo_db


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Spider-layout folder over the demo shop database."""
    root = tmp_path_factory.mktemp("spider")
    db = root / "database" / "shop" / "shop.sqlite"
    db.parent.mkdir(parents=True)
    build_demo_db(db)
    rows = [
        {
            "id": "q1",
            "db_id": "shop",
            "question": "How many customers?",
            "query": "SELECT count(*) FROM customers",
            "hardness": "easy",
        },
        {
            "id": "q2",
            "db_id": "shop",
            "question": "Cities by customers",
            "query": "SELECT city, count(*) FROM customers GROUP BY city ORDER BY count(*) DESC, "
            "city",
            "hardness": "medium",
        },
        {
            "id": "q3",
            "db_id": "shop",
            "question": "Book titles",
            "query": "SELECT T1.name FROM products AS T1 JOIN categories AS T2 ON T1.category_id "
            "= T2.category_id WHERE T2.name = 'Books'",
            "hardness": "hard",
        },
        {
            "id": "q4",
            "db_id": "shop",
            "question": "Shipped orders",
            "query": "SELECT count(*) FROM orders WHERE status = 'shipped'",
            "hardness": "easy",
        },
    ]
    (root / "dev.json").write_text(json.dumps(rows))
    (root / "tables.json").write_text("[]")
    return root


def test_stratified_sample_is_deterministic_and_proportional() -> None:
    items = [
        Item(f"i{i}", "d", "q", "SELECT 1", h, Path("x"))
        for i, h in enumerate(["easy"] * 50 + ["medium"] * 30 + ["hard"] * 20)
    ]
    a = stratified_sample(items, 10, seed=3)
    assert a == stratified_sample(items, 10, seed=3)
    assert a != stratified_sample(items, 10, seed=4)
    assert Counter(i.hardness for i in a) == {"easy": 5, "medium": 3, "hard": 2}
    assert [i.id for i in a] == sorted((i.id for i in a), key=lambda s: int(s[1:]))
    assert stratified_sample(items, None) == items


def test_execution_match(split: Path) -> None:
    db = split / "database" / "shop" / "shop.sqlite"
    assert execution_match(
        db, "SELECT count(*) FROM customers", "select COUNT(customer_id) from customers"
    )[0]
    # Unordered gold: row order does not matter; ordered gold: it does.
    assert execution_match(
        db, "SELECT name FROM categories", "SELECT name FROM categories ORDER BY name DESC"
    )[0]
    assert not execution_match(
        db,
        "SELECT name FROM categories ORDER BY name",
        "SELECT name FROM categories ORDER BY name DESC",
    )[0]
    # Multisets: duplicates count.
    assert not execution_match(
        db, "SELECT city FROM customers", "SELECT DISTINCT city FROM customers"
    )[0]
    ok, err, _ = execution_match(db, "SELECT 1", "SELECT nope FROM customers")
    assert not ok and "no such column" in (err or "")
    ok, err, _ = execution_match(db, "SELECT 1", "DELETE FROM customers")
    assert not ok and "not allowed" in (err or "")
    ok, err, _ = execution_match(db, "SELECT 1", None)
    assert not ok and err == "no SQL"


class Replay:
    """A system answering from a table; raises on the item named in ``crash_on``."""

    name = "replay"

    def __init__(self, answers: dict[str, str], crash_on: str | None = None) -> None:
        self.answers, self.crash_on, self.calls = answers, crash_on, 0

    def predict(self, item: Item) -> Prediction:
        self.calls += 1
        if item.id == self.crash_on:
            raise KeyboardInterrupt
        trace = [
            {
                "node": "write_sql",
                "tier": "slm",
                "size": "small",
                "model": "m",
                "tokens_in": 10,
                "tokens_out": 5,
                "latency_s": 0.1,
                "cost_usd": 0.001,
            }
        ]
        return Prediction(self.answers.get(item.id), None, False, trace, 0.5)


ANSWERS = {
    "q1": "SELECT count(*) FROM customers",
    "q2": "SELECT city, count(*) FROM customers GROUP BY city",  # unordered: wrong
    "q3": "SELECT name FROM products WHERE categry_id = 1",  # hallucinated column
    "q4": "SELECT count(*) FROM orders WHERE status = 'shipped'",
}


def test_evaluate_resumes_and_summarizes(split: Path, tmp_path: Path) -> None:
    items = load_split(split)
    with pytest.raises(KeyboardInterrupt):
        evaluate(Replay(ANSWERS, crash_on="q3"), items, tmp_path, progress=None)
    assert len((tmp_path / "predictions.jsonl").read_text().splitlines()) == 2
    again = Replay(ANSWERS)
    summary = evaluate(again, items, tmp_path, progress=None)
    assert again.calls == 2  # q1 and q2 were not asked again
    assert summary["n"] == 4 and summary["ex"] == 0.5
    assert summary["ex_by_hardness"]["easy"]["ex"] == 1.0
    assert summary["ex_by_hardness"]["hard"]["ex"] == 0.0
    assert summary["valid_sql_rate"] == 0.75 and summary["hallucinated_identifier_rate"] == 0.25
    assert summary["slm_call_share"] == 1.0
    assert summary["cost_per_question"] == pytest.approx(0.001)
    assert summary["cost_per_correct"] == pytest.approx(0.002)
    assert (tmp_path / "summary.md").read_text().startswith("| system |")
    rec = json.loads((tmp_path / "predictions.jsonl").read_text().splitlines()[0])
    assert {"id", "hardness", "sql", "correct", "error", "escalated", "trace"} <= set(rec)


def test_wilson_and_markdown() -> None:
    lo, hi = wilson(43, 100)
    assert 0.33 < lo < 0.34 and 0.52 < hi < 0.53
    table = markdown(
        [
            summarize(
                [
                    {
                        "correct": True,
                        "hardness": "easy",
                        "valid": True,
                        "hallucinated": False,
                        "escalated": False,
                        "seconds": 1.0,
                        "trace": [],
                    }
                ],
                "s",
            )
        ]
    )
    assert "| s | 1 | 100.0%" in table


SQL_TIERS = """
slm:
  backend: scripted
  settings:
    rules:
      - {node: extract_tables, output: '["customers"]'}
      - {node: write_sql, output: "SELECT count(*) FROM customers"}
llm: {backend: scripted, settings: {default: "SELECT 1"}}
"""


def test_eval_cli_on_scripted_tiers(split: Path, tmp_path: Path) -> None:
    tiers = tmp_path / "tiers.yaml"
    tiers.write_text(SQL_TIERS)
    out = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "slmgraph",
            "eval",
            "spider",
            "--data",
            str(split),
            "--system",
            "slmgraph-slm",
            "--limit",
            "2",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "SLMGRAPH_TIERS": str(tiers)},
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["name"] == "slmgraph-slm" and summary["n"] == 2
    assert "EX" in proc.stderr  # the progress line
    shutil.rmtree(out)


def _summary(name: str, ex: float, **kw: float) -> dict:
    base = {
        "name": name,
        "n": 100,
        "ex": ex,
        "p50_s": 5.0,
        "cost_per_question": 1e-5,
        "slm_call_share": 1.0,
        "valid_sql_rate": 1.0,
        "parse_rate": 1.0,
        "hallucinated_identifier_rate": 0.0,
    }
    return {**base, **kw}


def test_targets_state_met_missed_and_unmeasured() -> None:
    from slmgraph.eval.sql.report import spider_targets, targets_markdown

    rows = spider_targets(
        [
            _summary("zeroshot-0.5b", 0.40),
            _summary("zeroshot-1.5b", 0.55, p50_s=10.0, cost_per_question=1e-4, slm_call_share=0),
            _summary("slmgraph-slm", 0.56, p50_s=8.0, valid_sql_rate=0.97),
        ],
        {"overhead": {"overhead_per_node_ms": {"slmgraph-sqlite-log": 0.3}}},
    )
    by = {r["target"]: r for r in rows}
    assert by["slmgraph-slm EX >= zeroshot-0.5b + 15 pts"]["met"] is True
    assert by["slmgraph-slm EX >= zeroshot-1.5b"]["met"] is True
    assert by["slmgraph-slm p50 s <= zeroshot-1.5b's"]["met"] is True
    validity = by["slmgraph-slm: valid SQL 100%, hallucinated identifiers 0%"]
    assert validity["met"] is False and validity["gap"] == "3.0% invalid"
    assert by["framework overhead <= 1 ms per node"]["met"] is True
    cascade = [r for r in rows if r["target"].startswith("slmgraph-cascade")]
    assert len(cascade) == 3 and all(r["met"] is None for r in cascade)  # not run
    missed = spider_targets([_summary("slmgraph-slm", 0.3)], {})
    assert missed[0]["met"] is None and missed[0]["measured"] == "not measured"
    assert "**no**" in targets_markdown(rows) and "yes" in targets_markdown(rows)


def test_paired_difference_and_mcnemar() -> None:
    from slmgraph.eval.sql.report import paired_markdown
    from slmgraph.eval.stats import paired

    # 100 questions: both right on 50, only a on 10, only b on 4, neither on 36
    a = [{"id": i, "correct": i < 60} for i in range(100)]
    b = [{"id": i, "correct": i < 50 or 60 <= i < 64} for i in range(100)]
    r = paired(a, b)
    assert (r["n"], r["both"], r["only_a"], r["only_b"]) == (100, 50, 10, 4)
    assert r["diff"] == 0.06
    assert r["ci95"] == pytest.approx((-0.0124, 0.1324), abs=1e-4)
    assert r["p_mcnemar"] == 0.18  # scipy's binomtest(4, 14): 0.1796, to 3 digits
    assert paired(b, a)["diff"] == -0.06 and paired(b, a)["p_mcnemar"] == r["p_mcnemar"]
    # only the questions both answered count; identical answers are not a difference
    assert paired(a[:30], b)["n"] == 30 and paired(a, a)["p_mcnemar"] == 1.0
    assert paired([], b)["n"] == 0
    far = paired(
        [{"id": i, "correct": True} for i in range(30)],
        [{"id": i, "correct": False} for i in range(30)],
    )
    assert 0 < far["p_mcnemar"] < 1e-8  # 2 / 2**30: small, never rounded to 0
    table = paired_markdown([{**r, "a": "slm", "b": "zeroshot"}])
    assert "| slm | zeroshot | 100 | +6.0 pts (-1.2 to +13.2) | 10 | 4 | 0.18 |" in table


def test_eval_help_names_every_system() -> None:
    from slmgraph.eval.sql.systems import SYSTEMS

    help_text = subprocess.run(
        [sys.executable, "-m", "slmgraph", "eval", "spider", "--help"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "COLUMNS": "1000"},  # argparse wraps at hyphens otherwise
    ).stdout  # fmt: skip
    assert [name for name in SYSTEMS if name not in help_text] == []
