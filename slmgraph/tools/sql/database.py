"""Databases behind one interface: SQLite here; DuckDB, PostgreSQL and MySQL/MariaDB in their
own modules (``duckdb_db``, ``postgres_db``, ``mysql_db``, sharing ``engine``).
:func:`open_database` takes a SQLite path or a URL (``sqlite:///``, ``duckdb:///``,
``postgresql://``, ``mysql://``/``mariadb://``).

SQLite's execution is read-only three times over: the statement has passed the AST guard
(guard.py), the connection is opened read-only (SQLite ``mode=ro`` URI plus ``PRAGMA
query_only``), and an authorizer refuses every action but reading, selecting and calling
functions (no ATTACH, PRAGMA, writes or ``load_extension``, whatever got past the parser).
Each query has a row limit and a wall-clock timeout.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from slmgraph.tools.sql.base import Database, DatabaseError, ExecResult
from slmgraph.tools.sql.duckdb_db import DuckDBDatabase
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
_DENIED_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"}


def _authorizer(
    action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None
) -> int:
    if action not in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    if (
        action == sqlite3.SQLITE_READ
        and (arg1 or "").lower().startswith("sqlite_")
        and (arg1 or "").lower() not in ("sqlite_master", "sqlite_schema", "sqlite_sequence")
    ):
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


@dataclass
class SQLiteDatabase:
    """A SQLite file, opened read-only for every query (a wrong path never creates a file)."""

    path: Path
    dialect: str = "sqlite"
    sample_values: int = 3
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

    def execute(self, sql: str, *, max_rows: int = 200, timeout_s: float = 10.0) -> ExecResult:
        """Run one read-only statement (guard it first: see guard.py)."""
        conn = self.connect()
        conn.set_authorizer(_authorizer)
        deadline = time.monotonic() + timeout_s
        conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 1000)
        start = time.perf_counter()
        try:
            cur = conn.execute(sql)
            rows = cur.fetchmany(max_rows + 1)
            columns = [d[0] for d in cur.description or []]
        except sqlite3.Warning as exc:  # e.g. "You can only execute one statement at a time."
            raise DatabaseError(str(exc)) from None
        except sqlite3.OperationalError as exc:
            msg = str(exc)
            if msg == "interrupted":
                msg = f"query exceeded the {timeout_s:g} s timeout"
            elif "not authorized" in msg:
                msg = f"refused by the read-only authorizer: {msg}"
            raise DatabaseError(msg) from None
        except sqlite3.Error as exc:
            raise DatabaseError(str(exc)) from None
        finally:
            conn.close()
        truncated = len(rows) > max_rows
        return ExecResult(
            columns, [list(r) for r in rows[:max_rows]], truncated, time.perf_counter() - start
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
