"""The query-writer's commands, added by its plug-in: ``ask`` (a question about a database),
``demo-db`` (the demo shop database) and ``eval spider`` (execution accuracy on a Spider-layout
split)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any
from urllib.parse import urlsplit

from slmgraph.cli._common import (
    Clipper,
    Commands,
    UsageError,
    add_thread_args,
    open_checkpoints,
    read_text,
    resumed_note,
    stdin_is_empty,
)
from slmgraph.cli.sql_db import open_sqlite
from slmgraph.eval.sql import evaluate, load_split, stratified_sample
from slmgraph.eval.sql.systems import SYSTEMS, make_system
from slmgraph.graphs.builder import build
from slmgraph.loader import load_spec
from slmgraph.runner import RunResult, run
from slmgraph.tools.sql.database import engine_of, open_database
from slmgraph.tools.sql.demo import build_demo_db, default_path
from slmgraph.tools.sql.engine import redact
from slmgraph.tools.sql.hooks import DATABASE

#: What ``ask`` prints at most unless told otherwise: rows, and characters of one value.
DEFAULT_MAX_ROWS = 50
DEFAULT_MAX_CELL = 1000


def register(commands: Commands) -> None:
    a = commands.add(
        "ask",
        cmd_ask,
        help="answer a question about a SQL database (query-writer)",
        description="Text-to-SQL with the query-writer graph: small models write "
        "grammar-constrained SQL, sqlglot checks it, it runs read-only, and the "
        "llm tier takes over when the small model fails or is unsure.",
    )
    a.add_argument(
        "question", help="the question; - reads it from stdin, @FILE from a file (for long ones)"
    )
    a.add_argument(
        "--db",
        help="a SQLite file, or a URL: sqlite:///file, duckdb:///file, postgresql://user@host/db, "
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
    a.add_argument(
        "--max-rows",
        type=_positive,
        metavar="N",
        help="fetch and print at most N rows (default: the spec's execute max_rows, "
        f"{DEFAULT_MAX_ROWS} in query_writer)",
    )
    a.add_argument(
        "--max-cell",
        type=_positive_or_zero,
        default=DEFAULT_MAX_CELL,
        metavar="CHARS",
        help=f"cut a printed value (cell, SQL, answer) at CHARS characters (default: "
        f"{DEFAULT_MAX_CELL}; 0: print values whole, up to the execution limits)",
    )

    add_thread_args(a)

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
    if args.approve and args.question == "-":
        raise UsageError(
            "--approve reads its answer from stdin, so the question cannot come from it too: "
            "pass the question as @FILE"
        )
    question = read_text(args.question, "the question").strip()
    if not question:
        raise UsageError("the question is empty")
    if args.approve and stdin_is_empty():
        raise UsageError(
            "--approve asks on stdin before it runs the SQL, but stdin is closed or empty: run "
            "it in a terminal, or pipe the answer (echo y | slmgraph ask --approve ...)"
        )
    db = args.db
    resources: dict[str, Any] = {}
    if db is None:
        db = str(default_path() if default_path().exists() else build_demo_db())
    elif engine_of(db) == "sqlite":
        resources[DATABASE] = open_sqlite(db)
    elif urlsplit(db).password:  # the state (and so Studio, traces) sees the URL without it
        resources[DATABASE] = open_database(db)
        db = redact(db)
    spec = load_spec(args.spec)
    max_rows = args.max_rows
    for node in spec.nodes.values():
        if node.tool == "sql.execute":
            if args.max_rows is not None:
                node.params["max_rows"] = args.max_rows
            max_rows = max_rows or int(node.params.get("max_rows", DEFAULT_MAX_ROWS))
            node.interrupt_before = node.interrupt_before or args.approve
    built = build(spec, call_log=False if args.no_log else None)
    inputs = {"question": question, "db": db}
    thread = args.thread or "ask"
    checkpoints = None
    try:
        checkpoints = open_checkpoints(args, built.call_log)
        result: RunResult | None = run(
            built, inputs, thread_id=thread, resources=resources, checkpointer=checkpoints
        )
        if args.thread and result is not None:
            resumed_note(result, thread)
        while result is not None and result.status == "interrupted":
            result = _approve(built, result, thread, resources, checkpoints)
        if result is None:
            return 1
    finally:
        for held in resources.values():
            held.close()
        if checkpoints is not None:
            checkpoints.close()
    out = ask_result(result)
    if not args.json:  # the text shows no rows: only what it prints is bounded and counted
        out = {**out, "rows": [], "columns": []}
    shown = bound(out, max_rows or DEFAULT_MAX_ROWS, args.max_cell)
    if args.json:
        print(json.dumps(shown, ensure_ascii=False, default=str, indent=2))
    else:
        _print_text(shown)
    return 0 if out["error"] is None else 1


def _print_text(out: dict[str, Any]) -> None:
    print(f"SQL:    {out['sql']}")
    if out["sql_native"] and out["sql_native"] != out["sql"]:
        print(f"Ran:    {out['sql_native']}")
    print(f"Answer: {out['answer']}")
    if out["error"]:
        print(f"Error:  {out['error']}")
    cut = out["output_truncated"]
    if cut:
        print(f"Cut:    {cut['note']}")
    steps = [f"{t['node']}[{t['tier']}]" if t["model"] else t["node"] for t in out["trace"]]
    print("\n" + " -> ".join(steps))


def _approve(
    built: Any, result: RunResult, thread: str, resources: dict[str, Any], checkpoints: Any
) -> RunResult | None:
    """Show the SQL a run paused before; run it, refuse it (None) or run an edited one. All of
    it goes to stderr, so that ``--json`` output stays one JSON object. An answer piped in is
    read first: stdin that ends without one is one error line, and nothing runs unapproved."""
    interactive = sys.stdin is not None and sys.stdin.isatty()
    line = "" if interactive or sys.stdin is None else sys.stdin.readline()
    if not interactive and not line:
        raise UsageError("no answer on stdin for --approve (it ended): the SQL was not run")
    print(f"SQL to run:\n  {result.state.get('sql', '')}", file=sys.stderr)
    if interactive:
        print("Run it? [y]es / [n]o / or type a corrected SQL: ", end="", file=sys.stderr)
        sys.stderr.flush()
        line = sys.stdin.readline()
        if not line:  # Ctrl-D
            raise UsageError("no answer for --approve: the SQL was not run")
    reply = line.strip()
    if not interactive:
        print(f"Answer from stdin: {reply or 'y'}", file=sys.stderr)
    if reply.lower() in ("n", "no"):
        print("Not run.", file=sys.stderr)
        return None
    edits = {} if reply.lower() in ("", "y", "yes") else {"sql": reply}
    return run(
        built, edits, thread_id=thread, resume=True, resources=resources, checkpointer=checkpoints
    )


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


def bound(out: dict[str, Any], max_rows: int, max_cell: int) -> dict[str, Any]:
    """``out`` (an :func:`ask_result`) as ``ask`` prints it: at most ``max_rows`` rows, every
    string in it (cells, SQL, answer, error) cut at ``max_cell`` characters with a marker
    (0: not cut), and ``output_truncated`` saying what was cut and how to see more (None when
    nothing was). The execution limits bound what reaches here; this bounds what is printed."""
    clip = Clipper(max_cell)
    rows = out["rows"]
    shown = {**out, "rows": [[clip(v) for v in r] for r in rows[:max_rows]]}
    for key in ("question", "sql", "sql_native", "answer", "error"):
        shown[key] = clip(out[key])
    shown["columns"] = [clip(c) for c in out["columns"]]
    rows_cut = max(0, len(rows) - max_rows)
    if not (rows_cut or clip.cut):
        shown["output_truncated"] = None
        return shown
    said = [f"{clip.cut} value(s) cut at {max_cell} characters"] if clip.cut else []
    said += [f"{rows_cut} of {len(rows)} rows not shown"] if rows_cut else []
    shown["output_truncated"] = {
        "values_cut": clip.cut,
        "max_cell": max_cell,
        "rows_not_shown": rows_cut,
        "max_rows": max_rows,
        "note": "; ".join(said) + " (raise the bounds with --max-cell, --max-rows)",
    }
    return shown


def _positive(text: str) -> int:
    n = _positive_or_zero(text)
    if n == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def _positive_or_zero(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return n
