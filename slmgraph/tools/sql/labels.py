"""Names beside keys: when a query answers "which X" with X's key alone, add X's name.

Asked "Which category has the most products?", the 0.5B writes
``SELECT CategoryID FROM Products GROUP BY CategoryID ORDER BY COUNT(*) DESC LIMIT 1``: the
query is right and the answer, ``8``, is useless to the person who asked. On the sample
databases' first questions this was the most common wrong answer (3 of 12); on Spider it is rare
(1 of 100 train answers, 2 of 640 dev, all wrong either way), because Spider's schemas and
questions name the column they want.

The fix is deterministic and keeps the query as written: when the result is one bare column
that is a table's primary key or a foreign key to one, and the question does not ask for an id
(``id``, ``code``, ``number``), the entity's label columns are appended as correlated scalar
subqueries — ``(SELECT _l.CategoryName FROM Categories AS _l WHERE _l.CategoryID =
Products.CategoryID)`` — so grouping, order and limits are untouched and every engine reads it.
The label is the entity's first name-like text column in declared order (``Name``, ``Title``,
``CompanyName``...), or ``FirstName`` and ``LastName`` together.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from slmgraph.tools.sql.base import WRITE_DIALECT
from slmgraph.tools.sql.schema import Schema, Table

_ASKS_FOR_KEY = re.compile(r"\b(ids?|identifiers?|codes?|numbers?|keys?)\b", re.I)
_NAMEY = re.compile(r"(name|title)$", re.I)
_KEYISH = re.compile(r"(id|code|key|no|num)$", re.I)
_TEXT = re.compile(r"char|text|clob|string|^$", re.I)


def label_columns(table: Table) -> list[str]:
    """The columns that name a row of ``table`` for a person: first+last name together, else
    the first name-like text column in declared order; [] when there is none."""
    by_low = {c.name.lower(): c.name for c in table.columns}
    for first, last in (("firstname", "lastname"), ("first_name", "last_name")):
        if first in by_low and last in by_low:
            return [by_low[first], by_low[last]]
    for c in table.columns:
        if c.primary_key or not _TEXT.search(c.type or ""):
            continue
        if _NAMEY.search(c.name):
            return [c.name]
    return []


def _entity(schema: Schema, table: str, column: str) -> tuple[Table, str] | None:
    """The table whose rows ``table.column`` identifies and its key column: the referenced
    table for a foreign key, ``table`` itself for its single-column primary key."""
    t = schema.table(table)
    if t is None or t.column(column) is None:
        return None
    for fk in t.foreign_keys:
        ref = schema.table(fk.ref_table)
        if fk.column.lower() == column.lower() and ref is not None and fk.ref_column:
            return ref, fk.ref_column
    if [k.lower() for k in t.primary_key] == [column.lower()]:
        return t, t.column(column).name  # type: ignore[union-attr]
    return None


def add_labels(sql: str, schema: Schema, question: str) -> tuple[str, str] | None:
    """``(sql with label columns, note)``, or None when the query does not return a bare key
    (or the question asks for one, or the entity has no name-like column)."""
    if _ASKS_FOR_KEY.search(question):
        return None
    try:
        tree = sqlglot.parse_one(sql, read=WRITE_DIALECT)
    except (SqlglotError, RecursionError):
        return None
    if not isinstance(tree, exp.Select) or len(tree.expressions) != 1:
        return None
    col = tree.expressions[0]
    if not isinstance(col, exp.Column) or isinstance(col.this, exp.Star) or not col.name:
        return None
    if not _KEYISH.search(col.name) or _NAMEY.search(col.name):
        return None  # ``District`` or ``song_name``: the writer chose a column, not a key
    sources: dict[str, str] = {}  # alias (or table name) -> table, this SELECT's FROM and JOINs
    for src in [tree.args.get("from_"), *(tree.args.get("joins") or [])]:
        table = src.this if src is not None else None
        if not isinstance(table, exp.Table):
            return None  # a derived table: its columns are not the schema's to judge
        real = schema.canonical(table.name)
        if real is None:
            return None
        sources[table.alias_or_name] = real
    if col.table:
        alias = next((a for a in sources if a.lower() == col.table.lower()), None)
    else:
        owners = [a for a, t in sources.items() if schema.table(t).column(col.name)]  # type: ignore[union-attr]
        alias = owners[0] if len(owners) == 1 else None
    if alias is None:
        return None
    found = _entity(schema, sources[alias], col.name)
    if found is None:
        return None
    entity, key = found
    labels = label_columns(entity)
    if not labels:
        return None
    table = schema.table(sources[alias])
    assert table is not None
    qualifier = sources[alias] if alias.lower() == sources[alias].lower() else alias
    outer = exp.column(table.column(col.name).name, table=qualifier, quoted=True)  # type: ignore[union-attr]
    for label in labels:
        sub = (
            exp.select(exp.column(label, table="_l", quoted=True))
            .from_(exp.table_(entity.name, quoted=True).as_("_l"))
            .where(exp.EQ(this=exp.column(key, table="_l", quoted=True), expression=outer.copy()))
        )
        tree.select(exp.alias_(exp.Subquery(this=sub), label, quoted=True), copy=False)
    note = f"{col.name} is a key of {entity.name}: added {', '.join(labels)}"
    return tree.sql(dialect=WRITE_DIALECT), note
