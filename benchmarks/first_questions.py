"""The first questions on the sample databases (tests/fixtures/first_questions.yaml, written
before any tuning), answered by the query-writer's systems and scored as a user reads them
(an answer with extra columns counts): the set issue 17 measures value hints on.

    .venv/bin/python benchmarks/first_questions.py [--systems slmgraph-slm,zeroshot-0.5b]

Writes benchmarks/results/first-questions-latest.json (per system: the share right and each
question's SQL and outcome); answers are kept under benchmarks/runs/first/<system>-<fingerprint>/.
"""

from __future__ import annotations

import argparse
import json
import logging
from datetime import date
from pathlib import Path
from typing import Any

from overhead import machine

from slmgraph.eval.sql.questions import load_questions
from slmgraph.eval.sql.score import evaluate
from slmgraph.eval.sql.systems import fingerprint, make_system

HERE = Path(__file__).parent
FIXTURE = HERE.parent / "tests" / "fixtures" / "first_questions.yaml"
SAMPLES = HERE.parent.parent / "shared" / "data" / "samples"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--systems", default="slmgraph-slm,zeroshot-0.5b")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(HERE / "results" / "first-questions-latest.json"))
    args = ap.parse_args()
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    items = load_questions(FIXTURE, SAMPLES)
    report: dict[str, Any] = {
        "machine": machine(),
        "date": date.today().isoformat(),
        "n": len(items),
        "metric": "right if the result holds the gold result's columns",
        "systems": {},
    }
    for name in args.systems.split(","):
        system = make_system(name, args.threads)
        runs = HERE / "runs" / "first" / f"{name}-{fingerprint(system)}"
        summary = evaluate(system, items, runs, extra_columns=True)
        lines = (runs / "predictions.jsonl").read_text().splitlines()
        records = [json.loads(line) for line in lines]
        report["systems"][name] = {
            "right": summary["ex"],
            "p50_s": summary["p50_s"],
            "questions": [
                {k: r[k] for k in ("id", "question", "sql", "correct", "error")}
                for r in sorted(records, key=lambda r: r["id"])
            ],
        }
        print(f"{name}: {summary['ex']:.1%} of {len(items)} right")
    Path(args.out).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
