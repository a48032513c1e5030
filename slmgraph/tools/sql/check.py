"""Check a statement before it runs: guard it, then qualify it against the introspected schema.

sqlglot's errors make ready repair prompts: a parse error has a line and column; an unknown
column is named, and we add the closest real names ("did you mean"). :func:`identifiers` lists
the tables and columns a statement names, for the hallucinated-identifier measure.

SQLite's own names count as known: ``rowid`` (and ``oid``, ``_rowid_``) of every table, the
catalog (``sqlite_master`` / ``sqlite_schema``), the columns of ``json_each`` / ``json_tree``,
``column1…`` of a bare ``VALUES``, and the column lists of CTEs and derived tables
(``WITH RECURSIVE n(x) AS …``). The statement's size is bounded by the guard, which keeps the
qualifier's cost (tokens × depth) near a second at worst; a RecursionError is a refusal.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp
from sqlglot.errors import OptimizeError, SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

from slmgraph.tools.sql.base import WRITE_DIALECT
from slmgraph.tools.sql.guard import GuardError, guard
from slmgraph.tools.sql.schema import Schema


@dataclass
class CheckResult:
    ok: bool
    sql: str
    error: str | None = None
    kind: str | None = None  # "parse" | "refused" | "schema"
    unknown: list[str] = field(default_factory=list)


#: SQLite's catalog tables, readable by every query, with their columns.
CATALOG: dict[str, dict[str, str]] = {
    name: {"type": "TEXT", "name": "TEXT", "tbl_name": "TEXT", "rootpage": "INT", "sql": "TEXT"}
    for name in ("sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema")
}
ROWID = ("rowid", "oid", "_rowid_")
#: Table-valued functions a query may read from, with their columns.
TABLE_FUNCTIONS: dict[str, tuple[str, ...]] = {
    name: ("key", "value", "type", "atom", "id", "parent", "fullkey", "path", "json", "root")
    for name in ("json_each", "json_tree", "jsonb_each", "jsonb_tree")
}
TABLE_FUNCTIONS["generate_series"] = ("value", "start", "stop", "step")


def _values_columns(tree: Any) -> set[str]:
    widest = max((len(t.expressions) for v in tree.find_all(exp.Values) for t in v.expressions
                  if isinstance(t, exp.Tuple)), default=0)  # fmt: skip
    return {f"column{i + 1}" for i in range(widest)}


def unknown_identifiers(tree: Any, schema: Schema) -> list[str]:
    """Tables and columns the statement names that the database lacks (CTE and alias names
    excluded). Column names are checked against every table of the schema — a name that exists
    somewhere is a linking mistake, not a hallucination."""
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    aliases = {a.alias.lower() for a in tree.find_all(exp.Alias) if a.alias}
    aliases |= {c.name.lower() for a in tree.find_all(exp.TableAlias) for c in a.columns}
    aliases |= _values_columns(tree) | set(ROWID)
    tables = {t.lower() for t in schema.tables} | set(CATALOG) | set(TABLE_FUNCTIONS)
    columns = {c.name.lower() for t in schema.tables.values() for c in t.columns}
    columns |= {c for cols in CATALOG.values() for c in cols}
    for t in tree.find_all(exp.Table):
        if isinstance(t.this, exp.Func):  # a table-valued function: Table.name is ""
            columns |= set(TABLE_FUNCTIONS.get(t.this.name.lower(), ()))
    out: list[str] = []
    for t in tree.find_all(exp.Table):
        name = t.name.lower()
        if name and name not in tables and name not in ctes:
            out.append(t.name)
    for c in tree.find_all(exp.Column):
        name = c.name.lower()
        if not name or name == "*" or isinstance(c.this, exp.Star):
            continue
        if name not in columns and name not in aliases:
            out.append(c.sql())
    return list(dict.fromkeys(out))


def _suggest(
    name: str, schema: Schema, tables: list[str] | None = None, kind: str = "column"
) -> str:
    """ " Did you mean …?" with the closest column names (of ``tables``, else all) or, for
    ``kind="table"``, the closest table names."""
    if kind == "table":
        names = list(schema.tables)
    else:
        names = list(
            dict.fromkeys(
                c.name
                for t in schema.tables.values()
                if tables is None or t.name in tables
                for c in t.columns
            )
        )
    low = {n.lower(): n for n in names}
    close = [low[m] for m in difflib.get_close_matches(name.lower(), list(low), n=3, cutoff=0.5)]
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def _misplaced_columns(tree: exp.Expr, schema: Schema) -> str | None:
    """For ``T2.ArtistId`` where T2 is a table without that column: say so, and where it is."""
    aliases: dict[str, str] = {}
    for t in tree.find_all(exp.Table):
        real = schema.canonical(t.name)
        if real:
            aliases[(t.alias or t.name).lower()] = real
            aliases[t.name.lower()] = real
    for c in tree.find_all(exp.Column):
        if not c.table or isinstance(c.this, exp.Star):
            continue
        real = aliases.get(c.table.lower())
        table = schema.table(real) if real else None
        if table is None or table.column(c.name) is not None:
            continue
        owners = [t.name for t in schema.tables.values() if t.column(c.name) is not None]
        where = f"; {c.name} is a column of {', '.join(owners)}" if owners else ""
        alias = f" ({c.table})" if c.table.lower() != table.name.lower() else ""
        return f"table {table.name}{alias} has no column {c.name}{where}."
    return None


def _mapping(schema: Schema) -> dict[str, object]:
    """The schema for sqlglot's qualifier, with SQLite's catalog and each table's rowid."""
    mapping: dict[str, object] = dict(CATALOG)
    for name, table in schema.tables.items():
        columns = {c.name: (c.type or "TEXT") for c in table.columns}
        if table.kind == "table":
            for pseudo in ROWID:
                columns.setdefault(pseudo, "INTEGER")
        mapping[name] = columns
    return mapping


def _name_values(tree: exp.Expr) -> exp.Expr:
    """A bare ``FROM (VALUES …)`` named as SQLite names it (``column1``, …), for the qualifier."""
    for i, values in enumerate(list(tree.find_all(exp.Values))):
        if values.args.get("alias") is None and isinstance(values.parent, exp.From | exp.Join):
            width = max((len(t.expressions) for t in values.expressions), default=0)
            values.set(
                "alias",
                exp.TableAlias(
                    this=exp.to_identifier(f"_values{i}"),
                    columns=[exp.to_identifier(f"column{j + 1}") for j in range(width)],
                ),
            )
    return tree


def check_sql(sql: str, schema: Schema) -> CheckResult:
    """Guard + qualify. ``error`` is phrased for the query fixer."""
    try:
        tree = guard(sql, WRITE_DIALECT)
    except GuardError as err:
        return CheckResult(False, sql, err.reason, err.kind)
    try:
        return _check_tree(sql, tree, schema)
    except RecursionError:
        return CheckResult(False, sql, "the statement is nested too deeply to check", "refused")


def _check_tree(sql: str, tree: exp.Expr, schema: Schema) -> CheckResult:
    unknown = unknown_identifiers(tree, schema)
    tables_named = {t.name for t in tree.find_all(exp.Table)}
    try:
        mapping = _mapping(schema)
        qualify(
            _name_values(tree.copy()),
            schema=MappingSchema(mapping, dialect=WRITE_DIALECT),
            dialect=WRITE_DIALECT,
            validate_qualify_columns=True,
            quote_identifiers=False,
        )
    except OptimizeError as exc:
        misplaced = _misplaced_columns(tree, schema)
        if misplaced:
            return CheckResult(False, sql, misplaced[:1].upper() + misplaced[1:], "schema", unknown)
        msg = str(exc).splitlines()[0]
        m = re.search(r"Column '([^']+)' could not be resolved", msg) or re.search(
            r"Unknown column: (\S+)", msg
        )
        if m:
            col = m.group(1).split(".")[-1].strip('"`')
            original = next((u for u in unknown if u.split(".")[-1].lower() == col.lower()), col)
            msg = msg.replace(m.group(1), original.split(".")[-1])
            msg += _suggest(
                col,
                schema,
                [t.name for t in tree.find_all(exp.Table) if schema.table(t.name)] or None,
            )
        elif unknown:
            msg += _suggest(
                unknown[0].split(".")[-1],
                schema,
                kind="table" if unknown[0] in tables_named else "column",
            )
        return CheckResult(False, sql, msg, "schema", unknown)
    except SqlglotError as exc:
        return CheckResult(False, sql, str(exc).splitlines()[0], "schema", unknown)
    if unknown:
        names = ", ".join(repr(u) for u in unknown)
        first = unknown[0]
        what = "table" if first in tables_named else "column"
        return CheckResult(
            False,
            sql,
            f"unknown {what} {names}." + _suggest(first.split(".")[-1], schema, kind=what),
            "schema",
            unknown,
        )
    return CheckResult(True, sql)
