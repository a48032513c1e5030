"""benchmarks/spider.py's report from answers already kept under runs/ (``--report-only``):
the summary, the targets and the paired comparisons, without loading a model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_eval import Replay, split  # noqa: F401 - split is a fixture

from slmgraph.eval.sql import evaluate, load_split
from slmgraph.eval.sql.systems import fingerprint, make_system

pytest.importorskip("matplotlib", reason="the report's plot needs matplotlib (dev extra)")
ROOT = Path(__file__).resolve().parent.parent


def test_report_only_pairs_the_systems(split: Path, tmp_path: Path) -> None:  # noqa: F811
    items = load_split(split)
    right = {
        "q1": "SELECT count(*) FROM customers",
        "q2": "SELECT city, count(*) FROM customers GROUP BY city ORDER BY count(*) DESC, city",
        "q3": "SELECT T1.name FROM products AS T1 JOIN categories AS T2 ON T1.category_id "
        "= T2.category_id WHERE T2.name = 'Books'",
        "q4": "SELECT count(*) FROM orders WHERE status = 'shipped'",
    }
    answers = {  # slm right on all 4, the zero-shot 0.5B on q1 only
        "slmgraph-slm": right,
        "zeroshot-0.5b": {"q1": right["q1"], "q2": "SELECT city FROM customers"},
    }
    runs = tmp_path / "runs"
    for name, table in answers.items():  # where spider.py looks for each system's answers
        out = runs / f"{name}-{fingerprint(make_system(name, 2))}"
        evaluate(Replay(table), items, out, progress=None)
    res = tmp_path / "results"
    p = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "spider.py"), "--data", str(split),
         "--limit", "0", "--systems", "zeroshot-0.5b,slmgraph-slm", "--runs", str(runs),
         "--results", str(res), "--report-only"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    report = json.loads((res / "spider-latest.json").read_text())
    assert [s["ex"] for s in report["systems"]] == [0.25, 1.0]
    (pair,) = report["paired"]
    assert (pair["a"], pair["b"], pair["n"], pair["only_a"], pair["only_b"]) == (
        "slmgraph-slm", "zeroshot-0.5b", 4, 3, 0,
    )  # fmt: skip
    assert pair["diff"] == 0.75 and pair["p_mcnemar"] == 0.25
    assert set(report["fingerprints"]) == {"zeroshot-0.5b", "slmgraph-slm"}
    md = next(res.glob("spider-*.md")).read_text()
    assert "## Paired comparisons" in md and "| slmgraph-slm | zeroshot-0.5b | 4 | +75.0 pts" in md
    assert "## Targets" in md and next(res.glob("spider-*.png")).stat().st_size > 0
