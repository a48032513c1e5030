"""The call log: one row per model call, in SQLite (default) — the raw material of everything
that comes later: the conversion pipeline's training data (by node = workload), the router's
calibration (by tier and outcome), cost and latency reports (by tier, model and time).

- ``calls`` keeps messages, constraint and output as JSON text so a call can be replayed;
  ``attempt``/``fallback_from`` record fallback chains (a call that failed on ``slm`` and was
  answered by ``llm`` is two rows with the same ``call_group``). The schema, and opening it
  with errors that name the path and the fix, are in :mod:`slmgraph.telemetry.store`.
- A call is committed before ``record`` returns (``durability="call"``): a killed process loses
  no call the run moved past. ``"batch"`` trades a bounded loss window for a cheaper ``record``.
- ``CallLog("postgresql://user@host/db")`` (the ``postgres`` extra, psycopg 3) keeps the same
  table in PostgreSQL, for a log shared by several processes or hosts; every query here is
  written once and translated (``?``/``:name`` placeholders, identity column, float type).
- With ``$SLMGRAPH_LOG_KEY`` (or ``CallLog(key=...)``) the columns that carry user data are
  encrypted at rest (:mod:`slmgraph.telemetry.cipher`).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import sqlite3
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from slmgraph._suggest import did_you_mean
from slmgraph.telemetry.cipher import (
    ENCRYPTED_COLUMNS,
    KEY_ENV,
    decrypt_row,
    encrypt,
    encrypt_row,
    make_cipher,
)
from slmgraph.telemetry.store import (
    FIX,
    SCHEMA_VERSION,
    CallLogError,
    connect_pg,
    connect_sqlite,
    diagnose,
    is_disconnect,
    is_url,
    pg_sql,
    redact,
    write_error,
)
from slmgraph.telemetry.writer import MAX_BATCH, MAX_QUEUED, BatchWriter

__all__ = [
    "DURABILITIES",
    "ENCRYPTED_COLUMNS",
    "KEY_ENV",
    "MAX_BATCH",
    "MAX_QUEUED",
    "SCHEMA_VERSION",
    "CallLog",
    "CallLogError",
    "CallRecord",
    "Durability",
    "default_log_path",
    "is_shadow",
    "is_url",
]

logger = logging.getLogger(__name__)

#: When a call is safe in the log (see :class:`CallLog`).
Durability = Literal["call", "fsync", "batch"]
DURABILITIES: tuple[Durability, ...] = ("call", "fsync", "batch")
DURABILITY_ENV = "SLMGRAPH_CALL_LOG_DURABILITY"


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
    tier_size: str | None = None
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
    #: This call's place in a run on a durable thread (thread, step's task, tier, ordinal):
    #: a resumed run finds it here and replays the logged answer instead of calling again.
    replay_key: str | None = None
    #: Token log-probabilities, kept for replay (durable runs only; JSON in the log).
    logprobs: list[float] | None = None

    def __post_init__(self) -> None:
        if not self.call_group:
            self.call_group = self.call_id


class CallLog:
    """Append-only log of model calls in SQLite (a path) or PostgreSQL (a ``postgresql://``
    URL). Thread-safe; one connection per log.

    ``durability`` says when a call is safe (``$SLMGRAPH_CALL_LOG_DURABILITY`` sets the default):

    - ``"call"`` (the default): ``record`` commits the row in the calling thread before it
      returns, so the run moves on only once its call is in the log. SQLite runs in WAL mode with
      ``synchronous=NORMAL``: a killed process (``kill -9``, OOM) loses nothing; a power cut may
      lose the last commits. A row that cannot be written raises :class:`CallLogError`, which
      ends the run in its error state: no call goes unlogged.
    - ``"fsync"``: the same, with an ``fsync`` per commit (``synchronous=FULL``), for power loss.
    - ``"batch"``: ``record`` queues the row and returns; a writer thread inserts whatever has
      queued in one transaction. A killed process loses what was queued: at most
      ``MAX_QUEUED + MAX_BATCH`` calls (``record`` blocks while ``MAX_QUEUED`` wait), in practice
      the calls of the last commit's few milliseconds (``benchmarks/reliability_calllog.py``
      measures both). A failed write is a warning on stderr at once, counted in ``lost`` and
      raised at the next ``flush`` or ``close``.

    Every read (``rows``, ``for_run``, iteration) and ``feedback`` flushes first, so a reader
    always sees its own calls; ``close`` and interpreter exit flush too. The database opens on
    first use, or at :meth:`open`, which the runner calls before a run's first model call so
    that a log that cannot be written fails before anything runs. ``batched=True`` and
    ``batched=False`` are the older names of ``"batch"`` and ``"call"``.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        durability: Durability | None = None,
        batched: bool | None = None,
        key: str | bytes | None = None,
    ) -> None:
        env = os.environ.get("SLMGRAPH_CALL_LOG")
        where: str | Path = path if path is not None else (env if env and is_url(env) else "")
        #: The PostgreSQL URL, or None for SQLite.
        self.url: str | None = str(where) if is_url(where) else None
        self.path = Path(where) if where and not self.url else default_log_path()
        self.durability: Durability = _durability(durability, batched)
        #: Rows that could not be written (each one also raised or warned about).
        self.lost = 0
        self._cipher = make_cipher(key if key is not None else os.environ.get(KEY_ENV))
        self._lock = threading.Lock()
        self._conn_: Any = None
        self._db_errors: tuple[type[BaseException], ...] = (sqlite3.Error,)
        self._writer = BatchWriter(self._insert, self._lost_message)

    @property
    def batched(self) -> bool:
        """Rows are written off the calling thread (``durability="batch"``)."""
        return self.durability == "batch"

    def __repr__(self) -> str:
        return f"CallLog({self.where!r})"

    @property
    def where(self) -> str:
        """The file, or the URL without its password: for messages."""
        return redact(self.url) if self.url else str(self.path)

    def _sql(self, sql: str) -> str:
        return pg_sql(sql) if self.url else sql

    @property
    def _conn(self) -> Any:
        # Connect on first use: building a graph touches no file (LangGraph's server builds
        # graphs inside its event loop, where blocking I/O is refused).
        if self._conn_ is None and self.url is not None:
            self._conn_, self._db_errors = connect_pg(self.url)
        if self._conn_ is None:
            self._conn_ = connect_sqlite(self.path, fsync=self.durability == "fsync")
        return self._conn_

    def open(self) -> CallLog:
        """Connect now: create the file and tables and write to them, so that a log that cannot
        be written raises :class:`CallLogError` (naming the path and the fix) before any model
        call rather than losing rows later."""
        with self._lock:
            self._conn  # noqa: B018 (connecting is the point)
        return self

    def _row(self, rec: CallRecord) -> dict[str, Any]:
        row = asdict(rec)
        row["messages"] = json.dumps(list(rec.messages), ensure_ascii=False)
        row["constraint_kind"] = next(iter(rec.constraint), None) if rec.constraint else None
        row["constraint_json"] = json.dumps(rec.constraint) if rec.constraint else None
        row["params"] = json.dumps(rec.params) if rec.params else None
        row["logprobs"] = json.dumps(rec.logprobs) if rec.logprobs is not None else None
        del row["constraint"]
        return encrypt_row(self._cipher, row)

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        """Insert rows in one transaction; if that fails, row by row, so one bad row costs only
        itself (its error is raised after the others are in). Rows that fail count in
        ``lost``."""
        cols = list(rows[0])
        sql = self._sql(
            f"INSERT INTO calls ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"
        )
        with self._lock:
            try:
                self._execute(sql, rows, many=True)
                return
            except self._db_errors:
                if len(rows) == 1:
                    self.lost += 1
                    raise
            error: BaseException | None = None
            for row in rows:
                try:
                    self._execute(sql, row)
                except self._db_errors as exc:
                    self.lost += 1
                    error = error or exc
            if error is not None:
                raise error

    def _execute(self, sql: str, params: Any = (), *, many: bool = False) -> Any:
        """One statement (or one ``executemany``) in its own transaction; call with the lock
        held. PostgreSQL: a dropped connection is reopened once (a server restart must not end
        logging); the connection is in autocommit mode, so a read never idles in a transaction.
        """
        for attempt in (1, 2):
            conn = self._conn
            try:
                if self.url is not None:
                    with conn.transaction():
                        cur = conn.cursor()
                        if many:
                            cur.executemany(sql, params)
                        else:
                            cur.execute(sql, params)
                    return cur
                try:
                    cur = conn.executemany(sql, params) if many else conn.execute(sql, params)
                    conn.commit()
                    return cur
                except sqlite3.Error:
                    conn.rollback()
                    raise
            except self._db_errors as exc:
                if self.url is None or attempt == 2 or not is_disconnect(exc):
                    raise
                with contextlib.suppress(Exception):
                    conn.close()
                self._conn_ = None
        raise AssertionError("unreachable")

    def record(self, rec: CallRecord) -> None:
        """Log one call: committed before returning, or queued (``durability="batch"``)."""
        row = self._row(rec)
        if not self.batched:
            try:
                self._insert([row])
            except self._db_errors as exc:
                raise write_error(self.where, exc) from None
            return
        if not self._writer.running:
            self.open()  # in the caller's thread: an unwritable log raises here, not later
            _OPEN_LOGS.add(self)
        self._writer.put(row)

    def _lost_message(self, exc: BaseException, rows: int) -> str:
        why = diagnose(self.path, exc) if self.url is None else str(exc)
        return (
            f"call log {self.where}: {rows} queued call(s) could not be written ({why}); "
            f"{self.lost} lost in all; {FIX}"
        )

    def flush(self) -> None:
        """Wait until every recorded call is in the database (raises a writer error)."""
        self._writer.join()

    def feedback(
        self,
        call_id: str | None,
        score: float,
        note: str | None = None,
        *,
        run_id: str | None = None,
    ) -> int:
        """Attach user feedback to one call, or with ``run_id`` to every call of a run (the
        usual case: a user rates the answer, not each model call; pass ``None`` as the call
        id). Curation drops calls with a negative score. Returns how many calls were rated;
        none is an error (a typo in an id must not pass silently)."""
        if (call_id is None) == (run_id is None):
            raise CallLogError("feedback needs exactly one of call_id and run_id")
        self.flush()
        if note is not None and self._cipher is not None:
            note = encrypt(self._cipher, note)
        column, value = ("call_id", call_id) if call_id is not None else ("run_id", run_id)
        with self._lock:
            cur = self._execute(
                self._sql(f"UPDATE calls SET feedback = ?, feedback_note = ? WHERE {column} = ?"),
                (score, note, value),
            )
            count = int(cur.rowcount)
        if count == 0:
            raise CallLogError(f"no call with {column} {value!r} in {self!r}")
        return count

    def rows(self, where: str = "1=1", params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.flush()
        with self._lock:
            cur = self._execute(
                self._sql(f"SELECT * FROM calls WHERE {where} ORDER BY id"), tuple(params)
            )
            return [decrypt_row(self._cipher, dict(r)) for r in cur.fetchall()]

    def replayable(self, key: str) -> dict[str, Any] | None:
        """The last call logged under ``key`` (see :attr:`CallRecord.replay_key`), decrypted,
        or None."""
        self.flush()
        with self._lock:
            cur = self._execute(
                self._sql("SELECT * FROM calls WHERE replay_key = ? ORDER BY id DESC LIMIT 1"),
                (key,),
            )
            row = cur.fetchone()
        return decrypt_row(self._cipher, dict(row)) if row is not None else None

    def for_run(self, run_id: str) -> list[dict[str, Any]]:
        return self.rows("run_id = ?", (run_id,))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows())

    def close(self) -> None:
        """Flush, stop the writer thread and close the connection (the log reopens on use)."""
        self._writer.stop()
        _OPEN_LOGS.discard(self)
        self.flush()
        with self._lock:
            if self._conn_ is not None:
                self._conn_.close()
                self._conn_ = None


def _durability(durability: str | None, batched: bool | None) -> Durability:
    if durability is None and batched is not None:
        return "batch" if batched else "call"
    chosen = durability or os.environ.get(DURABILITY_ENV) or "call"
    if chosen not in DURABILITIES:
        where = "durability" if durability else f"${DURABILITY_ENV}"
        raise CallLogError(
            f"Unknown call-log {where} {chosen!r}."
            f" {did_you_mean(chosen, DURABILITIES, 'modes') or ''}".rstrip()
        )
    return chosen


def is_shadow(row: dict[str, Any]) -> bool:
    """A shadow call: a candidate tier answering beside the live one (``params.shadow_of``)."""
    params = row.get("params")
    if not params:
        return False
    try:
        return "shadow_of" in (json.loads(params) if isinstance(params, str) else params)
    except (json.JSONDecodeError, TypeError):
        return False


_OPEN_LOGS: weakref.WeakSet[CallLog] = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:
    """Write what is queued at interpreter exit; a row that cannot be written is said on
    stderr (the process is ending: there is nobody left to raise to)."""
    for log in list(_OPEN_LOGS):
        try:
            log.close()
        except Exception as exc:
            print(
                f"slmgraph: call log {log.where}: {log.lost} call(s) could not be written: {exc}",
                file=sys.stderr,
            )
