"""The AST guard: exactly one read-only statement, decided on the parsed tree.

Text checks ("starts with SELECT") are bypassed by ``WITH x AS (...) DELETE`` and
``SELECT 1; DROP ...``; this guard parses with sqlglot and refuses:

- anything but exactly one statement;
- a statement whose root is not a SELECT or a set operation (UNION / INTERSECT / EXCEPT) of them
  (a ``WITH`` clause hangs off its statement, so ``WITH … DELETE`` has a DELETE root);
- anywhere in the tree: DML, DDL, PRAGMA, ATTACH/DETACH, COPY, ``INTO`` (SELECT INTO,
  INTO OUTFILE), locking clauses, transactions, SET/USE, and statements sqlglot keeps as raw
  commands (VACUUM, REINDEX, …);
- calls to functions that touch files, the network or the process (``load_extension``,
  ``readfile``, ``pg_read_file``, ``sleep`` …).

A statement sqlglot cannot parse is refused too: what cannot be checked does not run. The
database's own read-only mode and authorizer stand behind this (see database.py).
"""

from __future__ import annotations

from typing import Any, Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from slmgraph.errors import SlmgraphError


class GuardError(SlmgraphError):
    """A statement was refused before reaching the database; ``reason`` says why."""

    def __init__(self, reason: str, *, kind: Literal["refused", "parse"] = "refused") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


def _classes(*names: str) -> tuple[type[exp.Expression], ...]:
    return tuple(getattr(exp, n) for n in names if isinstance(getattr(exp, n, None), type))


_ROOTS = _classes("Select", "Union", "Intersect", "Except", "Subquery")
_FORBIDDEN = _classes(
    "Insert",
    "Update",
    "Delete",
    "Merge",
    "Create",
    "Drop",
    "Alter",
    "AlterColumn",
    "TruncateTable",
    "Command",
    "Pragma",
    "Attach",
    "Detach",
    "Copy",
    "Into",
    "Set",
    "Use",
    "Transaction",
    "Commit",
    "Rollback",
    "LoadData",
    "Grant",
    "Revoke",
    "Lock",
    "Analyze",
    "Describe",
    "Show",
    "Kill",
    "Cache",
    "Uncache",
    "Refresh",
    "Export",
    "Install",
)
DENIED_FUNCTIONS = frozenset(
    {
        "load_extension",
        "readfile",
        "writefile",
        "edit",
        "fts3_tokenizer",
        "zeroblob",
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_stat_file",
        "pg_sleep",
        "lo_import",
        "lo_export",
        "dblink",
        "dblink_exec",
        "copy",
        "sleep",
        "benchmark",
        "load_file",
        "xp_cmdshell",
        "sys_exec",
        "sys_eval",
        "read_csv",
        "read_csv_auto",
        "read_parquet",
        "read_json",
        "read_text",
        "read_blob",
        "glob",
        "query_table",
    }
)


def _describe(node: Any) -> str:
    name = type(node).__name__
    return {
        "Command": f"the command {str(node.this).upper()!r}" if node.this else "a raw command",
        "Into": "SELECT … INTO",
        "Pragma": "PRAGMA",
        "Lock": "a locking clause",
    }.get(name, name.upper().replace("TRUNCATETABLE", "TRUNCATE"))


def guard(sql: str, dialect: str = "sqlite") -> exp.Expression:
    """Return the parsed statement if it is one read-only query; raise GuardError otherwise."""
    text = (sql or "").strip()
    if not text:
        raise GuardError("the statement is empty", kind="parse")
    try:
        statements = [s for s in sqlglot.parse(text, read=dialect) if s is not None]
    except (ParseError, TokenError) as exc:
        raise GuardError(
            f"could not parse the statement: {_first_error(exc)}", kind="parse"
        ) from None
    if len(statements) != 1:
        raise GuardError(f"exactly one statement is allowed, found {len(statements)}")
    tree = statements[0]
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN):
            raise GuardError(f"{_describe(node)} is not allowed: only read-only queries run")
        if isinstance(node, exp.Func):
            fname = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if fname in DENIED_FUNCTIONS:
                raise GuardError(f"the function {fname}() is not allowed")
    for select in tree.find_all(exp.Select):
        if not select.expressions:
            raise GuardError("a SELECT without columns is incomplete", kind="parse")
    if not isinstance(tree, _ROOTS):
        raise GuardError(f"only SELECT queries are allowed, not {_describe(tree)}")
    return tree


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if errors:
        e = errors[0]
        where = f" (line {e.get('line')}, column {e.get('col')})" if e.get("line") else ""
        return f"{e.get('description', str(exc))}{where}"
    return str(exc).splitlines()[0]
