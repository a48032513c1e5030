"""The call log: one row per model call, in SQLite (default) — the raw material of everything
that comes later: the conversion pipeline's training data (by node = workload), the router's
calibration (by tier and outcome), cost and latency reports (by tier, model and time).

Schema notes:

- ``calls`` keeps messages, constraint and output as JSON text so a call can be replayed.
- ``attempt``/``fallback_from`` record fallback chains: a call that failed on ``slm`` and was
  answered by ``llm`` is two rows with the same ``call_group``.
- Indexes serve the later queries: per run (trace), per node and time (curation, drift), per tier
  and time (routing, costs), per status (failure rates).
- ``CallLog("postgresql://user@host/db")`` (the ``postgres`` extra, psycopg 3) keeps the same
  table in PostgreSQL, for a log shared by several processes or hosts; every query here is
  written once and translated (``?``/``:name`` placeholders, identity column, float type).
- With ``$SLMGRAPH_LOG_KEY`` (or ``CallLog(key=...)``), a Fernet key, the columns that carry user
  data (messages, output, error, feedback note) are encrypted at rest; the rest stays clear so
  cost and routing reports need no key. Reads decrypt with the key; without it they return the
  ciphertext unchanged; a wrong key is an error, never garbage.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import queue
import re
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slmgraph.errors import SlmgraphError

#: 2: ``tier_size`` (the tier's size class); logs of version 1 gain the column when opened.
SCHEMA_VERSION = 2

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
    tier_size     TEXT,
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


#: A Fernet key (``python -c "from cryptography.fernet import Fernet;
#: print(Fernet.generate_key().decode())"``): prompts and outputs are encrypted at rest.
KEY_ENV = "SLMGRAPH_LOG_KEY"
#: The columns that can carry user data. Ids, tiers, tokens, latency and cost stay clear, so
#: costs, routing and drift reports need no key.
ENCRYPTED_COLUMNS = ("messages", "output", "error", "feedback_note")
_PREFIX = "enc:fernet:"


class CallLogError(SlmgraphError):
    """The call log cannot be read or written as asked (e.g. a wrong encryption key)."""


def _cipher(key: str | bytes | None) -> Any:
    if not key:
        return None
    try:
        from cryptography.fernet import Fernet
    except ImportError as exc:
        raise CallLogError(
            f"${KEY_ENV} is set but the 'cryptography' package is missing: "
            "pip install -e '.[crypto]'"
        ) from exc
    try:
        return Fernet(key.encode("ascii") if isinstance(key, str) else key)
    except (ValueError, TypeError) as exc:
        raise CallLogError(
            f"${KEY_ENV} is not a Fernet key (32 url-safe base64-encoded bytes): {exc}"
        ) from None


def is_url(location: str | Path | None) -> bool:
    """A PostgreSQL URL rather than a file path."""
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def _pg_sql(sql: str) -> str:
    """SQLite's placeholders (``?``, ``:name``) as psycopg's (``%s``, ``%(name)s``)."""
    sql = sql.replace("%", "%%")
    sql = re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)s", sql)
    return sql.replace("?", "%s")


_PG_SCHEMA = _SCHEMA.replace(
    "INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
).replace(" REAL", " DOUBLE PRECISION")


_MIGRATE_PG = "ALTER TABLE calls ADD COLUMN IF NOT EXISTS tier_size TEXT"


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

    def __post_init__(self) -> None:
        if not self.call_group:
            self.call_group = self.call_id


class CallLog:
    """Append-only log of model calls in SQLite (a path) or PostgreSQL (a ``postgresql://``
    URL). Thread-safe; one connection per log.

    Writes are batched off the calling thread (``batched=True``, the default): ``record`` puts
    the row on a queue and returns; a writer thread inserts whatever has queued in one
    transaction. Every read (``rows``, ``for_run``, iteration) and ``feedback`` flushes first,
    so a reader always sees its own calls; ``close`` and interpreter exit flush too.
    ``batched=False`` writes each row before ``record`` returns.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        batched: bool = True,
        key: str | bytes | None = None,
    ) -> None:
        env = os.environ.get("SLMGRAPH_CALL_LOG")
        where: str | Path = path if path is not None else (env if env and is_url(env) else "")
        #: The PostgreSQL URL, or None for SQLite.
        self.url: str | None = str(where) if is_url(where) else None
        self.path = Path(where) if where and not self.url else default_log_path()
        self.batched = batched
        self._cipher = _cipher(key if key is not None else os.environ.get(KEY_ENV))
        self._lock = threading.Lock()
        self._conn_: Any = None
        self._db_errors: tuple[type[BaseException], ...] = (sqlite3.Error,)
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._writer_lock = threading.Lock()
        self._error: BaseException | None = None

    def __repr__(self) -> str:
        where = _redact(self.url) if self.url else str(self.path)
        return f"CallLog({where!r})"

    def _sql(self, sql: str) -> str:
        return _pg_sql(sql) if self.url else sql

    def _connect_pg(self) -> Any:
        try:
            import psycopg
            from psycopg.rows import dict_row
        except ImportError as exc:
            raise CallLogError(
                "a PostgreSQL call log needs psycopg: pip install -e '.[postgres]'"
            ) from exc
        assert self.url is not None
        self._db_errors = (psycopg.Error,)
        try:
            conn = psycopg.connect(
                self.url, row_factory=dict_row, connect_timeout=10, autocommit=True
            )
        except psycopg.Error as exc:
            raise CallLogError(
                f"cannot connect to the call log at {_redact(self.url)}: {exc}"
            ) from None
        try:
            with conn.transaction():
                conn.execute(_PG_SCHEMA)
                conn.execute(_MIGRATE_PG)
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    (str(SCHEMA_VERSION),),
                )
        except psycopg.Error as exc:
            conn.close()
            raise CallLogError(
                f"cannot create the call-log tables at {_redact(self.url)}: {exc}"
            ) from None
        return conn

    @property
    def _conn(self) -> Any:
        # Connect on first use: building a graph touches no file (LangGraph's server builds
        # graphs inside its event loop, where blocking I/O is refused).
        if self._conn_ is None and self.url is not None:
            self._conn_ = self._connect_pg()
        if self._conn_ is None:
            if str(self.path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
            conn.row_factory = sqlite3.Row
            if str(self.path) != ":memory:":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            columns = {r[1] for r in conn.execute("PRAGMA table_info(calls)").fetchall()}
            if "tier_size" not in columns:  # a version-1 log
                conn.execute("ALTER TABLE calls ADD COLUMN tier_size TEXT")
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            conn.commit()
            self._conn_ = conn
        return self._conn_

    def _row(self, rec: CallRecord) -> dict[str, Any]:
        row = asdict(rec)
        row["messages"] = json.dumps(list(rec.messages), ensure_ascii=False)
        row["constraint_kind"] = next(iter(rec.constraint), None) if rec.constraint else None
        row["constraint_json"] = json.dumps(rec.constraint) if rec.constraint else None
        row["params"] = json.dumps(rec.params) if rec.params else None
        del row["constraint"]
        if self._cipher is not None:
            for col in ENCRYPTED_COLUMNS:
                if row.get(col) is not None:
                    token = self._cipher.encrypt(str(row[col]).encode("utf-8")).decode("ascii")
                    row[col] = _PREFIX + token
        return row

    def _decrypt(self, row: dict[str, Any]) -> dict[str, Any]:
        for col in ENCRYPTED_COLUMNS:
            value = row.get(col)
            if isinstance(value, str) and value.startswith(_PREFIX):
                if self._cipher is None:
                    continue  # no key: the ciphertext stays as it is
                from cryptography.fernet import InvalidToken

                try:
                    row[col] = self._cipher.decrypt(value[len(_PREFIX) :]).decode("utf-8")
                except InvalidToken:
                    raise CallLogError(
                        f"call {row.get('call_id')}: {col} was encrypted with another key than "
                        f"${KEY_ENV}"
                    ) from None
        return row

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        """Insert rows in one transaction; if that fails, row by row, so one bad row costs only
        itself (its error is raised after the others are in)."""
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
                    raise
            error: BaseException | None = None
            for row in rows:
                try:
                    self._execute(sql, row)
                except self._db_errors as exc:
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
                if self.url is None or attempt == 2 or not _is_disconnect(exc):
                    raise
                with contextlib.suppress(Exception):
                    conn.close()
                self._conn_ = None
        raise AssertionError("unreachable")

    def record(self, rec: CallRecord) -> None:
        row = self._row(rec)
        if not self.batched:
            self._insert([row])
            return
        self._ensure_writer()
        self._queue.put(row)

    def _ensure_writer(self) -> None:
        if self._writer is not None and self._writer.is_alive():
            return
        with self._writer_lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(
                    target=self._drain, name="slmgraph-calllog", daemon=True
                )
                self._writer.start()
                _OPEN_LOGS.add(self)

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            batch: list[dict[str, Any]] = []
            stop = item is None
            if item is not None:
                batch.append(item)
            while not stop and len(batch) < 512:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                else:
                    batch.append(nxt)
            try:
                if batch:
                    self._insert(batch)
            except BaseException as exc:  # kept and raised to the next flush: never lost silently
                self._error = exc
            finally:
                for _ in range(len(batch) + (1 if stop else 0)):
                    self._queue.task_done()
            if stop:
                return

    def flush(self) -> None:
        """Wait until every recorded call is in the database (raises a writer error)."""
        if self.batched and self._writer is not None:
            self._queue.join()
        if self._error is not None:
            err, self._error = self._error, None
            raise err

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
            note = _PREFIX + self._cipher.encrypt(note.encode("utf-8")).decode("ascii")
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
            return [self._decrypt(dict(r)) for r in cur.fetchall()]

    def for_run(self, run_id: str) -> list[dict[str, Any]]:
        return self.rows("run_id = ?", (run_id,))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows())

    def close(self) -> None:
        """Flush, stop the writer thread and close the connection (the log reopens on use)."""
        if self._writer is not None and self._writer.is_alive():
            self._queue.put(None)
            self._writer.join()
        self._writer = None
        _OPEN_LOGS.discard(self)
        self.flush()
        with self._lock:
            if self._conn_ is not None:
                self._conn_.close()
                self._conn_ = None


def is_shadow(row: dict[str, Any]) -> bool:
    """A shadow call: a candidate tier answering beside the live one (``params.shadow_of``)."""
    params = row.get("params")
    if not params:
        return False
    try:
        return "shadow_of" in (json.loads(params) if isinstance(params, str) else params)
    except (json.JSONDecodeError, TypeError):
        return False


def _is_disconnect(exc: BaseException) -> bool:
    try:
        import psycopg
    except ImportError:
        return False
    return isinstance(exc, psycopg.OperationalError)


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


_OPEN_LOGS: weakref.WeakSet[CallLog] = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:
    for log in list(_OPEN_LOGS):
        with contextlib.suppress(Exception):  # best effort at interpreter exit
            log.close()
