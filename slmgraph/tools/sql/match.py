"""Do two queries answer alike? Execution match: gold and predicted SQL run read-only; rows
compared as multisets, in order only when the gold query orders its result; an error or a
timeout is a mismatch. Spider's execution accuracy and ``slmgraph select``'s judge use it."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from slmgraph.tools.sql.base import WRITE_DIALECT
from slmgraph.tools.sql.database import Database, DatabaseError, open_database
from slmgraph.tools.sql.guard import GuardError, guard


@dataclass
class ExecOutcome:
    rows: list[tuple[Any, ...]] | None
    error: str | None


def _database(db: Path | str | Database) -> Database:
    return open_database(db) if isinstance(db, str | Path) else db


def run_sql(
    db: Path | str | Database, sql: str, timeout_s: float, max_rows: int = 100_000
) -> ExecOutcome:
    """Guard and run one statement read-only; its rows normalised for comparison."""
    try:
        database = _database(db)
        guard(sql, WRITE_DIALECT)  # gold and predicted SQL are SQLite's flavour, like Spider's
        result = database.execute(database.native(sql), max_rows=max_rows, timeout_s=timeout_s)
    except (GuardError, DatabaseError) as exc:
        return ExecOutcome(None, str(exc))
    return ExecOutcome([tuple(_norm(v) for v in r) for r in result.rows], None)


def _norm(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, float):
        return round(v, 6)
    return v


def _numeric(value: Any) -> Any:
    """Text that reads back as a number, as that number (``'2014'``, not ``'02134'``)."""
    if isinstance(value, str):
        for cast in (int, float):
            try:
                number = cast(value)
            except ValueError:
                continue
            if str(number) == value:
                return _norm(number)
    return value


def gold_is_ordered(gold: str, dialect: str = "sqlite") -> bool:
    try:
        tree = sqlglot.parse_one(gold, read=dialect)
    except sqlglot.errors.ParseError:
        return "order by" in gold.lower()
    return tree.args.get("order") is not None or (
        isinstance(tree, exp.Subquery) and tree.this.args.get("order") is not None
    )


def execution_match(
    db: Path | str | Database,
    gold: str,
    pred: str | None,
    timeout_s: float = 30.0,
    *,
    extra_columns: bool = False,
    gold_db: Path | str | Database | None = None,
) -> tuple[bool, str | None, ExecOutcome | None]:
    """(correct, error of the prediction, its execution outcome).

    ``extra_columns=True`` also accepts a result that holds the gold result's columns among
    others (``SELECT name, count(*)`` for "which genre has the most tracks?"), as a user reads
    an answer; Spider's EX (the default) wants the same columns. ``gold_db``: run the gold
    query there instead (the same data on the reference engine)."""
    if not pred:
        return False, "no SQL", None
    try:
        database = _database(db)
    except DatabaseError as exc:
        return False, str(exc), None
    predicted = run_sql(database, pred, timeout_s)
    if predicted.error is not None:
        return False, predicted.error, predicted
    expected = run_sql(database if gold_db is None else _database(gold_db), gold, timeout_s)
    if gold_db is not None and expected.rows is not None and predicted.rows is not None:
        # Across engines a number may come back as text on one side ('2014' on SQLite, where
        # the column was declared text; 2014 where it was loaded as a number): the same value.
        expected = ExecOutcome([tuple(map(_numeric, r)) for r in expected.rows], None)
        predicted = ExecOutcome([tuple(map(_numeric, r)) for r in predicted.rows], None)
    if expected.error is not None:
        return False, f"gold query failed: {expected.error}", predicted
    assert expected.rows is not None and predicted.rows is not None
    ordered = gold_is_ordered(gold, WRITE_DIALECT)
    if same_rows(expected.rows, predicted.rows, ordered):
        return True, None, predicted
    if extra_columns:
        return holds_columns(expected.rows, predicted.rows, ordered), None, predicted
    return False, None, predicted


def same_rows(
    expected: list[tuple[Any, ...]], predicted: list[tuple[Any, ...]], ordered: bool
) -> bool:
    if ordered:
        return expected == predicted
    return Counter(map(repr, expected)) == Counter(map(repr, predicted))


def holds_columns(
    expected: list[tuple[Any, ...]], predicted: list[tuple[Any, ...]], ordered: bool
) -> bool:
    """Do some of the predicted columns, in some order, give exactly the expected rows?"""
    if len(expected) != len(predicted) or not expected:
        return False
    width, have = len(expected[0]), len(predicted[0])
    if width > have or have > 12:  # past 12 columns the answer is not one a user reads
        return False
    for cols in itertools.permutations(range(have), width):
        projected = [tuple(r[c] for c in cols) for r in predicted]
        if same_rows(expected, projected, ordered):
            return True
    return False
