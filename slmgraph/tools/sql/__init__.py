"""SQL tools: introspect a database, guard and check a statement, execute it read-only.

Small pure functions over sqlglot where possible (parse -> guard -> qualify), one concern per
module. The database is behind one interface (:class:`~slmgraph.tools.sql.base.Database`):
SQLite, DuckDB, PostgreSQL and MySQL/MariaDB, opened by :func:`open_database` from a path or a
URL; models write SQLite's flavour and each engine runs it translated by sqlglot.
"""

from slmgraph.tools.sql.database import Database, ExecResult, open_database
from slmgraph.tools.sql.guard import GuardError, guard
from slmgraph.tools.sql.schema import Column, ForeignKey, Schema, Table

__all__ = [
    "Column",
    "Database",
    "ExecResult",
    "ForeignKey",
    "GuardError",
    "Schema",
    "Table",
    "guard",
    "open_database",
]
