"""The call log under kill -9 and on logs that cannot be written.

    .venv/bin/python benchmarks/reliability_calllog.py [--trials 8] [--json OUT]

- **kill -9**: a forked child runs real graph runs on scripted tiers
  (``tests/fixtures/reliability/calllog/``: the triage graph with a node after each model step
  that acknowledges the call on stdout); the parent kills it after a random number of
  acknowledgements (the first trial at the very first one, before a batch writer would have
  written) and counts acknowledged calls missing from the log and calls logged twice, per
  durability mode (and on PostgreSQL when the ``pgserver`` package is there).
- **overhead**: seconds per ``record`` in each mode (median of interleaved rounds), as ratios
  to ``batch`` from one run; and a whole graph run with the log in each mode. Absolute times
  depend on the machine's load, the ratios much less.
- **unwritable logs**: each case of :data:`slmgraph.telemetry.durability.UNWRITABLE` through
  ``slmgraph run`` (exit code, lines on stderr) and through ``run()`` with a counting backend
  (model calls made before the error); a silent failure is exit 0 or nothing on stderr. A disk
  that fills up mid-run (a tmpfs, root only): the run's status and the rows counted lost.

``measure()`` and ``section()`` are what the reliability report calls.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
from contextlib import redirect_stderr
from functools import partial
from pathlib import Path
from typing import Any
from unittest import mock

from slmgraph.cli import main as cli
from slmgraph.graphs.builder import BuiltGraph, build
from slmgraph.loader import load_spec
from slmgraph.models.scripted import ScriptedBackend
from slmgraph.runner import run
from slmgraph.telemetry.calllog import MAX_BATCH, MAX_QUEUED, CallLog, CallRecord, Durability
from slmgraph.telemetry.durability import (
    ONE_CALL_SPEC,
    UNWRITABLE,
    fill,
    kill_trial,
    record_cost,
    tmpfs,
    unwritable,
)

ROOT = Path(__file__).resolve().parent.parent
CHILD = ROOT / "tests" / "fixtures" / "reliability" / "calllog"
sys.path.insert(0, str(CHILD))
from child import log_calls  # noqa: E402

MODES: tuple[Durability, ...] = ("call", "fsync", "batch")


def kill_figures(trials: int, seed: int = 20) -> dict[str, Any]:
    """Per mode: trials, acknowledged, lost, duplicated, the worst trial's loss and the loss of
    the trial killed at the first acknowledgement."""
    rng = random.Random(seed)
    points = [
        (1, 0.0),
        *((rng.randint(1, 60), rng.choice((0.0, 0.002, 0.02))) for _ in range(trials - 1)),
    ]
    build(CHILD / "acked.yaml", call_log=False)  # imports done here, inherited by the forks
    out: dict[str, Any] = {}
    targets: list[tuple[str, Durability]] = [("sqlite", m) for m in MODES]
    pg = _pg_server()
    if pg is not None:
        targets.append(("postgresql", "call"))
    with tempfile.TemporaryDirectory() as tmp:
        for store, mode in targets:
            runs = []
            for i, (after, delay) in enumerate(points if store == "sqlite" else points[:4]):
                if store == "sqlite":
                    where = str(Path(tmp) / f"{mode}-{i}.sqlite")
                else:
                    where = _pg_db(pg, f"kill_{mode}_{i}")
                runs.append(
                    kill_trial(
                        partial(log_calls, where, 1000, mode),
                        where,
                        kill_after=after,
                        delay_s=delay,
                    )
                )
            out[f"{store}/{mode}"] = {
                "trials": len(runs),
                "killed": sum(t.killed for t in runs),
                "acknowledged": sum(t.acked for t in runs),
                "lost": sum(t.lost for t in runs),
                "duplicated": sum(t.duplicated for t in runs),
                "worst_lost": max(t.lost for t in runs),
                "lost_at_first_ack": runs[0].lost,
            }
    if pg is not None:
        pg.cleanup()
    return out


def overhead_figures(repeats: int = 7) -> dict[str, Any]:
    """``record`` per mode (caller's wait, and until written), graph runs per mode, and how long
    a queued row waits in ``batch`` mode (the loss window in time)."""
    with tempfile.TemporaryDirectory() as tmp:
        cost = record_cost(Path(tmp), MODES, calls=300, repeats=repeats)
        base = cost["batch"]
        per_run: dict[str, list[float]] = {m: [] for m in (*MODES, "off")}
        spec = load_spec(ONE_CALL_SPEC)
        builts: dict[str, BuiltGraph] = {
            m: build(spec, call_log=CallLog(Path(tmp) / f"{m}.sqlite", durability=m)) for m in MODES
        }
        builts["off"] = build(spec, call_log=False)
        for _ in range(repeats):
            for mode, built in builts.items():
                started = time.perf_counter()
                for i in range(40):
                    run(built, {"q": f"question {i}"})
                per_run[mode].append((time.perf_counter() - started) / 40)
        waits = []
        log = CallLog(Path(tmp) / "window.sqlite", durability="batch").open()
        for i in range(50):
            started = time.perf_counter()
            log.record(CallRecord(messages=[{"role": "user", "content": f"q{i}"}]))
            log.flush()
            waits.append(time.perf_counter() - started)
        log.close()
    run_s = {m: statistics.median(v) for m, v in per_run.items()}
    return {
        "record_us": {m: round(c["record"] * 1e6, 1) for m, c in cost.items()},
        "written_us": {m: round(c["written"] * 1e6, 1) for m, c in cost.items()},
        "record_ratio_to_batch": {
            m: round(c["record"] / base["record"], 2) for m, c in cost.items()
        },
        "written_ratio_to_batch": {
            m: round(c["written"] / base["written"], 2) for m, c in cost.items()
        },
        "run_ms": {m: round(s * 1e3, 2) for m, s in run_s.items()},
        "run_ratio_to_batch": {m: round(s / run_s["batch"], 3) for m, s in run_s.items()},
        "batch_window_ms": {
            "median": round(statistics.median(waits) * 1e3, 2),
            "max": round(max(waits) * 1e3, 2),
        },
        "batch_window_calls": MAX_QUEUED + MAX_BATCH,
    }


def unwritable_figures() -> dict[str, Any]:
    """Per case and mode: exit code and stderr lines of ``slmgraph run``, model calls made
    before the error, and whether the failure was silent; then the mid-run full disk."""
    out: dict[str, Any] = {}
    tiers = {"SLMGRAPH_TIERS": str(ROOT / "examples" / "scripted_tiers.yaml")}
    for case in UNWRITABLE:
        for mode in ("call", "batch"):
            env = {**tiers, "SLMGRAPH_CALL_LOG_DURABILITY": mode}
            with (
                mock.patch.dict(os.environ, env),
                tempfile.TemporaryDirectory() as tmp,
                unwritable(case, Path(tmp)) as path,
            ):
                if path is None:
                    out[f"{case}/{mode}"] = {"skipped": "needs root (tmpfs)"}
                    continue
                err = io.StringIO()
                with redirect_stderr(err):
                    code = cli(
                        ["run", "triage", "--input", '{"ticket": "hi"}', "--call-log", str(path)]
                    )
                calls: list[str] = []
                backend = ScriptedBackend(responder=partial(_count, calls))
                spec = load_spec(ONE_CALL_SPEC)
                built = build(spec, backends={"slm": backend}, call_log=CallLog(path))
                with contextlib.suppress(Exception):  # the defined failure: raised before a call
                    run(built, {"q": "hi"})
                lines = [line for line in err.getvalue().splitlines() if line.strip()]
                out[f"{case}/{mode}"] = {
                    "exit": code,
                    "stderr_lines": len(lines),
                    "message": lines[0] if lines else "",
                    "calls_before_error": len(calls),
                    "silent": code == 0 or not lines,
                }
    modes: tuple[Durability, ...] = ("call", "batch")
    for mode in modes:
        out[f"full disk mid-run/{mode}"] = _full_midrun(mode)
    return out


def _count(seen: list[str], messages: object, constraint: object) -> str:
    seen.append("call")
    return "fine"


def _full_midrun(mode: Durability) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, tmpfs(Path(tmp) / "small", size_kb=256) as mounted:
        if not mounted:
            return {"skipped": "needs root (tmpfs)"}
        folder = Path(tmp) / "small"
        log = CallLog(folder / "calls.sqlite", durability=mode)
        built = build(load_spec(ONE_CALL_SPEC), call_log=log)
        run(built, {"q": "before"})
        log.flush()
        fill(folder)
        err = io.StringIO()
        with redirect_stderr(err):
            results = [run(built, {"q": "x" * 50_000}) for _ in range(4)]
            try:
                log.close()
                raised = False
            except Exception:
                raised = True
        (folder / "filler").unlink()
        warned = "could not be written" in err.getvalue()
        return {
            "runs": len(results),
            "runs_ended_on_log_error": sum("call log" in str(r.error) for r in results),
            "lost_rows_counted": log.lost,
            "warned_on_stderr": warned,
            "raised_at_close": raised,
            "silent": not (warned or raised or any(r.status == "error" for r in results)),
        }


def measure(trials: int = 8) -> dict[str, Any]:
    return {
        "kill": kill_figures(trials),
        "overhead": overhead_figures(),
        "unwritable": unwritable_figures(),
    }


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def section(figures: dict[str, Any]) -> str:
    """Markdown: kill trials per mode, overhead ratios, unwritable cases."""
    head = ("log / durability", "trials", "acknowledged", "lost", "duplicated", "worst trial")
    lines = ["## Call log", "", "### kill -9 during graph runs", ""]
    lines += [_row(*head, "lost at first ack"), _row("---", *["---:"] * 6)]
    for name, k in figures["kill"].items():
        counts = (k["acknowledged"], k["lost"], k["duplicated"], k["worst_lost"])
        lines.append(_row(name, k["trials"], *counts, k["lost_at_first_ack"]))
    o = figures["overhead"]
    lines += ["", "### Overhead (ratios to `batch` from one run; absolute times vary with load)"]
    lines += ["", _row("durability", "record (caller waits)", "until written", "one graph run")]
    lines.append(_row("---", "---:", "---:", "---:"))
    for m in MODES:
        record = f"{o['record_ratio_to_batch'][m]}× ({o['record_us'][m]} µs)"
        written = f"{o['written_ratio_to_batch'][m]}× ({o['written_us'][m]} µs)"
        lines.append(
            _row(m, record, written, f"{o['run_ratio_to_batch'][m]}× ({o['run_ms'][m]} ms)")
        )
    lines.append(
        _row("log off", "", "", f"{o['run_ratio_to_batch']['off']}× ({o['run_ms']['off']} ms)")
    )
    w = o["batch_window_ms"]
    lines += [
        "",
        f"`batch` loss window: at most {o['batch_window_calls']} calls (bounded queue); a queued "
        f"row waited {w['median']} ms (median), {w['max']} ms (max) until written.",
        "",
        "### Logs that cannot be written",
        "",
        _row("case / durability", "exit", "stderr lines", "model calls before the error", "silent"),
        _row("---", "---:", "---:", "---:", "---"),
    ]
    for name, u in figures["unwritable"].items():
        silent = "**yes**" if u.get("silent") else "no"
        if "skipped" in u:
            lines.append(_row(name, f"skipped: {u['skipped']}", "", "", ""))
        elif "exit" in u:
            lines.append(_row(name, u["exit"], u["stderr_lines"], u["calls_before_error"], silent))
        else:
            what = (
                f"{u['runs_ended_on_log_error']}/{u['runs']} runs ended on the log error, "
                f"{u['lost_rows_counted']} rows counted lost, warned: {u['warned_on_stderr']}"
            )
            lines.append(_row(name, what, "", "", silent))
    silent_n = sum(1 for u in figures["unwritable"].values() if u.get("silent"))
    lines += ["", f"Silent failures: {silent_n}.", ""]
    return "\n".join(lines)


def _pg_server() -> Any:
    try:
        pgserver: Any = importlib.import_module("pgserver")
        importlib.import_module("psycopg")
    except ImportError:
        return None
    return pgserver.get_server(tempfile.mkdtemp(prefix="pg-"), cleanup_mode="delete")


def _pg_db(server: Any, name: str) -> str:
    import psycopg

    url = str(server.get_uri())
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.replace("/postgres?", f"/{name}?")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=8, help="kill -9 trials per durability mode")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    figures = measure(args.trials)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    print(section(figures))


if __name__ == "__main__":
    main()
