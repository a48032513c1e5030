"""Replaceability of operator-llm's modules, each episode replayed against the skill store as it
stood when that episode began in the logged run.

``slmgraph.eval.operator.replace.replaceability`` takes one store for all the episodes it
replays; handed the run's final store, an episode is offered the skill it learned itself (on
seed 0 every success had stored one), is replayed by that skill, and keeps its outcome whatever
the module under test does. Here each episode gets its own store, rebuilt from the run's
records in the order they were answered: the skills learned before it, with the successes and
failures counted up to it (the same counts ``finish`` keeps). Each replay reads a copy, so what
one replay records cannot reach another.

Beside ``share`` (over every episode), ``touched_share`` is over the episodes in which the
substitution computed at least one call: in the others the module made no call (a page the
plan finished, curation with no skill to offer) and every call replayed, so the outcome is the
logged one by construction. Each episode's result is kept under ``episodes``.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from slmgraph.eval.operator.miniwob import Episode
from slmgraph.eval.operator.replace import replaceability
from slmgraph.spec import GraphSpec
from slmgraph.telemetry import CallLog
from slmgraph.tools.browser.miniwob import MiniWoB
from slmgraph.tools.browser.skills import SkillStore

#: How the stores were chosen: a saved result with another method is replayed again.
METHOD = "store-as-of-episode/2"


def stores_before(
    records: Sequence[dict[str, Any]], final_store: Path
) -> dict[str, list[tuple[Any, ...]]]:
    """Per record id (``records`` in the order the run answered them): the store's rows as
    they were before that episode, as ``(name, task, template, steps, successes, failures,
    created, updated)``; the index of the episode that last changed a row stands for its time."""
    skills: dict[str, tuple[str, str, str]] = {}
    if final_store.exists():
        db = sqlite3.connect(final_store)
        try:
            for name, task, template, steps in db.execute(
                "SELECT name, task, template, steps FROM skills"
            ):
                skills[name] = (task, template, steps)
        finally:
            db.close()
    counts: dict[str, list[float]] = {}  # name -> [successes, failures, created, updated]
    out: dict[str, list[tuple[Any, ...]]] = {}
    for i, rec in enumerate(records):
        out[str(rec["id"])] = [
            (name, *skills[name], int(c[0]), int(c[1]), c[2], c[3])
            for name, c in counts.items()
            if name in skills
        ]
        used, learned = rec.get("skill_used"), rec.get("skill_learned")
        if used and used in counts:
            counts[used][0 if rec.get("correct") else 1] += 1
            counts[used][3] = i
        if learned:
            row = counts.setdefault(str(learned), [0, 0, i, i])
            row[0] += 1
            row[3] = i
    missing = sorted(set(counts) - set(skills))
    if missing:
        print(f"replay: {len(missing)} learned skills absent from the store: {missing}",
              file=sys.stderr)  # fmt: skip
    return out


def _write_store(path: Path, rows: list[tuple[Any, ...]]) -> None:
    SkillStore(path).close()  # the store's own schema
    db = sqlite3.connect(path)
    try:
        db.executemany("INSERT INTO skills VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        db.commit()
    finally:
        db.close()


def replay_by_episode(
    spec: GraphSpec,
    items: Sequence[Episode],
    records: Sequence[dict[str, Any]],
    log: CallLog,
    final_store: Path,
) -> dict[str, dict[str, Any]]:
    """Per module, summed over the episodes of ``items`` that ``records`` (the logged
    operator-llm run, in its order) holds: see the module docstring."""
    by_id = {str(r["id"]): r for r in records}
    stores = stores_before(records, final_store)
    todo = [it for it in items if it.id in by_id]
    totals: dict[str, dict[str, Any]] = {}
    env = MiniWoB()
    try:
        with tempfile.TemporaryDirectory(prefix="slmgraph-stores-") as folder:
            for k, item in enumerate(todo, 1):
                path = Path(folder) / f"{k}.sqlite"
                _write_store(path, stores[item.id])
                one = replaceability(spec, [item], by_id, log, path, browser=env)
                for module, r in one.items():
                    t = totals.setdefault(module, {"n": 0, "unchanged": 0, "computed_calls": 0,
                                                   "replayed_calls": 0, "touched": 0,
                                                   "touched_unchanged": 0,
                                                   "episodes": {}})  # fmt: skip
                    for key in ("n", "unchanged", "computed_calls", "replayed_calls"):
                        t[key] += r[key]
                    # No computed call: every call replayed, so the outcome is the logged one.
                    touched = r["computed_calls"] > 0
                    t["touched"] += touched
                    t["touched_unchanged"] += touched and r["unchanged"] == r["n"]
                    t["episodes"][item.id] = {"unchanged": r["unchanged"] == r["n"],
                                              "computed_calls": r["computed_calls"]}  # fmt: skip
                print(f"\rreplay: {k}/{len(todo)} episodes  "
                      + "  ".join(f"{m} {t['unchanged']}/{t['n']}" for m, t in totals.items()),
                      end="", file=sys.stderr, flush=True)  # fmt: skip
        print(file=sys.stderr)
    finally:
        env.close()
    for t in totals.values():
        t["share"] = round(t["unchanged"] / t["n"], 4) if t["n"] else None
        hit = t["touched"]
        t["touched_share"] = round(t["touched_unchanged"] / hit, 4) if hit else None
    return totals


__all__ = ["METHOD", "replay_by_episode", "stores_before"]

if __name__ == "__main__":  # a look at the stores: python benchmarks/miniwob_replay.py RUN_DIR
    run = Path(sys.argv[1])
    rows = [json.loads(x) for x in (run / "predictions.jsonl").read_text().splitlines()]
    for key, store in stores_before(rows, run / "skills.sqlite").items():
        print(key, [(r[0], r[4], r[5]) for r in store])
