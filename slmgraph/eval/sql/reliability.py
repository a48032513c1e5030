"""SQL execution under attack, shared by its test (``tests/test_sql_reliability.py``) and its
benchmark (``benchmarks/reliability_sql.py``): the reader of the hostile, legitimate and
resource-attack corpora, the hostile and legitimate statements run through the guard, the
checker and the query-writer's execute node, and the resource attacks run in a subprocess
under an address-space cap (``python -m slmgraph.eval.sql.reliability --child DB``), so a
failure cannot take the machine down.

The corpora (``tests/fixtures/reliability/sql``) live in the repository, not in the wheel: the
functions take their folder, by default the checkout's.
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

__all__ = ["CORPUS", "hostile_figures", "legit_figures", "load_corpus", "run_attacks", "tool_node"]

#: The folder that holds this ``slmgraph``: the checkout (then the corpora are in its
#: ``tests/fixtures``) or site-packages. First on an attack subprocess's path, so that it runs
#: this same code.
ROOT = Path(__file__).resolve().parents[3]
CORPUS = ROOT / "tests" / "fixtures" / "reliability" / "sql"
#: Address space of an attack's subprocess: far above the limits, far below the machine.
AS_CAP = 4 * 2**30
#: Hostile categories also sent straight at the read-only connection (the guard bypassed);
#: "nesting" is the guard's alone (SQLite would run a deep but harmless expression).
BYPASS = ("dml", "ddl", "stacked", "cte_dml", "pragma", "attach", "vacuum", "transaction")
#: Files a hostile statement might try to create.
EVIL_PATHS = ("/tmp/slmgraph-evil.db", "/tmp/slmgraph-copy.db", "/tmp/slmgraph-evil.txt")


def load_corpus(name: str, corpus: Path = CORPUS) -> list[tuple[str, str]]:
    """``(category, statement)`` records of ``<corpus>/<name>.sql`` (``hostile``, ``legit``,
    ``resource``): each starts at a ``-- @@ category`` line and runs to the next one
    (statements keep their own comments and new lines)."""
    path = corpus / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(
            f"the SQL corpus {path} is not there: the corpora are in a checkout's "
            "tests/fixtures, not in the installed package; run from a checkout or pass the "
            "corpora's folder"
        )
    records: list[tuple[str, str]] = []
    category: str | None = None
    lines: list[str] = []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.startswith("-- @@ "):
            if category is not None:
                records.append((category, "\n".join(lines)))
            category, lines = line[6:].strip(), []
        elif category is not None:
            lines.append(line)
    if category is not None:
        records.append((category, "\n".join(lines).removesuffix("\n")))
    return records


def tool_node(tool: str, **params: Any) -> Any:
    """The query-writer graph's node of ``tool`` (``sql.execute``, ``sql.answer``)."""
    from slmgraph.loader import load_spec
    from slmgraph.plugins import lookup
    from slmgraph.registry import NodeEnv

    impl = lookup("tool", tool)
    name = tool.split(".")[-1]
    return impl.factory(NodeEnv(name, impl.params(**params), load_spec("query_writer")))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hostile_figures(db_file: Path, corpus: Path = CORPUS) -> dict[str, Any]:
    """Each hostile statement through the guard and the graph's execute node on a copy of
    ``db_file``; then, bypassing the guard, straight at the read-only connection."""
    from slmgraph.context import RunContext
    from slmgraph.tools.sql.base import DatabaseError
    from slmgraph.tools.sql.database import SQLiteDatabase
    from slmgraph.tools.sql.guard import GuardError, guard

    records = load_corpus("hostile", corpus)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "chinook.sqlite"
        shutil.copyfile(db_file, copy)
        before, listing = _digest(copy), sorted(os.listdir(tmp))
        node = tool_node("sql.execute", timeout_s=5)
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


def legit_figures(db_file: Path, corpus: Path = CORPUS) -> dict[str, Any]:
    """Each legitimate statement through the guard, the checker and the database."""
    from slmgraph.tools.sql.base import DatabaseError
    from slmgraph.tools.sql.check import check_sql
    from slmgraph.tools.sql.database import open_database

    db = open_database(db_file)
    schema = db.schema()
    refused: list[dict[str, str]] = []
    slowest = 0.0
    records = load_corpus("legit", corpus)
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
    sqls: list[str], db_file: Path, *, timeout_s: float = 10.0, wall_cap_s: float = 300
) -> list[dict[str, Any]]:
    """Run attacks on ``db_file`` in one capped subprocess (in order) and return one figure
    dict each; a subprocess that dies reports ``outcome: crashed`` for the attacks it did not
    finish."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SQLITE_TMPDIR": tmp, "TMPDIR": tmp}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
        cmd = [sys.executable, "-m", "slmgraph.eval.sql.reliability", "--child", str(db_file)]
        cmd += ["--timeout-s", str(timeout_s)]
        try:
            proc = subprocess.run(
                cmd,
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
    execute = tool_node("sql.execute", timeout_s=timeout_s)
    answer = tool_node("sql.answer")
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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Run resource attacks (JSON list on stdin).")
    parser.add_argument("--child", metavar="DB", required=True)
    parser.add_argument("--timeout-s", type=float, default=10.0)
    args = parser.parse_args()
    _child(args.child, args.timeout_s)
