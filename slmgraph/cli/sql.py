"""The query-writer's commands, added by its plug-in: ``ask`` (a question about a database),
``demo-db`` (the demo shop database) and ``eval spider`` (execution accuracy on a Spider-layout
split)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from slmgraph.cli._common import Commands
from slmgraph.eval.sql import evaluate, load_split, stratified_sample
from slmgraph.eval.sql.systems import SYSTEMS, make_system
from slmgraph.graphs.builder import build
from slmgraph.loader import load_spec
from slmgraph.runner import RunResult, run
from slmgraph.tools.sql.database import engine_of, open_database
from slmgraph.tools.sql.demo import build_demo_db, default_path
from slmgraph.tools.sql.engine import redact
from slmgraph.tools.sql.hooks import DATABASE


def register(commands: Commands) -> None:
    a = commands.add(
        "ask",
        cmd_ask,
        help="answer a question about a SQL database (query-writer)",
        description="Text-to-SQL with the query-writer graph: small models write "
        "grammar-constrained SQL, sqlglot checks it, it runs read-only, and the "
        "llm tier takes over when the small model fails or is unsure.",
    )
    a.add_argument("question")
    a.add_argument(
        "--db",
        help="a SQLite file, or a URL: duckdb:///file, postgresql://user@host/db, "
        "mysql://user@host/db (passwords from $PGPASSWORD / $MYSQL_PWD; default: the demo "
        "database, built on first use)",
    )
    a.add_argument("--spec", default="query_writer", help="graph spec (default: query_writer)")
    a.add_argument(
        "--json", action="store_true", help="print one JSON object: sql, rows, answer, error, trace"
    )
    a.add_argument(
        "--approve",
        action="store_true",
        help="show the SQL and ask before running it (human in the loop)",
    )
    a.add_argument("--no-log", action="store_true", help="do not log model calls")

    d = commands.add("demo-db", cmd_demo_db, help="build the demo database (a small shop)")
    d.add_argument("path", nargs="?", help="where to write it (default: XDG data dir)")

    sp = commands.add_benchmark(
        "spider",
        cmd_eval_spider,
        help="text-to-SQL, Spider layout: <split>.json + database/<db>/<db>.sqlite",
        description="Run a system over a Spider-layout split and score it by "
        "execution accuracy. Resumable: rerun with the same --out to continue.",
    )
    sp.add_argument("--data", required=True, help="folder in the layout of Spider")
    sp.add_argument("--split", default="dev", help="which <split>.json (default: dev)")
    sp.add_argument(
        "--system",
        required=True,
        help=f"one of {', '.join(SYSTEMS)} (langchain-sql-agent-0.5b, the peer, needs the "
        "'peers' extra), or one a plug-in registered",
    )
    sp.add_argument("--limit", type=int, help="a sample of N questions stratified by hardness")
    sp.add_argument("--seed", type=int, default=0, help="sample seed (default: 0)")
    sp.add_argument("--out", required=True, help="output folder (predictions.jsonl, summary)")
    sp.add_argument("--threads", type=int, help="CPU threads per model (default: all cores)")
    sp.add_argument("--timeout", type=float, default=30.0, help="seconds per query execution")


def cmd_eval_spider(args: argparse.Namespace) -> int:
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    items = stratified_sample(load_split(args.data, args.split), args.limit, args.seed)
    system = make_system(args.system, args.threads)
    summary = evaluate(system, items, args.out, timeout_s=args.timeout)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_demo_db(args: argparse.Namespace) -> int:
    print(build_demo_db(args.path))
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    logging.getLogger("sqlglot").setLevel(logging.ERROR)  # its parse fallbacks are not news here
    db = args.db
    resources: dict[str, Any] = {}
    if db is None:
        db = str(default_path() if default_path().exists() else build_demo_db())
    elif engine_of(db) == "sqlite" and not Path(db).is_file():
        print(f"error: no SQLite database at {db}", file=sys.stderr)
        return 1
    elif urlsplit(db).password:  # the state (and so Studio, traces) sees the URL without it
        resources[DATABASE] = open_database(db)
        db = redact(db)
    spec = load_spec(args.spec)
    if args.approve:
        for node in spec.nodes.values():
            if node.tool == "sql.execute":
                node.interrupt_before = True
    built = build(spec, call_log=False if args.no_log else None)
    inputs = {"question": args.question, "db": db}
    thread = "ask"
    try:
        result: RunResult | None = run(built, inputs, thread_id=thread, resources=resources)
        while result is not None and result.status == "interrupted":
            result = _approve(built, result, thread, resources)
        if result is None:
            return 1
    finally:
        for held in resources.values():
            held.close()
    out = ask_result(result)
    if args.json:
        print(json.dumps(out, ensure_ascii=False, default=str, indent=2))
    else:
        print(f"SQL:    {out['sql']}")
        if out["sql_native"] and out["sql_native"] != out["sql"]:
            print(f"Ran:    {out['sql_native']}")
        print(f"Answer: {out['answer']}")
        if out["error"]:
            print(f"Error:  {out['error']}")
        steps = [f"{t['node']}[{t['tier']}]" if t["model"] else t["node"] for t in out["trace"]]
        print("\n" + " -> ".join(steps))
    return 0 if out["error"] is None else 1


def _approve(
    built: Any, result: RunResult, thread: str, resources: dict[str, Any]
) -> RunResult | None:
    """Show the SQL a run paused before; run it, refuse it (None) or run an edited one."""
    sql = result.state.get("sql", "")
    print(f"SQL to run:\n  {sql}", file=sys.stderr)
    try:
        reply = input("Run it? [y]es / [n]o / or type a corrected SQL: ").strip()
    except EOFError:  # no terminal to answer from: nothing runs unapproved
        reply = "n"
    if reply.lower() in ("n", "no"):
        print("Not run.", file=sys.stderr)
        return None
    edits = {} if reply.lower() in ("", "y", "yes") else {"sql": reply}
    return run(built, edits, thread_id=thread, resume=True, resources=resources)


def ask_result(result: RunResult) -> dict[str, Any]:
    """The query-writer's result as the `ask --json` object."""
    state = result.state
    error = result.error or state.get("final_error")
    return {
        "question": state.get("question"),
        "sql": state.get("sql"),
        "sql_native": state.get("sql_native"),
        "columns": state.get("columns") or [],
        "rows": state.get("rows") or [],
        "truncated": bool(state.get("truncated")),
        "answer": state.get("answer"),
        "error": error,
        "escalated": bool(state.get("escalated")),
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
                    "status",
                )
            }
            for t in result.trace
        ],
        "totals": result.totals,
    }
