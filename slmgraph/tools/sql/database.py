"""Databases behind one interface: SQLite here; DuckDB, PostgreSQL and MySQL/MariaDB in their
own modules (``duckdb_db``, ``postgres_db``, ``mysql_db``, sharing ``engine``).
:func:`open_database` takes a SQLite path or a URL (``sqlite:///``, ``duckdb:///``,
``postgresql://``, ``mysql://``/``mariadb://``).

SQLite's execution is read-only three times over: the statement has passed the AST guard
(guard.py), the connection is opened read-only (SQLite ``mode=ro`` URI plus ``PRAGMA
query_only``), and an authorizer refuses every action but reading, selecting and calling
functions (no ATTACH, PRAGMA, writes or ``load_extension``, no internal tables, whatever got
past the parser). Each statement runs under :class:`~slmgraph.tools.sql.base.Limits`, enforced
inside SQLite where it can: ``SQLITE_LIMIT_LENGTH`` bounds every value it builds, a progress
handler the time, ``hard_heap_limit`` with ``temp_store = MEMORY`` its memory and temp
storage (no temp files), ``SQLITE_LIMIT_ATTACHED = 0`` any ATTACH; rows are then pulled one
at a time under the row and byte budget, so what is past it is never copied into Python.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from slmgraph.tools.sql.base import (
    DEFAULT_LIMITS,
    Database,
    DatabaseError,
    ExecResult,
    LimitError,
    Limits,
    mib,
    take_rows,
)
from slmgraph.tools.sql.duckdb_db import DuckDBDatabase
from slmgraph.tools.sql.guard import DENIED_FUNCTIONS, DENIED_TABLES, clean
from slmgraph.tools.sql.mysql_db import MySQLDatabase
from slmgraph.tools.sql.postgres_db import PostgresDatabase
from slmgraph.tools.sql.schema import Column, ForeignKey, Schema, Table

# sqlite3 authorizer action codes that a read-only query may need.
_ALLOWED_ACTIONS = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    getattr(sqlite3, "SQLITE_RECURSIVE", 33),
}
#: SQLite's GLOB operator is the function glob(): only DuckDB's glob() lists files.
_SQLITE_DENIED_FUNCTIONS = DENIED_FUNCTIONS - {"glob"}
_CATALOG = ("sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema")
_READABLE_INTERNAL = {*_CATALOG, "sqlite_sequence", "sqlite_stat1"}


def _authorizer(
    action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None
) -> int:
    if action == sqlite3.SQLITE_UPDATE and (arg1 or "").lower() in _CATALOG and not trigger:
        # An eponymous virtual table (json_each, json_tree) declares itself in the in-memory
        # schema on first use, which SQLite reports as an UPDATE of sqlite_master; a real
        # one is refused by the guard, the read-only file and query_only.
        return sqlite3.SQLITE_OK
    if action not in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _SQLITE_DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_READ:
        table = (arg1 or "").lower()
        if table.startswith("pragma_") or table in DENIED_TABLES:
            return sqlite3.SQLITE_DENY
        if table.startswith("sqlite_") and table not in _READABLE_INTERNAL:
            return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


@dataclass
class SQLiteDatabase:
    """A SQLite file, opened read-only for every query (a wrong path never creates a file)."""

    path: Path
    dialect: str = "sqlite"
    sample_values: int = 3
    limits: Limits = DEFAULT_LIMITS
    _schema: Schema | None = field(default=None, repr=False)
    _distinct: dict[tuple[str, str], list[str]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if not self.path.is_file():
            raise DatabaseError(f"no SQLite database at {self.path}")
        with self.path.open("rb") as f:
            if f.read(16) != b"SQLite format 3\x00":
                raise DatabaseError(f"{self.path} is not a SQLite database")

    @property
    def name(self) -> str:
        return self.path.stem

    def native(self, sql: str) -> str:
        return sql  # models write SQLite's flavour: nothing to translate

    def close(self) -> None:
        """Nothing to close: each statement opens and closes its own connection."""

    def connect(self) -> sqlite3.Connection:
        uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        conn.execute("PRAGMA query_only = 1")
        # Sorts and temporary tables in memory, under SQLite's (process-wide) heap limit.
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute(f"PRAGMA hard_heap_limit = {int(self.limits.max_memory_bytes)}")
        conn.text_factory = lambda b: b.decode("utf-8", errors="replace")
        return conn

    # -- introspection -------------------------------------------------------------------------

    def schema(self) -> Schema:
        with self._lock:
            if self._schema is None:
                self._schema = self._introspect()
            return self._schema

    def _introspect(self) -> Schema:
        conn = self.connect()
        try:
            rows = conn.execute(
                "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            ).fetchall()
            tables: dict[str, Table] = {}
            for name, kind in rows:
                q = '"' + name.replace('"', '""') + '"'
                cols_info = conn.execute(f"PRAGMA table_info({q})").fetchall()
                fks = [
                    ForeignKey(name, r[3], r[2], r[4] or "")
                    for r in conn.execute(f"PRAGMA foreign_key_list({q})").fetchall()
                ]
                try:
                    count = int(conn.execute(f"SELECT count(*) FROM {q}").fetchone()[0])
                except sqlite3.Error:
                    count = None
                cols = []
                fk_cols = {fk.column for fk in fks}
                for _, cname, ctype, notnull, _, pk in cols_info:
                    samples: tuple[str, ...] = ()
                    # Key columns get no samples: ids tell a model nothing, and cost tokens.
                    if self.sample_values and not pk and cname not in fk_cols:
                        cq = '"' + cname.replace('"', '""') + '"'
                        try:
                            samples = tuple(
                                _short(r[0])
                                for r in conn.execute(
                                    f"SELECT DISTINCT {cq} FROM {q} WHERE {cq} IS NOT NULL "
                                    f"LIMIT {int(self.sample_values)}"
                                ).fetchall()
                            )
                        except sqlite3.Error:
                            samples = ()
                    cols.append(
                        Column(name, cname, (ctype or "").upper(), bool(pk), bool(notnull), samples)
                    )
                tables[name] = Table(name, cols, fks, count, kind)
            # Foreign keys that name a column-less target reference its primary key.
            for t in tables.values():
                fixed = []
                for fk in t.foreign_keys:
                    ref_col = fk.ref_column
                    target = next(
                        (x for n, x in tables.items() if n.lower() == fk.ref_table.lower()), None
                    )
                    if not ref_col and target is not None and target.primary_key:
                        ref_col = target.primary_key[0]
                    fixed.append(
                        ForeignKey(
                            fk.table, fk.column, target.name if target else fk.ref_table, ref_col
                        )
                    )
                t.foreign_keys = fixed
            return Schema("sqlite", tables)
        finally:
            conn.close()

    def distinct_values(self, table: str, column: str, limit: int = 2000) -> list[str]:
        key = (table, column)
        with self._lock:
            if key in self._distinct:
                return self._distinct[key]
        conn = self.connect()
        try:
            tq = '"' + table.replace('"', '""') + '"'
            cq = '"' + column.replace('"', '""') + '"'
            values = [
                str(r[0])
                for r in conn.execute(
                    f"SELECT DISTINCT {cq} FROM {tq} "
                    f"WHERE {cq} IS NOT NULL AND typeof({cq}) = 'text' "
                    f"LIMIT {int(limit)}"
                ).fetchall()
            ]
        except sqlite3.Error:
            values = []
        finally:
            conn.close()
        with self._lock:
            self._distinct[key] = values
        return values

    # -- execution -----------------------------------------------------------------------------

    def execute(
        self,
        sql: str,
        *,
        max_rows: int | None = None,
        timeout_s: float | None = None,
        limits: Limits | None = None,
    ) -> ExecResult:
        """Run one read-only statement (guard it first: see guard.py) under ``limits``."""
        lim = (limits or self.limits).but(max_rows=max_rows, timeout_s=timeout_s)
        start = time.perf_counter()
        conn: sqlite3.Connection | None = None
        try:
            conn = self.connect()
            conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max(1, int(lim.max_cell_bytes)))
            conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
            conn.set_authorizer(_authorizer)
            deadline = time.monotonic() + lim.timeout_s
            conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 100)
            cur = conn.execute(clean(sql))
            columns = [d[0] for d in cur.description or []]
            rows, truncated, size = take_rows(cur, lim)
        except sqlite3.Warning as exc:  # e.g. "You can only execute one statement at a time."
            raise DatabaseError(str(exc)) from None
        except sqlite3.DataError as exc:
            if "too big" in str(exc):
                raise LimitError(_too_big(lim)) from None
            raise DatabaseError(str(exc)) from None
        except MemoryError:
            raise LimitError(_out_of_memory(lim)) from None
        except sqlite3.OperationalError as exc:
            msg = str(exc)
            if msg == "interrupted":
                raise LimitError(f"query exceeded the {lim.timeout_s:g} s timeout") from None
            if "not authorized" in msg:
                msg = f"refused by the read-only authorizer: {msg}"
            raise DatabaseError(msg) from None
        except sqlite3.Error as exc:
            raise DatabaseError(str(exc)) from None
        finally:
            if conn is not None:
                conn.close()
        return ExecResult(columns, rows, truncated, time.perf_counter() - start, size)


def _too_big(lim: Limits) -> str:
    return (
        f"a value in the query is over the {mib(lim.max_cell_bytes)} limit of one value: "
        "select a part of it (substr, length) instead"
    )


def _out_of_memory(lim: Limits) -> str:
    return (
        f"the query needed more than the {mib(lim.max_memory_bytes)} of memory a query may "
        "use: filter, aggregate or LIMIT it before sorting"
    )


def _short(value: Any, limit: int = 40) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_CACHE: dict[tuple[str, float], SQLiteDatabase] = {}
_CACHE_LOCK = threading.Lock()

#: URL schemes by engine (SQLAlchemy's, with its ``+driver`` suffixes accepted).
SCHEMES = {
    "sqlite": "sqlite",
    "duckdb": "duckdb",
    "postgresql": "postgres",
    "postgres": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
}


def engine_of(target: str | Path) -> str:
    """``sqlite``, ``duckdb``, ``postgres`` or ``mysql`` for a path or URL (DatabaseError for
    a scheme slmgraph does not know)."""
    text = str(target)
    if "://" not in text:
        return "duckdb" if text.endswith((".duckdb", ".ddb")) else "sqlite"
    scheme = text.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme not in SCHEMES:
        raise DatabaseError(
            f"unknown database URL scheme {scheme!r}: use a SQLite file, or sqlite:///, "
            "duckdb:///, postgresql://, mysql:// or mariadb://"
        )
    return SCHEMES[scheme]


def _file_of(text: str) -> Path:
    """The file of ``sqlite:///rel``, ``sqlite:////abs`` (SQLAlchemy's convention) or a path."""
    if "://" in text:
        text = text.split("://", 1)[1]
        text = text[1:] if text.startswith("/") else text
    return Path(text).expanduser()


def open_database(target: str | Path) -> Database:
    """A database from a path or URL. SQLite introspection is cached per file version (path
    and modification time) for the life of the process; a server's (and DuckDB's) for
    ``$SLMGRAPH_SCHEMA_TTL_S`` seconds. Server passwords belong in ``$PGPASSWORD`` or
    ``$MYSQL_PWD``; one in the URL works too and is never shown."""
    text = str(target)
    engine = engine_of(text)
    if engine == "postgres":
        return PostgresDatabase(text.replace("+psycopg", "", 1))
    if engine == "mysql":
        return MySQLDatabase(text.replace("+pymysql", "", 1))
    if engine == "duckdb":
        return DuckDBDatabase(_file_of(text))
    path = _file_of(text)
    if not path.is_file():
        raise DatabaseError(f"no SQLite database at {path}")
    key = (str(path.resolve()), path.stat().st_mtime)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = SQLiteDatabase(path)
        return _CACHE[key]


__all__ = [
    "Database",
    "DatabaseError",
    "DuckDBDatabase",
    "ExecResult",
    "MySQLDatabase",
    "PostgresDatabase",
    "SQLiteDatabase",
    "engine_of",
    "open_database",
]
