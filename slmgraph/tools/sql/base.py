"""The interface every database engine implements, what it returns or raises, and the limits
that bound one statement (stated here once; each engine enforces what it can, see its module)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from slmgraph.errors import SlmgraphError
from slmgraph.tools.sql.schema import Schema

#: The dialect models write in (the SQL grammar's, the prompts', sqlglot's reading of their
#: output); each database translates it into its own (:meth:`Database.native`).
WRITE_DIALECT = "sqlite"

#: The guard's bounds on a statement's text (guard.py): tokens, and nesting of parentheses and
#: CASE … END. sqlglot's parser recurses about twenty frames per parenthesis and fails near 45
#: of them under Python's default recursion limit; the checker's qualifier costs tokens × depth
#: (a chain of 1,000 ORs takes about a second). A model's query is rarely over 300 tokens.
MAX_SQL_TOKENS = 4_000
MAX_NESTING = 32
#: Prefix operators in a row (``NOT NOT …``, ``- - 1``): each is a level of the parser too.
MAX_UNARY_RUN = 16
#: printf/format widths and precisions: SQLite pads inside one call, out of a timeout's reach.
MAX_PRINTF_WIDTH = 10_000


@dataclass(frozen=True)
class Limits:
    """The bounds of one statement's execution. Defaults here; the ``sql.execute`` node's
    params and a database's own ``limits`` override them.

    - ``max_rows``: rows returned; more are cut and the result says ``truncated``.
    - ``timeout_s``: wall-clock seconds inside the engine (SQLite: a progress handler).
    - ``max_cell_bytes``: the largest value (string or blob) the engine may build, in the
      result or on the way to it (SQLite: ``SQLITE_LIMIT_LENGTH``, so ``randomblob(1e9)`` fails
      before it allocates); the other engines check values as rows arrive.
    - ``max_result_bytes``: the bytes of values taken from the engine, counted row by row as
      they are pulled, so the rows past the budget are never copied into Python; they are cut
      (``truncated``), and a first row alone over it is an error.
    - ``max_memory_bytes``: SQLite's heap (``PRAGMA hard_heap_limit``), with temporary tables
      and sorts kept in memory (``temp_store = MEMORY``) so they count against it and write no
      temp files: an ORDER BY over millions of rows fails at the limit instead of spilling to
      disk. The heap limit is process-wide and can only be lowered; the smallest set wins.
      DuckDB: its ``memory_limit``, with no temp directory.
    """

    max_rows: int = 200
    timeout_s: float = 10.0
    max_cell_bytes: int = 1_000_000
    max_result_bytes: int = 16_000_000
    max_memory_bytes: int = 256 * 2**20

    def but(self, **changes: Any) -> Limits:
        """These limits with the given fields changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


DEFAULT_LIMITS = Limits()


class DatabaseError(SlmgraphError):
    """The database refused or failed a statement; ``message`` is fit for a repair prompt."""


class LimitError(DatabaseError):
    """A statement hit one of its :class:`Limits` (time, cell size, memory, result size)."""


@dataclass
class ExecResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool = False
    elapsed_s: float = 0.0
    #: Bytes of the values returned (as :func:`value_bytes` counts them).
    size_bytes: int = 0


class Database(Protocol):
    dialect: str
    limits: Limits

    @property
    def name(self) -> str: ...

    def schema(self) -> Schema: ...

    def execute(
        self,
        sql: str,
        *,
        max_rows: int | None = None,
        timeout_s: float | None = None,
        limits: Limits | None = None,
    ) -> ExecResult:
        """Run one guarded read-only statement under ``limits`` (default: the database's),
        ``max_rows`` and ``timeout_s`` overriding theirs."""
        ...

    def distinct_values(self, table: str, column: str, limit: int = 2000) -> list[str]: ...

    def native(self, sql: str) -> str:
        """The SQL a model wrote (SQLite's flavour) in this database's dialect."""
        ...

    def close(self) -> None: ...


def value_bytes(value: Any) -> int:
    """What a value weighs in a result: its length for text and blobs, 8 for anything else."""
    if isinstance(value, str | bytes | bytearray | memoryview):
        return len(value)
    return 8


def mib(n: int) -> str:
    """Bytes for a message: ``256 MiB`` (a whole number of MiB), ``1 MB``, ``512 bytes``."""
    if n >= 2**20 and n % 2**20 == 0:
        return f"{n // 2**20} MiB"
    if n >= 1_000_000:
        return f"{n / 1_000_000:g} MB"
    return f"{n:,} bytes"


def take_rows(
    rows: Iterable[Sequence[Any]], limits: Limits, *, check_cells: bool = False
) -> tuple[list[list[Any]], bool, int]:
    """Pull rows one at a time until ``max_rows`` or ``max_result_bytes``: the rows, whether
    more were left, and their bytes. ``check_cells`` checks each value against
    ``max_cell_bytes`` (for engines that cannot enforce it themselves). Raises LimitError when
    the first row alone is over the byte budget (or a value over the cell limit)."""
    out: list[list[Any]] = []
    total = 0
    for row in rows:
        if len(out) >= limits.max_rows:
            return out, True, total
        size = 0
        for value in row:
            n = value_bytes(value)
            if check_cells and n > limits.max_cell_bytes:
                raise LimitError(
                    f"a value of {mib(n)} is over the {mib(limits.max_cell_bytes)} limit of one "
                    "value: select a part of it (substr, length) instead"
                )
            size += n
        if total + size > limits.max_result_bytes:
            if not out:
                raise LimitError(
                    f"one result row holds {mib(size)}, over the {mib(limits.max_result_bytes)} "
                    "limit of a result: select fewer or shorter columns"
                )
            return out, True, total
        out.append(list(row))
        total += size
    return out, False, total
