"""SQL execution under attack: the hostile, legitimate and resource-attack corpora of
``tests/fixtures/reliability/sql`` run against the Chinook sample database.

    .venv/bin/python benchmarks/reliability_sql.py [--timeout-s 10]

Figures: hostile statements that reached the database (0 is the bar) and whether the database
and the file system stayed as they were; legitimate statements refused by the guard, the
checker or the database (0 is the bar); and per resource attack, in a fresh subprocess each
(under an address-space cap, so a failure cannot take the machine down): the outcome, the
wall seconds of the check and execute stages, the peak RSS over the process's own baseline,
and the peak bytes of SQLite temp files. :func:`measure` returns them, :func:`section` writes
them as markdown (``benchmarks/reliability.py`` assembles the sections).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "fixtures" / "reliability" / "sql"
CHINOOK = ROOT.parent / "shared" / "data" / "samples" / "chinook.sqlite"
#: Address space of an attack's subprocess: far above the limits, far below the machine.
AS_CAP = 4 * 2**30
#: Hostile categories also sent straight at the read-only connection (the guard bypassed);
#: "nesting" is the guard's alone (SQLite would run a deep but harmless expression).
BYPASS = ("dml", "ddl", "stacked", "cte_dml", "pragma", "attach", "vacuum", "transaction")
#: Files a hostile statement might try to create.
EVIL_PATHS = ("/tmp/slmgraph-evil.db", "/tmp/slmgraph-copy.db", "/tmp/slmgraph-evil.txt")


def load_corpus(name: str) -> list[tuple[str, str]]:
    """``(category, statement)`` records of ``<name>.sql``: each starts at a ``-- @@ category``
    line and runs to the next one (statements keep their own comments and new lines)."""
    records: list[tuple[str, str]] = []
    category: str | None = None
    lines: list[str] = []
    for line in (CORPUS / f"{name}.sql").read_text(encoding="utf-8").split("\n"):
        if line.startswith("-- @@ "):
            if category is not None:
                records.append((category, "\n".join(lines)))
            category, lines = line[6:].strip(), []
        elif category is not None:
            lines.append(line)
    if category is not None:
        records.append((category, "\n".join(lines).removesuffix("\n")))
    return records


def _tool_node(tool: str, **params: Any) -> Any:
    """The query-writer graph's node of ``tool`` (``sql.execute``, ``sql.answer``)."""
    from slmgraph.loader import load_spec
    from slmgraph.plugins import lookup
    from slmgraph.registry import NodeEnv

    impl = lookup("tool", tool)
    name = tool.split(".")[-1]
    return impl.factory(NodeEnv(name, impl.params(**params), load_spec("query_writer")))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hostile_figures(db_file: Path) -> dict[str, Any]:
    """Each hostile statement through the guard and the graph's execute node on a copy of
    ``db_file``; then, bypassing the guard, straight at the read-only connection."""
    from slmgraph.context import RunContext
    from slmgraph.tools.sql.base import DatabaseError
    from slmgraph.tools.sql.database import SQLiteDatabase
    from slmgraph.tools.sql.guard import GuardError, guard

    records = load_corpus("hostile")
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "chinook.sqlite"
        shutil.copyfile(db_file, copy)
        before, listing = _digest(copy), sorted(os.listdir(tmp))
        node = _tool_node("sql.execute", timeout_s=5)
        passed: list[str] = []
        errors = 0
        bypass_ran: list[list[str]] = []
        for category, sql in records:
            try:
                guard(sql)
                passed.append(sql[:120])
            except GuardError:
                pass
            update = node({"sql": sql, "db": str(copy)}, RunContext())
            errors += update["outcome"] == "error"
            if category in BYPASS:
                try:
                    SQLiteDatabase(copy).execute(sql, timeout_s=2)
                    bypass_ran.append([category, sql[:120]])
                except DatabaseError:
                    pass
        changed = _digest(copy) != before or sorted(os.listdir(tmp)) != listing
    return {
        "statements": len(records),
        "executed": len(passed),
        "passed_guard": passed,
        "node_errors": errors,
        "database_changed": changed,
        "files_created": [p for p in EVIL_PATHS if Path(p).exists()],
        "bypassed": sum(c in BYPASS for c, _ in records),
        "bypass_ran": bypass_ran,
    }


def legit_figures(db_file: Path) -> dict[str, Any]:
    """Each legitimate statement through the guard, the checker and the database."""
    from slmgraph.tools.sql.base import DatabaseError
    from slmgraph.tools.sql.check import check_sql
    from slmgraph.tools.sql.database import open_database

    db = open_database(db_file)
    schema = db.schema()
    refused: list[dict[str, str]] = []
    slowest = 0.0
    records = load_corpus("legit")
    for _, sql in records:
        start = time.perf_counter()
        result = check_sql(sql, schema)
        slowest = max(slowest, time.perf_counter() - start)
        if not result.ok:
            refused.append(
                {"sql": sql[:120], "by": f"check ({result.kind})", "why": str(result.error)}
            )
            continue
        try:
            db.execute(sql)
        except DatabaseError as exc:
            refused.append({"sql": sql[:120], "by": "database", "why": str(exc)})
    return {"statements": len(records), "refused": refused, "slowest_check_s": slowest}


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (AS_CAP, AS_CAP))


def run_attacks(
    sqls: list[str], *, timeout_s: float = 10.0, db_file: Path = CHINOOK, wall_cap_s: float = 300
) -> list[dict[str, Any]]:
    """Run attacks in one capped subprocess (in order) and return one figure dict each; a
    subprocess that dies reports ``outcome: crashed`` for the attacks it did not finish."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SQLITE_TMPDIR": tmp, "TMPDIR": tmp}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(db_file)]
        try:
            proc = subprocess.run(
                [*cmd, "--timeout-s", str(timeout_s)],
                input=json.dumps(sqls),
                capture_output=True,
                text=True,
                env=env,
                preexec_fn=_cap_memory,
                timeout=wall_cap_s,
            )
            stdout, stderr, code = proc.stdout, proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as exc:
            stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
            stderr, code = f"killed after {wall_cap_s:g} s", -9
    done = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    crash = {
        "outcome": "crashed",
        "error": (stderr or "")[-500:],
        "returncode": code,
    }
    return done + [dict(crash) for _ in sqls[len(done) :]]


def _temp_watch(folder: str, peak: list[int], stop: threading.Event) -> None:
    """Peak bytes of open files under ``folder`` (SQLite unlinks its temp files when it opens
    them, so they are found through /proc/self/fd)."""
    while not stop.is_set():
        total = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                if os.readlink(f"/proc/self/fd/{fd}").startswith(folder):
                    total += os.fstat(int(fd)).st_size
            except OSError:
                continue
        peak[0] = max(peak[0], total)
        stop.wait(0.01)


def _child(db_file: str, timeout_s: float) -> None:
    from slmgraph.context import RunContext
    from slmgraph.tools.sql.check import check_sql
    from slmgraph.tools.sql.database import open_database

    sqls = json.loads(sys.stdin.read())
    db = open_database(db_file)
    schema = db.schema()
    execute = _tool_node("sql.execute", timeout_s=timeout_s)
    answer = _tool_node("sql.answer")
    folder = os.path.realpath(os.environ.get("SQLITE_TMPDIR", tempfile.gettempdir()))
    for sql in sqls:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        base_rss, base_cpu = usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime
        peak, stop = [0], threading.Event()
        watcher = threading.Thread(target=_temp_watch, args=(folder, peak, stop), daemon=True)
        watcher.start()
        start = time.perf_counter()
        check = check_sql(sql, schema)
        check_s = time.perf_counter() - start
        state: dict[str, Any] = {"sql": sql, "db": db_file}
        update = execute(state, RunContext())
        wall = time.perf_counter() - start
        final = answer({**state, **update})
        stop.set()
        watcher.join()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        rows = update.get("rows") or []
        print(
            json.dumps(
                {
                    "outcome": update["outcome"],
                    "check_ok": check.ok,
                    "error": update.get("exec_error"),
                    "rows": len(rows),
                    "truncated": bool(update.get("truncated")),
                    "result_bytes": sum(len(str(v)) for r in rows for v in r),
                    "answer_chars": len(final.get("answer") or ""),
                    "check_s": round(check_s, 3),
                    "wall_s": round(wall, 3),
                    "cpu_s": round(usage.ru_utime + usage.ru_stime - base_cpu, 3),
                    "rss_delta": usage.ru_maxrss * 1024 - base_rss,
                    "temp_bytes": peak[0],
                }
            ),
            flush=True,
        )


def measure(timeout_s: float = 10.0) -> dict[str, Any]:
    """All figures (see the module's docstring); ``skipped`` when Chinook is absent."""
    from slmgraph.tools.sql.base import DEFAULT_LIMITS, MAX_NESTING, MAX_SQL_TOKENS

    if not CHINOOK.exists():
        return {"skipped": f"{CHINOOK} not found (see ../shared/data/README.md)"}
    attacks = []
    for category, sql in load_corpus("resource"):
        (figures,) = run_attacks([sql], timeout_s=timeout_s)
        attacks.append(
            {"sql": sql if len(sql) <= 80 else sql[:77] + "...", "expect": category, **figures}
        )
    limits = DEFAULT_LIMITS.but(timeout_s=timeout_s)
    return {
        "limits": {**vars(limits), "max_sql_tokens": MAX_SQL_TOKENS, "max_nesting": MAX_NESTING},
        "hostile": hostile_figures(CHINOOK),
        "legit": legit_figures(CHINOOK),
        "attacks": attacks,
    }


def section(figures: dict[str, Any]) -> str:
    """The figures as a markdown section: the limits, the corpora's counts, the attacks."""
    if "skipped" in figures:
        return f"## SQL execution\n\nSkipped: {figures['skipped']}.\n"
    lim, hostile, legit, attacks = (figures[k] for k in ("limits", "hostile", "legit", "attacks"))
    mb = 1e6
    out = [
        "## SQL execution",
        "",
        f"Limits (slmgraph/tools/sql/base.py): {lim['timeout_s']:g} s, {lim['max_rows']} rows "
        f"(the graph's execute node: 50), {lim['max_cell_bytes'] / mb:g} MB a value, "
        f"{lim['max_result_bytes'] / mb:g} MB a result, {lim['max_memory_bytes'] // 2**20} MiB "
        f"of SQLite heap with temp storage in memory; statements of at most "
        f"{lim['max_sql_tokens']:,} tokens and {lim['max_nesting']} levels of nesting.",
        "",
        f"- Hostile statements executed: **{hostile['executed']}** of {hostile['statements']} "
        f"(database changed: {'yes' if hostile['database_changed'] else 'no'}; files created: "
        f"{len(hostile['files_created'])}; with the guard bypassed, {hostile['bypassed']} "
        f"writes sent straight at the read-only connection, {len(hostile['bypass_ran'])} ran)",
        f"- Legitimate statements refused: **{len(legit['refused'])}** of {legit['statements']} "
        f"(slowest check {legit['slowest_check_s']:.2f} s)",
    ]
    for r in legit["refused"]:
        out.append(f"  - `{r['sql']}`: {r['by']}: {r['why']}")
    out += [
        "",
        "| attack | may fire | outcome | check s | wall s | CPU s | peak RSS Δ MB | temp MB |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for a in attacks:
        shown = a.get("error") or ("truncated" if a.get("truncated") else "")
        outcome = f"{a['outcome']}: {shown[:60]}" if shown else a["outcome"]
        sql = a["sql"].replace("|", "\\|")
        out.append(
            f"| `{sql}` | {a['expect']} | {outcome.replace('|', '/')} | {a.get('check_s', 0):.2f} "
            f"| {a.get('wall_s', 0):.2f} | {a.get('cpu_s', 0):.2f} "
            f"| {a.get('rss_delta', 0) / mb:.0f} | {a.get('temp_bytes', 0) / mb:.1f} |"
        )
    done = [a for a in attacks if a["outcome"] != "crashed"]
    if done:
        out += [
            "",
            f"Maxima over the attacks: {max(a['wall_s'] for a in done):.2f} s wall, "
            f"{max(a['cpu_s'] for a in done):.2f} s CPU, "
            f"{max(a['rss_delta'] for a in done) / mb:.0f} MB peak RSS over baseline, "
            f"{max(a['temp_bytes'] for a in done) / mb:.1f} MB of temp files; "
            f"{len(attacks) - len(done)} crashed.",
        ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timeout-s", type=float, default=10.0)
    parser.add_argument("--child", metavar="DB", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.timeout_s)
    else:
        print(section(measure(args.timeout_s)))
