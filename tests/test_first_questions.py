"""The first questions a new user asks of the sample databases (tests/fixtures, written before
any tuning): every gold query runs, answers are judged as a user reads them (extra columns are
fine), and — opt-in, SLMGRAPH_REAL_MODELS=1 — the real 0.5B answers at least 80% right."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT, SHARED_DATA, real_models_enabled
from slmgraph.eval.sql.questions import load_questions
from slmgraph.tools.sql.match import execution_match, holds_columns, run_sql

FIXTURE = ROOT / "tests" / "fixtures" / "first_questions.yaml"
SAMPLES = SHARED_DATA / "samples"

needs_samples = pytest.mark.skipif(
    not (SAMPLES / "chinook.sqlite").exists(),
    reason=f"{SAMPLES} not found (see ../shared/data/README.md)",
)


@needs_samples
def test_every_gold_query_runs_and_answers_something() -> None:
    items = load_questions(FIXTURE, SAMPLES)
    assert len(items) == 40 and {it.db_id for it in items} == {"chinook", "northwind"}
    for it in items:
        out = run_sql(it.db_path, it.gold, 10.0)
        assert out.error is None and out.rows, it.question


def test_extra_columns_are_read_as_a_user_reads_them() -> None:
    gold = [("Rock",)]
    assert holds_columns(gold, [("Rock", 1297)], ordered=True)
    assert holds_columns(gold, [(1297, "Rock")], ordered=True)
    assert not holds_columns(gold, [("Rock", 1297), ("Latin", 579)], ordered=True)
    assert not holds_columns([("a", 1), ("b", 2)], [("a", 2), ("b", 1)], ordered=False)
    assert holds_columns([("a", 1), ("b", 2)], [(2, "b", 9), (1, "a", 9)], ordered=False)


@needs_samples
def test_extra_columns_in_execution_match() -> None:
    db = SAMPLES / "chinook.sqlite"
    gold = "SELECT g.Name FROM Genre g JOIN Track t ON t.GenreId = g.GenreId GROUP BY g.GenreId ORDER BY count(*) DESC LIMIT 1"  # noqa: E501
    pred = "SELECT g.Name, count(*) FROM Genre g JOIN Track t USING (GenreId) GROUP BY g.Name ORDER BY 2 DESC LIMIT 1"  # noqa: E501
    assert not execution_match(db, gold, pred)[0]  # Spider's EX: other columns, wrong
    assert execution_match(db, gold, pred, extra_columns=True)[0]


@pytest.mark.real_model
@pytest.mark.slow
@needs_samples
def test_the_real_slm_answers_most_first_questions(tmp_path: Path) -> None:
    if not real_models_enabled():
        pytest.skip("set SLMGRAPH_REAL_MODELS=1 to run")
    from slmgraph.eval.sql.score import evaluate
    from slmgraph.eval.sql.systems import make_system

    items = load_questions(FIXTURE, SAMPLES)
    summary = evaluate(make_system("slmgraph-slm", 2), items, tmp_path, extra_columns=True)
    misses = [
        line
        for line in (tmp_path / "predictions.jsonl").read_text().splitlines()
        if '"correct": false' in line
    ]
    assert summary["ex"] >= 0.8, "\n".join(misses)
