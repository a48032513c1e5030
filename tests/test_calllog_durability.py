"""The call log keeps what it acknowledged and says when it cannot: ``kill -9`` at random
points of real graph runs loses no acknowledged call and logs none twice (SQLite and a real
PostgreSQL server); a log that cannot be written fails before the first model call with one
line naming the path and the fix; a disk that fills up mid-run ends the run in its error state
(``durability="call"``) or warns at once and counts the lost rows (``"batch"``)."""

from __future__ import annotations

import io
import json
import logging
import random
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import redirect_stderr
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from slmgraph.graphs.builder import build
from slmgraph.loader import load_spec
from slmgraph.models.scripted import ScriptedBackend
from slmgraph.runner import run
from slmgraph.telemetry.calllog import MAX_BATCH, MAX_QUEUED, CallLog, CallLogError, CallRecord
from slmgraph.telemetry.durability import (
    ONE_CALL_SPEC,
    UNWRITABLE,
    fill,
    kill_trial,
    tmpfs,
    unwritable,
)

CHILD = Path(__file__).parent / "fixtures" / "reliability" / "calllog"
ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(CHILD))
from child import log_calls  # noqa: E402


def _rec(i: int, words: int = 50) -> CallRecord:
    return CallRecord(messages=[{"role": "user", "content": f"q{i} " * words}], output=str(i))


def _trials(seed: int, n: int) -> list[tuple[int, float]]:
    """(acks before the kill, extra delay): the first ack with no delay (the old writer had
    written nothing yet), then random points."""
    rng = random.Random(seed)
    return [(1, 0.0), *((rng.randint(1, 40), rng.choice((0.0, 0.001, 0.01))) for _ in range(n))]


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    """Build the child's graph once here, so that forked children inherit every import."""
    build(CHILD / "acked.yaml", call_log=False)


def test_kill_9_loses_no_acknowledged_call_on_sqlite(tmp_path: Path) -> None:
    for i, (after, delay) in enumerate(_trials(seed=20, n=5)):
        path = tmp_path / f"calls-{i}.sqlite"
        trial = kill_trial(partial(log_calls, path, 400), path, kill_after=after, delay_s=delay)
        assert trial.killed, trial
        assert (trial.lost, trial.duplicated) == (0, 0), trial
        assert trial.acked >= after and trial.logged >= trial.acked


def test_batch_mode_bounds_its_window(tmp_path: Path) -> None:
    """``record`` blocks once MAX_QUEUED rows wait behind a stuck writer: a kill can lose at
    most those plus the batch in flight."""
    log = CallLog(tmp_path / "calls.sqlite", durability="batch").open()
    returned = 0

    def writer() -> None:
        nonlocal returned
        for i in range(MAX_QUEUED + MAX_BATCH + 50):
            log.record(_rec(i))
            returned += 1

    log.record(_rec(-1))  # the writer thread is running
    log.flush()
    with log._lock:  # the writer thread cannot commit: the database is "slow"
        th = threading.Thread(target=writer, daemon=True)
        th.start()
        deadline = time.monotonic() + 60
        while returned < MAX_QUEUED and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # time to go past the bound, were there none
        assert th.is_alive() and MAX_QUEUED <= returned <= MAX_QUEUED + MAX_BATCH
    th.join(timeout=60)
    assert len(log.rows()) == 1 + MAX_QUEUED + MAX_BATCH + 50


@pytest.mark.parametrize("mode", ["call", "batch"])
@pytest.mark.parametrize("case", UNWRITABLE)
def test_an_unwritable_log_fails_before_the_first_model_call(
    case: str, mode: str, tmp_path: Path
) -> None:
    calls: list[object] = []

    def answer(messages: object, constraint: object) -> str:
        calls.append(messages)
        return "fine"

    backend = ScriptedBackend(responder=answer)
    with unwritable(case, tmp_path) as path:
        if path is None:
            pytest.skip(f"{case!r} cannot be made on this machine (needs root for a tmpfs)")
        before = path.read_bytes() if path.is_file() else None
        log = CallLog(path, durability=mode)  # type: ignore[arg-type]
        built = build(load_spec(ONE_CALL_SPEC), backends={"slm": backend}, call_log=log)
        with pytest.raises(CallLogError) as err:
            run(built, {"q": "hi"})
        message = str(err.value)
        assert calls == []  # no model was called for a log that could not take it
        assert "\n" not in message and message.startswith(f"call log {path}: ")
        assert "--call-log" in message and "--no-log" in message
        hint = {"read-only folder": "not writable", "full disk": "disk is full"}
        hint |= {"path under a file": "is a file", "not SQLite": "not an SQLite database"}
        assert hint.get(case, "is a folder") in message
        if before is not None:
            assert path.read_bytes() == before  # someone's file is left as it was


def test_the_cli_says_it_in_one_line_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from slmgraph.cli import main

    monkeypatch.setenv("SLMGRAPH_TIERS", str(ROOT / "examples" / "scripted_tiers.yaml"))
    with unwritable("path under a file", tmp_path) as path:
        assert path is not None
        code = main(["run", "triage", "--input", '{"ticket": "hi"}', "--call-log", str(path)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in err
    assert err.startswith(f"error: call log {path}: {path.parent} is a file")


def _cap(log: CallLog) -> None:
    """SQLite's own size cap (``max_page_count``) at the log's present size: the next page
    cannot be had, exactly as on a full disk (SQLITE_FULL)."""
    pages = log._conn.execute("PRAGMA page_count").fetchone()[0]
    log._conn.execute(f"PRAGMA max_page_count = {pages}")


def test_a_disk_that_fills_mid_run_ends_the_run_in_its_error_state(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "calls.sqlite")
    built = build(load_spec(ONE_CALL_SPEC), call_log=log)
    assert run(built, {"q": "first"}).status == "ok"
    _cap(log)
    results = [run(built, {"q": "x" * 20_000}) for _ in range(3)]
    failed = [r for r in results if r.status == "error"]
    assert failed, "a full log must not pass silently"
    assert f"call log {tmp_path / 'calls.sqlite'}: a call could not be written" in str(
        failed[0].error
    )
    assert "disk is full" in str(failed[0].error) and log.lost == len(failed)
    assert len(log.rows()) == 3 - len(failed) + 1  # every call a run moved past is there


def test_batch_mode_warns_at_once_and_counts_what_it_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = CallLog(tmp_path / "calls.sqlite", durability="batch").open()
    _cap(log)
    with caplog.at_level(logging.WARNING, logger="slmgraph.telemetry.calllog"):
        for i in range(5):
            log.record(_rec(i, words=5000))  # overflow pages: more than the cap allows
        with pytest.raises(sqlite3.OperationalError, match="full"):
            log.flush()
    assert log.lost == 5
    assert "could not be written" in caplog.text and "disk is full" in caplog.text


@pytest.mark.parametrize("mode", ["call", "batch"])
def test_a_real_full_disk_mid_run(mode: str, tmp_path: Path) -> None:
    """A 256 KiB tmpfs that fills up between two runs (root only: CI is root)."""
    folder = tmp_path / "small"
    with tmpfs(folder, size_kb=256) as mounted:
        if not mounted:
            pytest.skip("mounting a tmpfs needs root")
        log = CallLog(folder / "calls.sqlite", durability=mode)  # type: ignore[arg-type]
        built = build(load_spec(ONE_CALL_SPEC), call_log=log)
        assert run(built, {"q": "before"}).status == "ok"
        log.flush()
        fill(folder)
        stderr = io.StringIO()
        with redirect_stderr(stderr):
            results = [run(built, {"q": "x" * 50_000}) for _ in range(4)]
            if mode == "batch":
                with pytest.raises(sqlite3.OperationalError):
                    log.flush()
        if mode == "call":
            assert any(r.status == "error" and "disk is full" in str(r.error) for r in results)
        assert log.lost >= 1
        (folder / "filler").unlink()
        kept = [json.loads(r["messages"])[0]["content"] for r in log.rows()]
        assert "before" in kept
        log.close()


def test_an_unknown_durability_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(
        CallLogError, match=r"Unknown call-log durability 'cal'\. Did you mean 'call'"
    ):
        CallLog(":memory:", durability="cal")  # type: ignore[arg-type]
    monkeypatch.setenv("SLMGRAPH_CALL_LOG_DURABILITY", "batch")
    assert CallLog(":memory:").batched
    assert not CallLog(":memory:", batched=False).batched


# --- PostgreSQL (a real server from the pgserver package, as in test_calllog_postgres.py) ---


@pytest.fixture(scope="module")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pgserver = pytest.importorskip("pgserver", reason="pgserver (a PostgreSQL build) absent")
    pytest.importorskip("psycopg", reason="the 'postgres' extra (psycopg) is not installed")
    server: Any = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


def _database(pg_url: str, name: str, *options: str) -> str:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
        for option in options:
            conn.execute(f'ALTER DATABASE "{name}" SET {option}')
    return pg_url.replace("/postgres?", f"/{name}?")


def test_kill_9_loses_no_acknowledged_call_on_postgres(pg_url: str) -> None:
    for i, (after, delay) in enumerate(_trials(seed=21, n=3)):
        url = _database(pg_url, f"kill{i}")
        trial = kill_trial(partial(log_calls, url, 400), url, kill_after=after, delay_s=delay)
        assert trial.killed, trial
        assert (trial.lost, trial.duplicated) == (0, 0), trial


def test_a_read_only_postgres_database_fails_at_open(pg_url: str) -> None:
    url = _database(pg_url, "readonly", "default_transaction_read_only = on")
    built = build(load_spec(ONE_CALL_SPEC), call_log=CallLog(url))
    with pytest.raises(CallLogError, match=r"cannot create the call-log tables .*read-only"):
        run(built, {"q": "hi"})
