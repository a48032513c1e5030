"""Run a system over a split: one JSONL line per question (resumable: done ids are skipped),
a progress line with the running EX, and a summary (JSON + markdown) at the end."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import sqlglot

from slmgraph.eval.dataset import Item
from slmgraph.eval.execution import execution_match
from slmgraph.eval.report import markdown, summarize
from slmgraph.eval.systems import System
from slmgraph.tools.sql.check import unknown_identifiers
from slmgraph.tools.sql.database import open_database


def _hallucinated(item: Item, sql: str | None) -> bool | None:
    """Does the SQL name a table or column the database lacks? None if it does not parse."""
    if not sql:
        return None
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except sqlglot.errors.SqlglotError:
        return None
    return bool(unknown_identifiers(tree, open_database(item.db_path).schema()))


def score(item: Item, pred: Any, timeout_s: float) -> dict[str, Any]:
    """One question's record: correctness, validity (parses and executes), whether it names
    identifiers the database lacks, the error, escalation, time and the model calls."""
    correct, error, outcome = execution_match(item.db_path, item.gold, pred.sql, timeout_s)
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


def evaluate(
    system: System,
    items: list[Item],
    out_dir: str | Path,
    *,
    timeout_s: float = 30.0,
    progress: TextIO | None = sys.stderr,
    answer: bool = True,
) -> dict[str, Any]:
    """Answer and score every item not yet in ``out_dir/predictions.jsonl``, then summarise
    the items. ``answer=False`` answers nothing and summarises the items already answered."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "predictions.jsonl"
    records: dict[str, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                records[rec["id"]] = rec
    wanted = {it.id for it in items}
    if not answer:
        items = [it for it in items if it.id in records]
    todo = [it for it in items if it.id not in records]
    start = time.perf_counter()
    with path.open("a") as f:
        for i, item in enumerate(todo, 1):
            pred = system.predict(item)
            rec = score(item, pred, timeout_s)
            f.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")
            f.flush()
            records[item.id] = rec
            if progress is not None:
                done = [r for k, r in records.items() if k in wanted]
                ex = sum(r["correct"] for r in done) / len(done)
                rate = (time.perf_counter() - start) / i
                eta = rate * (len(todo) - i)
                progress.write(
                    f"\r{system.name}: {len(done)}/{len(items)}  EX {ex:.1%}  "
                    f"{rate:.1f} s/q  ETA {eta / 60:.0f} min   "
                )
                progress.flush()
    if progress is not None and todo:
        progress.write("\n")
    final = [records[it.id] for it in items]
    for item, rec in zip(items, final, strict=True):
        if "parses" not in rec:  # a record written before this field existed
            rec["parses"] = _hallucinated(item, rec.get("sql")) is not None
    summary = summarize(final, system.name)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "summary.md").write_text(markdown([summary]))
    return summary
