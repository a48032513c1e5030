"""MySQL and MariaDB through PyMySQL: every statement in a ``START TRANSACTION READ ONLY``
(rolled back) under the server's statement timeout — ``max_execution_time`` on MySQL,
``max_statement_time`` on MariaDB; connect as a user granted only SELECT. The password comes
from ``$MYSQL_PWD``; a URL's own is accepted and never shown. A Unix socket:
``mysql://user@localhost/db?unix_socket=/run/mysqld/mysqld.sock``.

Limits (base.py): the time is the server's statement timeout; rows are taken under the row
and byte budget and each value checked against the cell limit, but PyMySQL's buffered cursor
has read the whole result by then (an unbuffered one must be drained before the ROLLBACK);
``max_allowed_packet`` on the server bounds one row."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from slmgraph.tools.sql.base import DatabaseError, LimitError, Limits, take_rows
from slmgraph.tools.sql.engine import Catalog, EngineDatabase, db_name_of, redact

_TABLES = """
SELECT TABLE_NAME, IF(TABLE_TYPE = 'VIEW', 'view', 'table') FROM information_schema.TABLES
WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME
"""
_COLUMNS = """
SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE = 'NO', COLUMN_KEY = 'PRI'
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()
ORDER BY TABLE_NAME, ORDINAL_POSITION
"""
_FOREIGN_KEYS = """
SELECT TABLE_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME
FROM information_schema.KEY_COLUMN_USAGE
WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL
"""


def connect_args(url: str) -> dict[str, Any]:
    """PyMySQL's arguments for a ``mysql://`` URL: host and port or ``?unix_socket=``, the
    database, the user, and the password from the URL or ``$MYSQL_PWD``."""
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    kwargs: dict[str, Any] = {
        "user": unquote(parts.username or os.environ.get("USER", "root")),
        "password": (
            unquote(parts.password) if parts.password else os.environ.get("MYSQL_PWD", "")
        ),
        "database": db_name_of(url),
        "charset": "utf8mb4",
        "connect_timeout": 10,
        "autocommit": True,
    }
    if "unix_socket" in query:
        kwargs["unix_socket"] = query["unix_socket"]
    else:
        kwargs["host"] = parts.hostname or "localhost"
        kwargs["port"] = parts.port or 3306
    return kwargs


class MySQLDatabase(EngineDatabase):
    dialect = "mysql"
    # LIKE as SQLite's, ignoring case, under any collation (LOWER(x) LIKE LOWER(p)): the
    # default ones ignore case already, a binary one (as the loader makes) does not.
    case_sensitive_like = True
    limit_in_subquery = False

    def __init__(self, url: str) -> None:
        super().__init__(url, db_name_of(url))
        self.mariadb = False

    def _connect(self) -> Any:
        try:
            import pymysql  # the optional 'mysql' extra
        except ImportError as exc:
            raise DatabaseError(
                "a MySQL/MariaDB database needs PyMySQL: pip install 'slmgraph[mysql]'"
            ) from exc
        kwargs = connect_args(self.url)
        try:
            conn = pymysql.connect(**kwargs)
            with conn.cursor() as cur:
                cur.execute("SELECT VERSION()")
                self.mariadb = "mariadb" in str(cur.fetchone()[0]).lower()
                if self.mariadb:  # no ANY_VALUE, and bare columns are fine by default
                    self.bare_columns = None
                cur.execute("SET SESSION TRANSACTION READ ONLY")
        except pymysql.Error as exc:
            raise DatabaseError(f"cannot connect to {redact(self.url)}: {exc}") from None
        return conn

    def native(self, sql: str) -> str:
        self.conn  # noqa: B018  (connecting tells MariaDB from MySQL, which translate apart)
        return super().native(sql)

    def _catalog(self) -> Catalog:
        tables = [(str(n), str(k)) for n, k in self._rows(_TABLES, 100_000)]
        columns = [
            (str(t), str(c), str(ty), bool(nn), bool(pk))
            for t, c, ty, nn, pk in self._rows(_COLUMNS, 1_000_000)
        ]
        fks = [
            (str(t), str(c), str(rt), str(rc))
            for t, c, rt, rc in self._rows(_FOREIGN_KEYS, 100_000)
        ]
        return Catalog(tables, columns, fks)

    def _run(
        self, sql: str, max_rows: int, timeout_s: float, limits: Limits | None = None
    ) -> tuple[list[str], list[list[Any]], bool, int]:
        import pymysql

        limits = (limits or self.limits).but(max_rows=max_rows, timeout_s=timeout_s)
        conn = self.conn
        timeout_s = limits.timeout_s
        limit = (
            f"SET SESSION max_statement_time = {max(0.001, timeout_s):.3f}"
            if self.mariadb
            else f"SET SESSION max_execution_time = {max(1, int(timeout_s * 1000))}"
        )
        try:
            with conn.cursor() as cur:
                cur.execute(limit)
                cur.execute("START TRANSACTION READ ONLY")
                try:
                    cur.execute(sql)
                    columns = [d[0] for d in cur.description or []]
                    rows, truncated, size = take_rows(cur, limits, check_cells=True)
                finally:
                    cur.execute("ROLLBACK")
        except pymysql.err.OperationalError as exc:
            code = exc.args[0] if exc.args else None
            if code in (1969, 3024):  # MariaDB's and MySQL's "statement timeout exceeded"
                raise LimitError(f"query exceeded the {timeout_s:g} s timeout") from None
            if code in (2006, 2013):  # the server went away: reconnect next time
                self._conn = None
            raise DatabaseError(str(exc.args[-1] if exc.args else exc)) from None
        except pymysql.Error as exc:
            raise DatabaseError(str(exc.args[-1] if exc.args else exc)) from None
        except MemoryError:
            raise LimitError("the query ran out of memory: filter, aggregate or LIMIT it") from None
        return columns, rows, truncated, size
