"""The query-writer on every engine, on the same Spider dev questions: the dev databases loaded
from SQLite into DuckDB, PostgreSQL 16 (pgserver) and MariaDB (Debian's mariadb-server) by
the deterministic loader, the same system answering on each, each answer judged against the
gold query's result on SQLite (the same data), EX per engine beside SQLite's with a paired test.

    .venv/bin/python benchmarks/engines.py [--limit 200] [--engines duckdb,postgres,mariadb]

Writes benchmarks/results/engines-latest.json and engines-<date>.md; answers are kept under
benchmarks/runs/engines/<engine>-<system>-<fingerprint>/ (resumable); SQLite's under
benchmarks/runs/spider/, shared with the Spider report.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from contextlib import ExitStack
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from overhead import machine

from slmgraph.eval.sample import stratified_sample
from slmgraph.eval.sql import evaluate, load_split
from slmgraph.eval.sql.systems import fingerprint, make_system
from slmgraph.eval.stats import paired
from slmgraph.testing.servers import mariadb_server, postgres_server
from slmgraph.tools.sql.load import load_sqlite

HERE = Path(__file__).parent
DATA = HERE.parent.parent / "shared" / "data" / "spider"


def _urls(engine: str, dbs: dict[str, Path], stack: ExitStack, tmp: Path) -> dict[str, str]:
    """Each database of the sample on ``engine``: its URL (loaded once per run)."""
    out, left_out = {}, {}
    if engine == "duckdb":
        for name, path in dbs.items():
            out[name] = f"duckdb:///{tmp / f'{name}.duckdb'}"
            left_out[name] = load_sqlite(path, out[name]).left_out
    elif engine == "postgres":
        import psycopg

        admin = stack.enter_context(postgres_server(tmp / "pg"))
        for name, path in dbs.items():
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            out[name] = admin.replace("/postgres?", f"/{name}?")
            left_out[name] = load_sqlite(path, out[name]).left_out
    else:
        import pymysql

        sock = stack.enter_context(mariadb_server(tmp / "maria"))
        for name, path in dbs.items():
            conn = pymysql.connect(unix_socket=str(sock), user="root", autocommit=True)
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE `{name}`")
            conn.close()
            out[name] = f"mysql://root@localhost/{name}?unix_socket={sock}"
            left_out[name] = load_sqlite(path, out[name]).left_out
    n = sum(len(v) for v in left_out.values())
    print(f"{engine}: {len(dbs)} databases loaded; constraints left out: {n}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--system", default="slmgraph-slm")
    ap.add_argument("--engines", default="duckdb,postgres,mariadb")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    items = stratified_sample(load_split(DATA, "dev"), args.limit, args.seed)
    dbs = {it.db_id: Path(it.db_path) for it in items}
    system = make_system(args.system, args.threads)
    runs = HERE / "runs" / "engines"
    results: dict[str, Any] = {}
    records: dict[str, list[dict[str, Any]]] = {}
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        for engine in ["sqlite", *args.engines.split(",")]:
            if engine == "sqlite":
                engine_items = items
            else:
                urls = _urls(engine, dbs, stack, Path(tmp))
                engine_items = [
                    replace(it, db_path=urls[it.db_id], gold_db=it.db_path) for it in items
                ]
            # SQLite's answers are the Spider report's own (benchmarks/spider.py keys its runs
            # the same way), so neither benchmark answers them twice
            out = (
                HERE / "runs" / "spider" / f"{system.name}-{fingerprint(system)}"
                if engine == "sqlite"
                else runs / f"{engine}-{system.name}-{fingerprint(system)}"
            )
            results[engine] = evaluate(system, engine_items, out)
            lines = (out / "predictions.jsonl").read_text().splitlines()
            wanted = {it.id for it in items}
            records[engine] = [r for r in map(json.loads, lines) if r["id"] in wanted]
    report: dict[str, Any] = {
        "machine": machine(),
        "date": date.today().isoformat(),
        "system": args.system,
        "n": len(items),
        "sample": f"{len(items)} Spider dev questions stratified by hardness, seed {args.seed}",
        "judged": "each engine's answer against the gold query's result on SQLite",
        "ex": {e: r["ex"] for e, r in results.items()},
        "vs_sqlite": {e: paired(records[e], records["sqlite"]) for e in records if e != "sqlite"},
        "summaries": results,
    }
    res = HERE / "results"
    (res / "engines-latest.json").write_text(json.dumps(report, indent=2) + "\n")
    rows = [
        "| engine | EX | vs SQLite (pts, 95% CI) | only right here | only on SQLite | McNemar p |",
        "|---|---|---|---|---|---|",
    ]
    for engine, ex in report["ex"].items():
        d = report["vs_sqlite"].get(engine)
        cells = "| – | – | – | – |" if d is None else (
            f"| {d['diff'] * 100:+.1f} ({d['ci95'][0] * 100:+.1f} to {d['ci95'][1] * 100:+.1f}) "
            f"| {d['only_a']} | {d['only_b']} | {d['p_mcnemar']:.3g} |"
        )  # fmt: skip
        rows.append(f"| {engine} | {ex:.1%} " + cells)
    md = [f"# The query-writer on every engine ({report['date']})", "",
          f"{report['sample']}; system `{args.system}`; {report['judged']}. Machine: "
          f"{report['machine']}.", "", *rows, ""]  # fmt: skip
    (res / f"engines-{report['date']}.md").write_text("\n".join(md))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
