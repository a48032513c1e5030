"""What the SQL roles share: the database of a run, SQL extraction, the grammar for a scope."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from slmgraph.constraints.base import Constraint
from slmgraph.constraints.sql_grammar import sql_grammar
from slmgraph.tools.sql.database import Database
from slmgraph.tools.sql.hooks import run_database
from slmgraph.tools.sql.text import extract_sql

__all__ = [
    "GrammarMode",
    "Scope",
    "extract_sql",
    "grammar_for",
    "run_database",
    "scope_columns",
    "write_update",
]

Scope = Literal["linked", "tables", "neighbours", "candidates", "all"]


def scope_columns(state: Mapping[str, Any], db: Database, scope: Scope) -> dict[str, list[str]]:
    """Tables and columns a writer may use: the re-ranked ones, every column of the linked
    tables, those plus their foreign-key neighbours, every candidate table, or the whole
    database."""
    schema = db.schema()
    linked: dict[str, list[str]] = dict(state.get("linked") or {})
    if scope == "linked" and linked:
        return linked
    if scope in ("linked", "tables") and linked:
        names = list(linked)
    elif scope == "neighbours" and linked:
        names = list(linked)
        for t in list(linked):
            names += [n for n in sorted(schema.neighbours(t)) if n not in names]
    elif scope in ("linked", "tables", "candidates") and state.get("candidates"):
        names = list(state["candidates"])
    else:
        names = list(schema.tables)
    out = {}
    for n in names:
        table = schema.table(n)
        if table is not None:
            out[table.name] = [c.name for c in table.columns]
    return out


GrammarMode = Literal["structured", "qualified", "lexical", "off"]


def grammar_for(
    columns: Mapping[str, list[str]], dialect: str, mode: GrammarMode
) -> Constraint | None:
    if mode == "off":
        return None
    cols = [c for cs in columns.values() for c in cs]
    gbnf = sql_grammar(list(columns), cols, dialect=dialect, mode=mode, owners=columns)
    return Constraint.grammar(gbnf=gbnf)


def write_update(
    node: str,
    sql: str,
    mean_logprob: float | None,
    tier: str | None,
    samples: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "sql": sql,
        "sql_logprob": mean_logprob,
        "sql_source": node,
        "sql_samples": samples or [],
        "attempts": [{"node": node, "tier": tier, "sql": sql}],
    }
