"""Durable runs: ``slmgraph run --thread T`` killed with ``kill -9`` at chosen model calls and
run again, on SQLite (call log and checkpoints in files, the default) and on a real PostgreSQL
server (``pgserver``: call log and checkpoints in one database).

    .venv/bin/python benchmarks/reliability_resume.py [--json OUT]

Each trial (:func:`slmgraph.testing.resume.kill_and_resume`): an uninterrupted run, then per kill
point a run killed while the model server holds that call, the same command again (it picks the
run up), and once more (the thread has finished: its stored result, no model call). Calls 2 and
5 fall inside a node whose first call is already logged (it must be replayed, not made again);
call 3 falls between nodes. ``tests/test_durable_runs.py`` asserts the same figures.

``measure()`` and ``section()`` are what the reliability report calls.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from slmgraph.testing.resume import CALLS, kill_and_resume

KILLS = (1, 2, 3, 4, 5)


def measure() -> dict[str, Any]:
    """Kill-and-resume trials on SQLite and, where pgserver is installed, PostgreSQL."""
    out: dict[str, Any] = {"kills": list(KILLS), "calls_per_run": CALLS, "engines": {}}
    with tempfile.TemporaryDirectory(prefix="resume-") as tmp:
        work = Path(tmp)
        out["engines"]["sqlite"] = kill_and_resume(
            work, str(work / "calls.sqlite"), str(work / "checkpoints.sqlite"), KILLS
        )
        try:
            from slmgraph.testing.servers import postgres_server

            with postgres_server(work / "pg") as url:
                out["engines"]["postgresql"] = kill_and_resume(work, url, url, KILLS)
        except ImportError as exc:
            out["engines"]["postgresql"] = {"skipped": f"{exc}"}
    return out


def section(figures: dict[str, Any]) -> str:
    """Markdown: one row per engine and kill point."""
    lines = [
        "### Durable runs: kill -9 and resume",
        "",
        f"`slmgraph run --thread T` on a {figures['calls_per_run']}-call graph (real "
        "`openai_compat` backend against a model server on loopback), killed with `kill -9` "
        "while the server held the given call, then the same command again, then once more. "
        "Lost and duplicated rows are counted against the uninterrupted run's call log.",
        "",
        "| engine | killed at call | inside a node | rows at kill | rows after | lost "
        "| duplicated | same answer | replayed | resume s | rerun: calls, rows |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |",
    ]
    totals = {"lost": 0, "duplicated": 0, "different": 0, "trials": 0}
    for engine, fig in figures["engines"].items():
        if "skipped" in fig:
            lines.append(f"| {engine} | skipped: {fig['skipped']} |" + " |" * 9)
            continue
        for t in fig["trials"]:
            totals["trials"] += 1
            totals["lost"] += t["lost"]
            totals["duplicated"] += t["duplicated"]
            totals["different"] += 0 if t["same_answer"] else 1
            lines.append(
                f"| {engine} | {t['kill_at_call']} | {'yes' if t['inside_a_node'] else 'no'} "
                f"| {t['rows_at_kill']} | {t['rows']} | {t['lost']} | {t['duplicated']} "
                f"| {'yes' if t['same_answer'] else '**no**'} | {t['replayed_calls']} "
                f"| {t['resume_s']:.2f} | {t['again_model_calls']}, {t['again_new_rows']} |"
            )
    lines[2:2] = [
        f"- {totals['trials']} trials: rows lost **{totals['lost']}**, duplicated "
        f"**{totals['duplicated']}**, answers different from the uninterrupted run "
        f"**{totals['different']}**",
        "",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    figures = measure()
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    print(section(figures))


if __name__ == "__main__":
    main()
