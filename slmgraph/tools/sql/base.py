"""The interface every database engine implements, and what it returns or raises."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from slmgraph.errors import SlmgraphError
from slmgraph.tools.sql.schema import Schema

#: The dialect models write in (the SQL grammar's, the prompts', sqlglot's reading of their
#: output); each database translates it into its own (:meth:`Database.native`).
WRITE_DIALECT = "sqlite"


class DatabaseError(SlmgraphError):
    """The database refused or failed a statement; ``message`` is fit for a repair prompt."""


@dataclass
class ExecResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool = False
    elapsed_s: float = 0.0


class Database(Protocol):
    dialect: str

    @property
    def name(self) -> str: ...

    def schema(self) -> Schema: ...

    def execute(self, sql: str, *, max_rows: int = 200, timeout_s: float = 10.0) -> ExecResult: ...

    def distinct_values(self, table: str, column: str, limit: int = 2000) -> list[str]: ...

    def native(self, sql: str) -> str:
        """The SQL a model wrote (SQLite's flavour) in this database's dialect."""
        ...

    def close(self) -> None: ...
