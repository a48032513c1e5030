"""The call log's batched writer: every record lands (many threads, many rows), readers see
their own writes, errors surface at the next flush, and another process reads the file after
exit."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from slmgraph.telemetry.calllog import CallLog, CallRecord


def _rec(i: int, run: str = "r") -> CallRecord:
    return CallRecord(
        messages=[{"role": "user", "content": f"q{i}"}],
        run_id=run,
        node="n",
        tier="slm",
        output=str(i),
    )


def test_batched_writes_from_many_threads_all_land(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "calls.sqlite", durability="batch")

    def work(t: int) -> None:
        for i in range(250):
            log.record(_rec(i, f"run{t}"))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(log.rows()) == 1000  # rows() flushes first
    assert [r["output"] for r in log.for_run("run2")] == [str(i) for i in range(250)]
    log.close()
    conn = sqlite3.connect(tmp_path / "calls.sqlite")
    assert conn.execute("SELECT count(*) FROM calls").fetchone() == (1000,)


def test_feedback_sees_a_call_still_in_the_queue(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "calls.sqlite")
    rec = _rec(1)
    log.record(rec)
    log.feedback(rec.call_id, 1.0, "right")
    assert log.rows()[0]["feedback"] == 1.0


def test_a_write_error_is_raised_at_the_next_flush(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "calls.sqlite", durability="batch")
    rec = _rec(1)
    log.record(rec)
    log.record(_rec(2))
    log.record(rec)  # same call_id: the UNIQUE constraint fails in the writer thread
    log.record(_rec(3))
    with pytest.raises(sqlite3.IntegrityError):
        log.flush()
    log.record(_rec(4))  # the writer keeps going; one bad row cost only itself
    assert sorted(r["output"] for r in log.rows()) == ["1", "2", "3", "4"]


def test_rows_are_flushed_at_interpreter_exit(tmp_path: Path) -> None:
    path = tmp_path / "calls.sqlite"
    code = (
        "from slmgraph.telemetry.calllog import CallLog, CallRecord\n"
        f"log = CallLog({str(path)!r})\n"
        "for i in range(300):\n"
        "    log.record(CallRecord(messages=[{'role': 'user', 'content': str(i)}]))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM calls").fetchone() == (300,)


def test_unbatched_mode_writes_before_returning(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "calls.sqlite", batched=False)
    log.record(_rec(1))
    conn = sqlite3.connect(tmp_path / "calls.sqlite")
    assert conn.execute("SELECT count(*) FROM calls").fetchone() == (1,)


def test_encryption_at_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.fernet import Fernet

    from slmgraph.telemetry.calllog import CallLogError

    key = Fernet.generate_key().decode()
    path = tmp_path / "calls.sqlite"
    monkeypatch.setenv("SLMGRAPH_LOG_KEY", key)
    log = CallLog(path)
    rec = CallRecord(
        messages=[{"role": "user", "content": "my email is dana@example.com"}],
        output="SELECT secret FROM t",
        tier="slm",
        tokens_in=7,
    )
    log.record(rec)
    row = log.rows()[0]
    assert row["messages"].endswith('dana@example.com"}]') and row["output"] == rec.output
    log.close()
    raw = sqlite3.connect(path).execute("SELECT messages, output, tier, tokens_in FROM calls")
    messages, output, tier, tokens = raw.fetchone()
    assert "dana" not in messages and messages.startswith("enc:fernet:")
    assert output.startswith("enc:fernet:") and (tier, tokens) == ("slm", 7)  # clear for reports
    monkeypatch.delenv("SLMGRAPH_LOG_KEY")
    assert CallLog(path).rows()[0]["output"].startswith("enc:fernet:")  # no key: left as is
    with pytest.raises(CallLogError, match="another key"):
        CallLog(path, key=Fernet.generate_key()).rows()
    with pytest.raises(CallLogError, match="not a Fernet key"):
        CallLog(path, key="not-a-key")


def test_feedback_note_is_encrypted_like_the_prompt(tmp_path: Path) -> None:
    key = "h8Lwq4Yc0K3rlbL3xcpGCVh5cWY1tJ0hWz5m2S0V7H0="
    log = CallLog(tmp_path / "calls.sqlite", key=key)
    rec = _rec(1)
    log.record(rec)
    log.feedback(rec.call_id, -1.0, "my email is a@b.co")
    assert log.rows()[0]["feedback_note"] == "my email is a@b.co"
    log.close()
    raw = sqlite3.connect(tmp_path / "calls.sqlite").execute("SELECT feedback_note FROM calls")
    assert raw.fetchone()[0].startswith("enc:fernet:")
