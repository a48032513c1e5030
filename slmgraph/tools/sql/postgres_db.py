"""PostgreSQL through psycopg 3: every statement in its own read-only transaction (rolled back)
with ``statement_timeout``, on a session that defaults to read-only; connect as a role that
can only SELECT (``docs``: ``GRANT SELECT``), which no statement can get past. The password
comes from ``$PGPASSWORD`` (or a ``.pgpass`` file); a URL's own is accepted and never shown.

Limits (base.py): the time is ``statement_timeout``; rows come through a server-side cursor,
a few at a time, under the row and byte budget, each value checked against the cell limit
(the server itself has none below 1 GB: a role's ``temp_file_limit`` and ``work_mem``, which
only a superuser sets, bound its temp files and sorts)."""

from __future__ import annotations

from typing import Any

from slmgraph.tools.sql.base import DatabaseError, LimitError, Limits, take_rows
from slmgraph.tools.sql.engine import Catalog, EngineDatabase, db_name_of, redact

_TABLES = """
SELECT c.relname, CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'view' ELSE 'table' END
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm')
  AND has_table_privilege(c.oid, 'SELECT')
ORDER BY c.relname
"""
_COLUMNS = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary
               AND a.attnum = ANY (i.indkey))
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm')
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum
"""
_FOREIGN_KEYS = """
SELECT c.relname, a.attname, rc.relname, ra.attname
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class rc ON rc.oid = k.confrelid
CROSS JOIN LATERAL unnest(k.conkey, k.confkey) AS u(col, ref)
JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.col
JOIN pg_attribute ra ON ra.attrelid = k.confrelid AND ra.attnum = u.ref
WHERE k.contype = 'f' AND n.nspname = current_schema()
"""


class PostgresDatabase(EngineDatabase):
    dialect = "postgres"
    bare_columns = "MIN"  # ANY_VALUE only since PostgreSQL 16; MIN reads the same on one value

    def __init__(self, url: str) -> None:
        super().__init__(url.replace("postgres://", "postgresql://", 1), db_name_of(url))

    def _connect(self) -> Any:
        try:
            import psycopg  # the optional 'postgres' extra
        except ImportError as exc:
            raise DatabaseError(
                "a PostgreSQL database needs psycopg: pip install 'slmgraph[postgres]'"
            ) from exc
        try:
            conn = psycopg.connect(self.url, connect_timeout=10, autocommit=True)
            conn.execute("SET default_transaction_read_only = on")
        except psycopg.Error as exc:
            raise DatabaseError(
                f"cannot connect to {redact(self.url)}: {_first_line(exc)}"
            ) from None
        return conn

    def _catalog(self) -> Catalog:
        tables = [(str(n), str(k)) for n, k in self._rows(_TABLES, 100_000)]
        names = {t for t, _ in tables}
        columns = [
            (str(t), str(c), str(ty), bool(nn), bool(pk))
            for t, c, ty, nn, pk in self._rows(_COLUMNS, 1_000_000)
            if t in names
        ]
        fks = [
            (str(t), str(c), str(rt), str(rc))
            for t, c, rt, rc in self._rows(_FOREIGN_KEYS, 100_000)
            if t in names
        ]
        return Catalog(tables, columns, fks)

    def _run(
        self, sql: str, max_rows: int, timeout_s: float, limits: Limits | None = None
    ) -> tuple[list[str], list[list[Any]], bool, int]:
        import psycopg

        limits = (limits or self.limits).but(max_rows=max_rows, timeout_s=timeout_s)
        conn = self.conn
        timeout_ms = max(1, int(limits.timeout_s * 1000))
        try:
            with conn.transaction(force_rollback=True):
                conn.execute("SET TRANSACTION READ ONLY")
                conn.execute(f"SET LOCAL statement_timeout = {timeout_ms}")
                # A server-side cursor: rows cross the wire a few at a time, not all at once.
                with conn.cursor(name="slmgraph_query") as cur:
                    cur.itersize = max(1, min(limits.max_rows + 1, 50))
                    cur.execute(sql.encode())  # guarded SQL as bytes: not a query template
                    columns = [d.name for d in cur.description or []]
                    rows, truncated, size = take_rows(cur, limits, check_cells=True)
        except psycopg.errors.QueryCanceled:
            raise LimitError(f"query exceeded the {limits.timeout_s:g} s timeout") from None
        except (psycopg.errors.OutOfMemory, MemoryError):
            raise LimitError("the query ran out of memory: filter, aggregate or LIMIT it") from None
        except psycopg.errors.InsufficientPrivilege as exc:
            raise DatabaseError(
                f"refused by the database's privileges: {_first_line(exc)}"
            ) from None
        except psycopg.Error as exc:
            if conn.closed:
                self._conn = None  # a dropped connection is opened again next time
            raise DatabaseError(_first_line(exc)) from None
        return columns, rows, truncated, size


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().split("\n")[0]
