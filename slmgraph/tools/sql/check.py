"""Check a statement before it runs: guard it, then qualify it against the introspected schema.

sqlglot's errors make ready repair prompts: a parse error has a line and column; an unknown
column is named, and we add the closest real names ("did you mean"). :func:`identifiers` lists
the tables and columns a statement names, for the hallucinated-identifier measure.
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


def unknown_identifiers(tree: Any, schema: Schema) -> list[str]:
    """Tables and columns the statement names that the database lacks (CTE and alias names
    excluded). Column names are checked against every table of the schema — a name that exists
    somewhere is a linking mistake, not a hallucination."""
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    aliases = {a.alias.lower() for a in tree.find_all(exp.Alias) if a.alias}
    tables = {t.lower() for t in schema.tables}
    columns = {c.name.lower() for t in schema.tables.values() for c in t.columns}
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


def _misplaced_columns(tree: exp.Expression, schema: Schema) -> str | None:
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


def check_sql(sql: str, schema: Schema) -> CheckResult:
    """Guard + qualify. ``error`` is phrased for the query fixer."""
    try:
        tree = guard(sql, WRITE_DIALECT)
    except GuardError as err:
        return CheckResult(False, sql, err.reason, err.kind)
    unknown = unknown_identifiers(tree, schema)
    tables_named = {t.name for t in tree.find_all(exp.Table)}
    try:
        mapping: dict[str, object] = dict(schema.mapping())
        qualify(
            tree.copy(),
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
