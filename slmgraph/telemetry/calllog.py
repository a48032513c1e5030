"""The call log: one row per model call, in SQLite (default) — the raw material of everything
that comes later: the conversion pipeline's training data (by node = workload), the router's
calibration (by tier and outcome), cost and latency reports (by tier, model and time).

Schema notes:

- ``calls`` keeps messages, constraint and output as JSON text so a call can be replayed.
- ``attempt``/``fallback_from`` record fallback chains: a call that failed on ``slm`` and was
  answered by ``llm`` is two rows with the same ``call_group``.
- Indexes serve the later queries: per run (trace), per node and time (curation, drift), per tier
  and time (routing, costs), per status (failure rates).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS calls (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id       TEXT NOT NULL UNIQUE,
    call_group    TEXT NOT NULL,
    ts            REAL NOT NULL,
    app           TEXT,
    session_id    TEXT,
    run_id        TEXT,
    graph         TEXT,
    node          TEXT,
    tier          TEXT,
    backend       TEXT,
    model         TEXT,
    attempt       INTEGER NOT NULL DEFAULT 1,
    fallback_from TEXT,
    messages      TEXT NOT NULL,
    constraint_kind TEXT,
    constraint_json TEXT,
    params        TEXT,
    output        TEXT,
    mean_logprob  REAL,
    tokens_in     INTEGER,
    tokens_out    INTEGER,
    latency_s     REAL,
    cost_usd      REAL,
    status        TEXT NOT NULL CHECK (status IN ('ok', 'error', 'cancelled')),
    error_kind    TEXT,
    error         TEXT,
    feedback      REAL,
    feedback_note TEXT
);
CREATE INDEX IF NOT EXISTS calls_run ON calls (run_id, ts);
CREATE INDEX IF NOT EXISTS calls_node_ts ON calls (node, ts);
CREATE INDEX IF NOT EXISTS calls_tier_ts ON calls (tier, ts);
CREATE INDEX IF NOT EXISTS calls_model ON calls (model);
CREATE INDEX IF NOT EXISTS calls_status ON calls (status, ts);
CREATE INDEX IF NOT EXISTS calls_group ON calls (call_group);
"""


def default_log_path() -> Path:
    """``$SLMGRAPH_CALL_LOG``, else ``$XDG_STATE_HOME/slmgraph/calls.sqlite``."""
    env = os.environ.get("SLMGRAPH_CALL_LOG")
    if env:
        return Path(env)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "slmgraph" / "calls.sqlite"


@dataclass
class CallRecord:
    messages: Sequence[dict[str, str]]
    status: str = "ok"
    call_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    call_group: str = ""
    ts: float = field(default_factory=time.time)
    app: str | None = None
    session_id: str | None = None
    run_id: str | None = None
    graph: str | None = None
    node: str | None = None
    tier: str | None = None
    backend: str | None = None
    model: str | None = None
    attempt: int = 1
    fallback_from: str | None = None
    constraint: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    output: str | None = None
    mean_logprob: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_s: float | None = None
    cost_usd: float | None = None
    error_kind: str | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        if not self.call_group:
            self.call_group = self.call_id


class CallLog:
    """Append-only SQLite log of model calls. Thread-safe; one connection per log."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_log_path()
        self._lock = threading.Lock()
        self._conn_: sqlite3.Connection | None = None

    @property
    def _conn(self) -> sqlite3.Connection:
        # Connect on first use: building a graph touches no file (LangGraph's server builds
        # graphs inside its event loop, where blocking I/O is refused).
        if self._conn_ is None:
            if str(self.path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
            conn.row_factory = sqlite3.Row
            if str(self.path) != ":memory:":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            conn.commit()
            self._conn_ = conn
        return self._conn_

    def record(self, rec: CallRecord) -> None:
        row = asdict(rec)
        row["messages"] = json.dumps(list(rec.messages), ensure_ascii=False)
        row["constraint_kind"] = next(iter(rec.constraint), None) if rec.constraint else None
        row["constraint_json"] = json.dumps(rec.constraint) if rec.constraint else None
        row["params"] = json.dumps(rec.params) if rec.params else None
        del row["constraint"]
        cols = ", ".join(row)
        marks = ", ".join(f":{c}" for c in row)
        with self._lock:
            self._conn.execute(f"INSERT INTO calls ({cols}) VALUES ({marks})", row)
            self._conn.commit()

    def feedback(self, call_id: str, score: float, note: str | None = None) -> None:
        """Attach user feedback to a call (a hook for the conversion pipeline's curation)."""
        with self._lock:
            self._conn.execute(
                "UPDATE calls SET feedback = ?, feedback_note = ? WHERE call_id = ?",
                (score, note, call_id),
            )
            self._conn.commit()

    def rows(self, where: str = "1=1", params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._conn.execute(f"SELECT * FROM calls WHERE {where} ORDER BY id", params)
            return [dict(r) for r in cur.fetchall()]

    def for_run(self, run_id: str) -> list[dict[str, Any]]:
        return self.rows("run_id = ?", (run_id,))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows())

    def close(self) -> None:
        with self._lock:
            if self._conn_ is not None:
                self._conn_.close()
                self._conn_ = None
