"""Choose the query-writer's settings on Spider *train* questions (never on dev).

    .venv/bin/python benchmarks/tune_query_writer.py --variants zeroshot,default,linking --limit 40

Each variant is the ``slmgraph-slm`` system (grammar on, no escalation) with some node params
changed; ``zeroshot`` is the one-prompt 0.5B baseline on the same questions. The train databases
are disjoint from the dev ones, and the few-shot bank never shows an example from the question's
own database. Runs are resumable (benchmarks/runs/tune/<variant>/); the table at the end is what
README's tuning notes quote.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
from pathlib import Path
from typing import Any

from slmgraph.eval.sql import evaluate, load_split
from slmgraph.eval.sql.report import markdown
from slmgraph.eval.sql.systems import QueryWriter, ZeroShot, query_writer_spec
from slmgraph.loader import load_spec

HERE = Path(__file__).parent
DATA = HERE.parent.parent / "shared" / "data" / "spider"
TRAIN = str(DATA / "train.json")

VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    # The query-writer as shipped (a schema of <= 60 columns whole, value hints after the
    # schema, misplaced-column repair in check, no few-shot, no voting).
    "default": {},
    # Table extraction forced on every schema (the shipped spec skips it on small schemas).
    "linking": {"extract_tables": {"skip_if_columns_at_most": 0}, "rerank": {"max_columns": 40}},
    "default-norepair": {"check": {"repair": False}},
    "default-fewshot": {"write_sql": {"examples_file": TRAIN, "examples": 3}},
    "default-vote5": {"write_sql": {"samples": 5, "vote": True}},
    "default-vote8": {"write_sql": {"samples": 8, "vote": True}},
    # Every column written table.column with a table that holds it (no aliases); a table a
    # column names but FROM lacks is joined by the check node's repair along foreign keys.
    "qualified": {"write_sql": {"grammar": "qualified"}, "fix_sql": {"grammar": "qualified"}},
}


def variant_spec(name: str, threads: int) -> Any:
    spec = query_writer_spec("slm", threads)
    data = spec.model_dump(by_alias=True, exclude_none=True, exclude={"source"})
    for node, params in VARIANTS[name].items():
        data["nodes"][node].setdefault("params", {}).update(params)
    return load_spec(data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variants", default="zeroshot,default,default-fewshot")
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--report-only",
        action="store_true",
        help="answer nothing: report the questions already answered",
    )
    args = ap.parse_args()
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    if not Path(TRAIN).exists():
        sys.exit(f"Spider train data not found at {TRAIN} (see ../shared/data/README.md)")
    items = load_split(DATA, "train")
    items = random.Random(args.seed).sample(items, args.limit)
    summaries = []
    for name in args.variants.split(","):
        system: Any
        if name == "zeroshot":
            system = ZeroShot("zeroshot-0.5b", "slm", args.threads)
        else:
            system = QueryWriter(name, variant_spec(name, args.threads))
        out = HERE / "runs" / "tune" / f"n{args.limit}-seed{args.seed}" / name
        summaries.append(evaluate(system, items, out, answer=not args.report_only))
    table = markdown(summaries)
    print(table)
    res = HERE / "results"
    (res / "tune-query-writer-latest.json").write_text(
        json.dumps(
            {
                "data": "Spider train (random sample; dev never used for tuning)",
                "sample": f"{args.limit} questions, seed {args.seed}",
                "variants": {
                    k: VARIANTS.get(k, "zero-shot 0.5B") for k in args.variants.split(",")
                },
                "systems": summaries,
            },
            indent=2,
            default=str,
        )
        + "\n"
    )
    (res / "tune-query-writer-latest.md").write_text(
        f"# Query-writer settings chosen on Spider train ({args.limit} random questions, "
        f"seed {args.seed})\n\nCommand: `python benchmarks/tune_query_writer.py --variants "
        f"{args.variants} --limit {args.limit}`\n\n{table}"
        + (
            "\nA variant with n below the sample size was stopped early: clearly worse and "
            "slower on the questions it answered.\n"
            if any(s["n"] < args.limit for s in summaries)
            else ""
        )
    )


if __name__ == "__main__":
    main()
