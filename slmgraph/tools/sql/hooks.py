"""What the query-writer domain plugs into the core besides its nodes.

- the resource ``sql.database``: the run's database, opened once per run from the state key
  ``db`` (a SQLite path; later URLs of other engines) and shared by every SQL node of the run;
- the validator ``sql_executes`` (a cascade escalates SQL that fails the AST guard or the
  database);
- the judge ``sql`` of ``slmgraph select``: examples that carry their ``db`` are scored by
  execution against the teacher's (or gold) query;
- the shape ``sql`` of ``slmgraph finetune --balance-by sql``: join / nested / group / plain;
- the equivalence ``sql``: two queries are the same answer when sqlglot normalises them alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from slmgraph.context import RunContext
from slmgraph.errors import RunError, SlmgraphError
from slmgraph.registry import (
    register_equivalence,
    register_judge,
    register_resource,
    register_shape,
    register_validator,
)
from slmgraph.tools.sql.base import WRITE_DIALECT
from slmgraph.tools.sql.database import Database, DatabaseError, open_database
from slmgraph.tools.sql.guard import guard
from slmgraph.tools.sql.match import execution_match
from slmgraph.tools.sql.text import extract_sql

DATABASE = "sql.database"


def _open(state: Mapping[str, Any]) -> Database:
    target = state.get("db")
    if not target:
        raise RunError("no database given: set the state key 'db' to a SQLite file or a URL")
    try:
        return open_database(str(target))
    except DatabaseError as exc:
        raise RunError(str(exc)) from None


def _close(db: Database) -> None:
    db.close()


register_resource(
    DATABASE,
    _open,
    _close,
    description="The run's database, from the state key 'db' (a SQLite file or a URL)",
    reads=("db",),
)


def run_database(ctx: RunContext, state: Mapping[str, Any], node: str) -> Database:
    """The database of this run (opened on first use; a RunError naming the node if none)."""
    db: Database = ctx.resource(DATABASE, state, node)
    return db


@register_validator("sql_executes", reads=("db",))
def sql_executes(value: Any, state: Mapping[str, Any], ctx: RunContext) -> str | None:
    """The SQL passes the AST guard, and then runs read-only on the run's database under its
    limits (one row). Nothing reaches the database before the guard has passed it."""
    try:
        sql = extract_sql(str(value))
        guard(sql, WRITE_DIALECT)
    except SlmgraphError as exc:
        return str(exc)
    db: Database = ctx.resource(DATABASE, state)  # no database is the run's error, not the SQL's
    try:
        db.execute(db.native(sql), max_rows=1)
    except SlmgraphError as exc:
        return str(exc)
    except MemoryError:
        return "the statement did not fit in memory"
    return None


def _judge_applies(example: dict[str, Any]) -> bool:
    return bool(example.get("db"))


def _judge(example: dict[str, Any], output: str, timeout_s: float) -> bool:
    reference = str(example.get("gold") or example.get("output") or "")
    ok, _, _ = execution_match(Path(example["db"]), reference, extract_sql(output), timeout_s)
    return ok


register_judge("sql", _judge_applies, _judge)


def sql_shape(sql: str, dialect: str = "sqlite") -> str:
    """A coarse structural class of one SQL statement, for balancing training data.

    ``nested`` (a set operation or a subquery), ``join`` (more than one table), ``group``
    (GROUP BY on one table), ``plain``; ``unparsed`` when sqlglot cannot read it. The first that
    applies wins, so a query that joins inside a subquery is ``nested``."""
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except Exception:  # any parse failure is one class
        return "unparsed"
    if tree is None:
        return "unparsed"
    # a set operation, or any SELECT inside the outer one (FROM (...), IN (...), = (...))
    if isinstance(tree, exp.SetOperation) or any(s is not tree for s in tree.find_all(exp.Select)):
        return "nested"
    if tree.find(exp.Join) is not None:
        return "join"
    if tree.find(exp.Group) is not None:
        return "group"
    return "plain"


register_shape("sql", sql_shape)


_SQL_START = re.compile(r"\s*(select|with)\b", re.I)


def same_sql(a: str, b: str) -> bool | None:
    """Equal after sqlglot normalisation (None when either is not SQL sqlglot reads)."""
    if not (_SQL_START.match(a) and _SQL_START.match(b)):
        return None
    try:
        na = sqlglot.transpile(a, read="sqlite", write="sqlite")[0].casefold()
        nb = sqlglot.transpile(b, read="sqlite", write="sqlite")[0].casefold()
    except Exception:  # SQL sqlglot cannot read: no opinion
        return None
    return na == nb


register_equivalence("sql", same_sql)

__all__ = ["DATABASE", "run_database", "same_sql", "sql_executes", "sql_shape"]
