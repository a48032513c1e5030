"""The call log's database: its schema, opening a connection (SQLite or PostgreSQL), and the
one-line errors that say why a log cannot be written and how to fix it.

A log that cannot be written must fail before the first model call, never lose rows silently:
opening creates the tables and writes the schema version, so a read-only folder, a full disk, a
path under a file or a file that is not SQLite all fail here, each with its own message.
"""

from __future__ import annotations

import errno
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

from slmgraph.errors import SlmgraphError

#: 2: ``tier_size`` (the tier's size class); 3: ``replay_key`` and ``logprobs`` (a call's place
#: in a run on a durable thread and its token log-probabilities, so that a resumed run replays
#: it exactly instead of calling again). Older logs gain the columns when opened.
SCHEMA_VERSION = 3

SCHEMA = """
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
    feedback_note TEXT,
    replay_key    TEXT,
    logprobs      TEXT
);
CREATE INDEX IF NOT EXISTS calls_run ON calls (run_id, ts);
CREATE INDEX IF NOT EXISTS calls_node_ts ON calls (node, ts);
CREATE INDEX IF NOT EXISTS calls_tier_ts ON calls (tier, ts);
CREATE INDEX IF NOT EXISTS calls_model ON calls (model);
CREATE INDEX IF NOT EXISTS calls_status ON calls (status, ts);
CREATE INDEX IF NOT EXISTS calls_group ON calls (call_group);
"""

PG_SCHEMA = SCHEMA.replace(
    "INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
).replace(" REAL", " DOUBLE PRECISION")

_MIGRATE_PG = (
    "ALTER TABLE calls ADD COLUMN IF NOT EXISTS tier_size TEXT;"
    "ALTER TABLE calls ADD COLUMN IF NOT EXISTS replay_key TEXT;"
    "ALTER TABLE calls ADD COLUMN IF NOT EXISTS logprobs TEXT;"
    "CREATE INDEX IF NOT EXISTS calls_replay ON calls (replay_key)"
)
#: Columns added since version 1, for SQLite (which has no ADD COLUMN IF NOT EXISTS).
_ADDED = ("tier_size", "replay_key", "logprobs")

#: How to point a run at another log; every open and write error ends with it.
FIX = (
    "point --call-log, $SLMGRAPH_CALL_LOG or the spec's call_log.path at a writable file, "
    "or pass --no-log"
)


class CallLogError(SlmgraphError):
    """The call log cannot be read or written as asked (e.g. a wrong encryption key)."""


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def connect_sqlite(path: Path, *, fsync: bool) -> sqlite3.Connection:
    """Open (creating) the SQLite log in WAL mode and write its schema version.

    ``synchronous=NORMAL`` makes a commit durable against a killed process (the bytes are in
    the operating system's cache) at the cost of a ``write``, no ``fsync``; ``fsync=True``
    (``FULL``) adds an ``fsync`` per commit, for power loss and operating system crashes.
    """
    memory = str(path) == ":memory:"
    try:
        if not memory:
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
    except (OSError, sqlite3.Error) as exc:
        raise open_error(path, exc) from None
    try:
        conn.row_factory = sqlite3.Row
        if not memory:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        conn.executescript(SCHEMA)
        columns = {r[1] for r in conn.execute("PRAGMA table_info(calls)").fetchall()}
        for column in _ADDED:  # an older log
            if column not in columns:
                conn.execute(f"ALTER TABLE calls ADD COLUMN {column} TEXT")
        conn.execute("CREATE INDEX IF NOT EXISTS calls_replay ON calls (replay_key)")
        # Always a write, even on an existing log: a log that takes no writes fails here.
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )
        conn.commit()
    except (OSError, sqlite3.Error) as exc:
        conn.close()
        raise open_error(path, exc) from None
    return conn


def connect_pg(url: str) -> tuple[Any, tuple[type[BaseException], ...]]:
    """A psycopg connection (autocommit, dict rows) with the tables created, and psycopg's
    error class. A commit returns once the server has it (``synchronous_commit`` on, the
    server's default): a killed client loses nothing it was told is written."""
    try:
        import psycopg
        from psycopg.rows import dict_row
    except ImportError as exc:
        raise CallLogError(
            "a PostgreSQL call log needs psycopg: pip install -e '.[postgres]'"
        ) from exc
    try:
        conn = psycopg.connect(url, row_factory=dict_row, connect_timeout=10, autocommit=True)
    except psycopg.Error as exc:
        raise CallLogError(f"cannot connect to the call log at {redact(url)}: {exc}") from None
    try:
        with conn.transaction():
            conn.execute(PG_SCHEMA)
            conn.execute(_MIGRATE_PG)
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (str(SCHEMA_VERSION),),
            )
    except psycopg.Error as exc:
        conn.close()
        raise CallLogError(f"cannot create the call-log tables at {redact(url)}: {exc}") from None
    return conn, (psycopg.Error,)


def open_error(path: Path, exc: BaseException) -> CallLogError:
    """One line: which log, what is wrong with it, and the fix."""
    return CallLogError(f"call log {path}: {diagnose(path, exc)}; {FIX}")


def write_error(where: str, exc: BaseException) -> CallLogError:
    """A call that was made but could not be logged (the run stops: nothing goes unlogged)."""
    if any(cls.__name__ == "IntegrityError" for cls in type(exc).__mro__):
        return CallLogError(f"call log {where}: a call could not be written ({exc})")  # a bug
    what = diagnose(Path(where), exc) if not where.startswith("postgres") else str(exc)
    return CallLogError(f"call log {where}: a call could not be written ({what}); {FIX}")


def diagnose(path: Path, exc: BaseException) -> str:
    """Why ``path`` cannot hold a log, in words, from the error SQLite or the OS gave."""
    text = str(exc).strip() or type(exc).__name__
    low = text.lower()
    blocker = _file_in_the_way(path)
    if blocker is not None:
        return f"{blocker} is a file, so it cannot hold a folder ({text})"
    if path.is_dir():
        return f"it is a folder, not a file ({text})"
    code = exc.errno if isinstance(exc, OSError) else None
    if code == errno.ENOSPC or "disk is full" in low:
        return f"the disk is full ({text}): free some space"
    if "not a database" in low:
        return f"the file is not an SQLite database ({text}): move it away"
    folder = path.parent if path.parent.exists() else _existing_ancestor(path)
    readonly = "readonly" in low or "read-only" in low or code in (errno.EACCES, errno.EROFS)
    if readonly or isinstance(exc, PermissionError) or not os.access(folder, os.W_OK):
        return f"it is not writable ({text}): make {folder} writable"
    return text


def _existing_ancestor(path: Path) -> Path:
    for parent in path.parents:
        if parent.exists():
            return parent
    return Path("/")


def _file_in_the_way(path: Path) -> Path | None:
    """The first ancestor of ``path`` that exists and is not a folder."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def is_url(location: str | Path | None) -> bool:
    """A PostgreSQL URL rather than a file path."""
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def pg_sql(sql: str) -> str:
    """SQLite's placeholders (``?``, ``:name``) as psycopg's (``%s``, ``%(name)s``)."""
    sql = sql.replace("%", "%%")
    sql = re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)s", sql)
    return sql.replace("?", "%s")


def is_disconnect(exc: BaseException) -> bool:
    """A dropped PostgreSQL connection (worth one reconnect)."""
    try:
        import psycopg
    except ImportError:
        return False
    return isinstance(exc, psycopg.OperationalError)
