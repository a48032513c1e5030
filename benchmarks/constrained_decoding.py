"""Constrained decoding speed: decode tokens/s under our JSON-schema grammar versus
unconstrained, same prompts, the real 0.5B model through the llamacpp backend.

    .venv/bin/python benchmarks/constrained_decoding.py [--model NAME] [--repeats 3]

Decode speed excludes prompt processing (time to the first token). Runs alternate between the
two modes; the report gives medians over prompts x repeats and the ratio. Writes
benchmarks/results/constrained-decoding-latest.json.

Two grammars: the JSON-schema one (a ticket object) and the query-writer's structured SQL
grammar over every table and column of a real database (Chinook from ../shared/data/samples, 11
tables; the demo shop database where that is absent), with the database's CREATE TABLEs in the
prompt, as the query writer does.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from datetime import date
from pathlib import Path

from overhead import machine

from slmgraph.agents.sql.common import grammar_for
from slmgraph.constraints import Constraint
from slmgraph.models.base import create_backend
from slmgraph.tools.sql.database import open_database

SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 80},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 24}, "maxItems": 5},
        "priority": {"enum": ["low", "medium", "high"]},
        "summary": {"type": "string", "maxLength": 200},
    },
    "required": ["title", "tags", "priority", "summary"],
}
PROMPTS = [
    "Describe this bug report as a ticket: the login page times out after 30 seconds.",
    "Make a ticket for: customers cannot download invoices as PDF since Monday.",
    "Turn into a ticket: add dark mode to the settings screen.",
    "Ticket for: the nightly export job fails with 'disk full' on the reporting server.",
    "Create a ticket: translate the onboarding emails into German and French.",
    "Ticket: search results show deleted products for some users.",
]

SQL_QUESTIONS = {
    "chinook": [
        "How many tracks are longer than five minutes?",
        "List the names of the artists with more than three albums.",
        "What is the total of the invoices of each country, largest first?",
        "Which customers live in Brazil? Give their first and last names.",
        "What is the average unit price of the tracks of each genre?",
        "Which employee supports the most customers?",
    ],
    "shop": [
        "How many customers live in Berlin?",
        "List the products that cost more than 50, most expensive first.",
        "What is the total amount of the shipped orders?",
        "Which category has the most products?",
        "Name the customers who placed an order in 2024.",
        "What is the average price of the products of each category?",
    ],
}


def sql_database() -> tuple[str, Path]:
    chinook = Path(__file__).resolve().parents[2] / "shared" / "data" / "samples" / "chinook.sqlite"
    if chinook.exists():
        return "chinook", chinook
    from slmgraph.tools.sql.demo import build_demo_db

    path = Path(__file__).parent / "runs" / "shop.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        build_demo_db(path)
    return "shop", path


def measure(backend, cases, modes, repeats, max_tokens):  # type: ignore[no-untyped-def]
    """Decode tokens/s per mode (alternating), and how many constrained outputs validate."""
    speeds: dict[str, list[float]] = {m: [] for m in modes}
    tokens: dict[str, list[int]] = {m: [] for m in modes}
    outputs: dict[str, list[str]] = {m: [] for m in modes}
    for _ in range(repeats):
        for msgs in cases:
            for mode, constraint in modes.items():
                c = backend.complete(msgs, constraint, max_tokens=max_tokens)
                first = c.raw.get("first_token_s") or 0.0
                n = c.usage.output_tokens
                if n > 1 and c.latency_s > first:
                    speeds[mode].append((n - 1) / (c.latency_s - first))
                    tokens[mode].append(n)
                outputs[mode].append(c.text)
    return speeds, tokens, outputs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct-q4_k_m")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "constrained-decoding-latest.json")
    )
    args = ap.parse_args()
    backend = create_backend("llamacpp", args.model, {"n_ctx": 2048, "n_threads": args.threads})
    json_cases = [
        [
            {"role": "system", "content": "Answer with a JSON ticket object."},
            {"role": "user", "content": prompt},
        ]
        for prompt in PROMPTS
    ]
    json_modes = {"unconstrained": None, "json_schema": Constraint.json(SCHEMA)}
    speeds, tokens, outputs = measure(backend, json_cases, json_modes, args.repeats, 160)
    parsed = 0
    for text in outputs["json_schema"]:
        json.loads(text)
        parsed += 1
    med = {m: statistics.median(v) for m, v in speeds.items()}

    import sqlglot

    db_name, db_path = sql_database()
    schema = open_database(db_path).schema()
    columns = {t: [c.name for c in table.columns] for t, table in schema.tables.items()}
    sql_cases = [
        [
            {
                "role": "system",
                "content": "You write SQLite queries. Answer with one SELECT query only.",
            },
            {"role": "user", "content": f"{schema.ddl(samples=False)}\n\nQuestion: {q}"},
        ]
        for q in SQL_QUESTIONS[db_name]
    ]
    sql_modes = {
        "unconstrained": None,
        "sql_structured": grammar_for(columns, "sqlite", "structured"),
    }
    sql_speeds, sql_tokens, sql_outputs = measure(backend, sql_cases, sql_modes, args.repeats, 120)
    sql_parsed = 0
    for text in sql_outputs["sql_structured"]:
        sqlglot.parse_one(text, read="sqlite")
        sql_parsed += 1
    sql_med = {m: statistics.median(v) for m, v in sql_speeds.items()}
    result = {
        "benchmark": "constrained decoding speed",
        "machine": machine(),
        "date": date.today().isoformat(),
        "model": args.model,
        "threads": args.threads,
        "command": f"python benchmarks/constrained_decoding.py --repeats {args.repeats} "
        f"--threads {args.threads}",
        "samples_per_mode": len(speeds["unconstrained"]),
        "decode_tokens_per_s_median": {m: round(v, 2) for m, v in med.items()},
        "output_tokens_median": {m: statistics.median(v) for m, v in tokens.items()},
        "json_ratio_to_unconstrained": round(med["json_schema"] / med["unconstrained"], 3),
        "json_outputs_parsed": f"{parsed}/{len(PROMPTS) * args.repeats}",
        "sql_database": f"{db_name} ({len(columns)} tables, "
        f"{sum(len(c) for c in columns.values())} columns)",
        "sql_decode_tokens_per_s_median": {m: round(v, 2) for m, v in sql_med.items()},
        "sql_output_tokens_median": {m: statistics.median(v) for m, v in sql_tokens.items()},
        "sql_ratio_to_unconstrained": round(
            sql_med["sql_structured"] / sql_med["unconstrained"], 3
        ),
        "sql_outputs_parsed": f"{sql_parsed}/{len(sql_cases) * args.repeats}",
        "target": "constrained tokens/s >= 0.9x unconstrained",
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
