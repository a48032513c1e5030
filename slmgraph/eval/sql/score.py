"""Scoring one text-to-SQL answer (execution match, validity, hallucinated identifiers, its
trace), and :func:`evaluate`: the harness core (:mod:`slmgraph.eval.harness`) with it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

import sqlglot

from slmgraph.eval import harness
from slmgraph.eval.harness import System
from slmgraph.eval.sql.report import markdown, summarize
from slmgraph.eval.sql.spider import Item
from slmgraph.tools.sql.base import WRITE_DIALECT
from slmgraph.tools.sql.check import unknown_identifiers
from slmgraph.tools.sql.database import open_database
from slmgraph.tools.sql.match import execution_match


def _hallucinated(item: Item, sql: str | None) -> bool | None:
    """Does the SQL name a table or column the database lacks? None if it does not parse."""
    if not sql:
        return None
    db = open_database(item.db_path)
    try:
        tree = sqlglot.parse_one(sql, read=WRITE_DIALECT)
    except sqlglot.errors.SqlglotError:
        return None
    return bool(unknown_identifiers(tree, db.schema()))


def score(item: Item, pred: Any, timeout_s: float, extra_columns: bool = False) -> dict[str, Any]:
    """One question's record: correctness, validity (parses and executes), whether it names
    identifiers the database lacks, the error, escalation, time and the model calls."""
    correct, error, outcome = execution_match(
        item.db_path, item.gold, pred.sql, timeout_s, extra_columns=extra_columns,
        gold_db=item.gold_db,
    )  # fmt: skip
    unknown = _hallucinated(item, pred.sql)
    return {
        "id": item.id,
        "db_id": item.db_id,
        "hardness": item.hardness,
        "question": item.question,
        "gold": item.gold,
        "sql": pred.sql,
        "correct": correct,
        "valid": outcome is not None and outcome.error is None,
        "parses": unknown is not None,
        "hallucinated": bool(unknown),
        "error": pred.error if pred.sql is None and pred.error else error,
        "escalated": pred.escalated,
        "seconds": round(pred.seconds, 3),
        "trace": [
            {
                k: t.get(k)
                for k in (
                    "node",
                    "tier",
                    "size",
                    "model",
                    "tokens_in",
                    "tokens_out",
                    "latency_s",
                    "cost_usd",
                    "status",
                    "mean_logprob",
                )
            }
            for t in pred.trace
        ],
    }


def _refresh(item: Item, rec: dict[str, Any]) -> None:
    if "parses" not in rec:  # a record written before this field existed
        rec["parses"] = _hallucinated(item, rec.get("sql")) is not None


def evaluate(
    system: System,
    items: list[Item],
    out_dir: str | Path,
    *,
    timeout_s: float = 30.0,
    progress: TextIO | None = sys.stderr,
    answer: bool = True,
    extra_columns: bool = False,
) -> dict[str, Any]:
    """Answer and score every item not yet in ``out_dir/predictions.jsonl``, then summarise
    (EX and the rest); ``answer=False`` only summarises what is answered. ``extra_columns``:
    count an answer right whose result holds the gold columns among others (see
    :func:`slmgraph.tools.sql.match.execution_match`)."""
    return harness.evaluate(
        system,
        items,
        out_dir,
        score=lambda item, pred: score(item, pred, timeout_s, extra_columns),
        summarize=summarize,
        markdown=markdown,
        progress=progress,
        answer=answer,
        metric="EX",
        refresh=_refresh,
    )
