"""The call log on a real PostgreSQL server (PostgreSQL 16 from the ``pgserver`` PyPI package,
started on a unix socket in a temporary folder): the same API as SQLite — batched writes from
threads, run-level feedback, encryption at rest, curation — and a clear error for a bad URL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from slmgraph.telemetry.calllog import CallLog, CallLogError, CallRecord

pgserver = pytest.importorskip("pgserver", reason="pgserver (a PostgreSQL build on PyPI) absent")
pytest.importorskip("psycopg", reason="the 'postgres' extra (psycopg) is not installed")


@pytest.fixture(scope="module")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server: Any = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


@pytest.fixture
def url(pg_url: str) -> Iterator[str]:
    """A fresh database per test, so tests do not see each other's calls."""
    import psycopg

    name = f"t{threading.get_ident()}_{id(object())}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield pg_url.replace("/postgres?", f"/{name}?")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _rec(i: int, run: str = "r", **kw: Any) -> CallRecord:
    return CallRecord(
        messages=[{"role": "user", "content": f"q{i} 100% 'quoted' :colon ?"}],
        run_id=run,
        node="n",
        tier="slm",
        output=str(i),
        **kw,
    )


def test_batched_writes_from_threads_land_in_postgres(url: str) -> None:
    log = CallLog(url)
    assert log.url == url and "postgresql" in repr(log)

    def work(t: int) -> None:
        for i in range(100):
            log.record(_rec(i, f"run{t}", tokens_in=i, latency_s=0.5, cost_usd=1e-6))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    rows = log.rows()
    assert len(rows) == 300
    run2 = log.for_run("run2")
    assert [r["output"] for r in run2] == [str(i) for i in range(100)]
    # placeholders' look-alikes inside values survive the translation untouched
    assert "100% 'quoted' :colon ?" in run2[0]["messages"]
    assert run2[5]["tokens_in"] == 5 and run2[5]["latency_s"] == 0.5
    log.close()
    # another connection (a new process would do the same) reads what was written
    assert len(CallLog(url).rows("node = ? AND tier = ?", ("n", "slm"))) == 300


def test_run_feedback_and_encryption_in_postgres(url: str) -> None:
    key = "h8Lwq4Yc0K3rlbL3xcpGCVh5cWY1tJ0hWz5m2S0V7H0="
    log = CallLog(url, key=key)
    log.record(_rec(1, "good"))
    log.record(_rec(2, "good"))
    log.record(_rec(3, "bad"))
    assert log.feedback(None, -1.0, "wrong table", run_id="bad") == 1
    assert log.feedback(None, 1.0, run_id="good") == 2
    rows = {r["output"]: r for r in log.rows()}
    assert rows["3"]["feedback"] == -1.0 and rows["3"]["feedback_note"] == "wrong table"
    log.close()
    raw = CallLog(url, key="")  # no key: ciphertext comes back as stored
    stored = {r["run_id"]: r for r in raw.rows()}
    assert stored["bad"]["feedback_note"].startswith("enc:fernet:")
    assert stored["bad"]["messages"].startswith("enc:fernet:")
    with pytest.raises(CallLogError, match="no call with run_id"):
        raw.feedback(None, 1.0, run_id="nope")


def test_curate_reads_a_postgres_log(url: str, tmp_path: Path) -> None:
    from slmgraph.pipeline.curate import curate

    log = CallLog(url)
    log.record(_rec(1))
    log.record(_rec(1))  # duplicate
    log.record(_rec(2, status="error", error="boom"))
    report = curate(log, tmp_path / "out.jsonl")
    assert (report.read, report.kept) == (3, 1)
    assert report.dropped["duplicate"] == 1 and report.dropped["status error"] == 1


def test_an_unreachable_server_is_a_clear_error_without_the_password() -> None:
    log = CallLog("postgresql://me:s3cret@127.0.0.1:1/nowhere")
    with pytest.raises(CallLogError, match=r"cannot connect .*me:\*\*\*@127") as err:
        log.rows()
    assert "s3cret" not in str(err.value)


def test_a_dropped_connection_is_reopened(url: str) -> None:
    import psycopg

    log = CallLog(url, batched=False)
    log.record(_rec(1))
    name = url.split("/")[-1].split("?")[0]
    with psycopg.connect(url.replace(f"/{name}?", "/postgres?"), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
    log.record(_rec(2))  # the server closed our connection: reopened, not lost
    assert [r["output"] for r in log.rows()] == ["1", "2"]
