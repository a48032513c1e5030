"""Run a system over evaluation items: one JSONL line per item (resumable: items already
answered are skipped), a progress line with the running score, and a summary (JSON and
markdown) at the end. Domains bring the scoring: ``score(item, prediction) -> record`` (a dict
with ``id`` and ``correct``) and ``summarize(records, name) -> summary``."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TextIO


class System(Protocol):
    """What an evaluation runs: a name, and an answer per item."""

    name: str

    def predict(self, item: Any) -> Any: ...


Score = Callable[[Any, Any], dict[str, Any]]
Summarize = Callable[[list[dict[str, Any]], str], dict[str, Any]]


def read_records(path: Path) -> dict[str, dict[str, Any]]:
    """The records of a predictions file by id (a line cut short by a kill is dropped)."""
    records: dict[str, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            records[str(rec["id"])] = rec
    return records


def evaluate(
    system: System,
    items: Sequence[Any],
    out_dir: str | Path,
    *,
    score: Score,
    summarize: Summarize,
    markdown: Callable[[list[dict[str, Any]]], str] | None = None,
    progress: TextIO | None = sys.stderr,
    answer: bool = True,
    metric: str = "acc",
    refresh: Callable[[Any, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Answer and score every item not yet in ``out_dir/predictions.jsonl``, then summarise the
    items. ``answer=False`` answers nothing and summarises the items already answered;
    ``refresh(item, record)`` may update records written by an older version."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "predictions.jsonl"
    records = read_records(path)
    wanted = {item.id for item in items}
    if not answer:
        items = [it for it in items if it.id in records]
    todo = [it for it in items if it.id not in records]
    start = time.perf_counter()
    with path.open("a", encoding="utf-8") as f:
        for i, item in enumerate(todo, 1):
            rec = score(item, system.predict(item))
            f.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")
            f.flush()
            records[item.id] = rec
            if progress is not None:
                done = [r for k, r in records.items() if k in wanted]
                value = sum(bool(r["correct"]) for r in done) / len(done)
                rate = (time.perf_counter() - start) / i
                eta = rate * (len(todo) - i)
                progress.write(
                    f"\r{system.name}: {len(done)}/{len(items)}  {metric} {value:.1%}  "
                    f"{rate:.1f} s/item  ETA {eta / 60:.0f} min   "
                )
                progress.flush()
    if progress is not None and todo:
        progress.write("\n")
    final = [records[it.id] for it in items]
    if refresh is not None:
        for item, rec in zip(items, final, strict=True):
            refresh(item, rec)
    summary = summarize(final, system.name)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if markdown is not None:
        (out / "summary.md").write_text(markdown([summary]))
    return summary


__all__ = ["Score", "Summarize", "System", "evaluate", "read_records"]
