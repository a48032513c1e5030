"""DuckDB, in process: a ``read_only`` connection with external access disabled (no files, no
network, no extensions loaded or installed) and its configuration locked, so no statement can
turn it back on; a statement past its timeout is interrupted. Limits (base.py): its
``memory_limit`` is the memory limit, with no temp directory (nothing spills to disk); rows are
taken under the row and byte budget, each value checked against the cell limit."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from slmgraph.tools.sql.base import DatabaseError, LimitError, Limits, take_rows
from slmgraph.tools.sql.engine import Catalog, EngineDatabase


class DuckDBDatabase(EngineDatabase):
    dialect = "duckdb"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise DatabaseError(f"no DuckDB database at {self.path}")
        super().__init__(f"duckdb:///{self.path}", self.path.stem)

    def _connect(self) -> Any:
        try:
            import duckdb  # the optional 'duckdb' extra
        except ImportError as exc:
            raise DatabaseError(
                "a DuckDB database needs duckdb: pip install 'slmgraph[duckdb]'"
            ) from exc
        config: dict[str, str | bool | int | float | list[str]] = {
            "enable_external_access": False,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "memory_limit": f"{max(1, self.limits.max_memory_bytes // 2**20)}MiB",
            "temp_directory": "",
            "lock_configuration": True,
        }
        try:
            return duckdb.connect(str(self.path), read_only=True, config=config)
        except duckdb.Error as exc:
            raise DatabaseError(f"cannot open {self.path} with DuckDB: {exc}") from None

    def _catalog(self) -> Catalog:
        rows = self._meta(
            "SELECT table_name, 'table' FROM duckdb_tables() WHERE NOT internal "
            "AND schema_name = current_schema() UNION ALL SELECT view_name, 'view' FROM "
            "duckdb_views() WHERE NOT internal AND schema_name = current_schema() ORDER BY 1"
        )
        tables = [(str(n), str(k)) for n, k in rows]
        pks: set[tuple[str, str]] = set()
        fks: list[tuple[str, str, str, str]] = []
        for table, kind, cols, ref_table, ref_cols in self._meta(
            "SELECT table_name, constraint_type, constraint_column_names, referenced_table, "
            "referenced_column_names FROM duckdb_constraints() WHERE schema_name = current_schema()"
        ):
            if kind == "PRIMARY KEY":
                pks.update((table, c) for c in cols)
            elif kind == "FOREIGN KEY":
                fks += [(table, c, ref_table, r) for c, r in zip(cols, ref_cols, strict=False)]
        columns = [
            (str(t), str(c), str(ty), not nullable, (t, c) in pks)
            for t, c, ty, nullable in self._meta(
                "SELECT table_name, column_name, data_type, is_nullable FROM duckdb_columns() "
                "WHERE NOT internal AND schema_name = current_schema() ORDER BY table_name, "
                "column_index"
            )
        ]
        return Catalog(tables, columns, fks)

    def _meta(self, sql: str) -> list[Any]:
        import duckdb

        try:
            rows: list[Any] = self.conn.execute(sql).fetchall()
        except duckdb.Error as exc:
            raise DatabaseError(f"cannot read DuckDB's catalog: {exc}") from None
        return rows

    def _run(
        self, sql: str, max_rows: int, timeout_s: float, limits: Limits | None = None
    ) -> tuple[list[str], list[list[Any]], bool, int]:
        import duckdb

        limits = (limits or self.limits).but(max_rows=max_rows, timeout_s=timeout_s)
        conn = self.conn
        timer = threading.Timer(limits.timeout_s, conn.interrupt)
        timer.start()
        try:
            cur = conn.execute(sql)
            columns = [d[0] for d in cur.description or []]
            chunk = max(1, min(limits.max_rows + 1, 50))
            batches = iter(lambda: cur.fetchmany(chunk), [])
            rows, truncated, size = take_rows(
                (row for batch in batches for row in batch), limits, check_cells=True
            )
        except duckdb.InterruptException:
            raise LimitError(f"query exceeded the {limits.timeout_s:g} s timeout") from None
        except (duckdb.OutOfMemoryException, MemoryError):
            raise LimitError("the query ran out of memory: filter, aggregate or LIMIT it") from None
        except duckdb.Error as exc:
            raise DatabaseError(str(exc).split("\n")[0]) from None
        finally:
            timer.cancel()
        return columns, rows, truncated, size
