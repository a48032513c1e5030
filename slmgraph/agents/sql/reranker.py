"""Re-ranker: orders and filters the extracted tables and their columns into the linked schema
the writer sees.

- Tables on the shortest foreign-key path between chosen tables are added (a join needs them).
- Columns: when the chosen tables are narrow (``max_columns`` in all), every column is kept and
  no model is called; wider schemas ask the slm to pick columns (a JSON enum of ``table.column``).
- Primary- and foreign-key columns that join the kept tables are always kept.
- Value hints: distinct values of text columns that match words of the question.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from slmgraph.agents.sql.common import run_database
from slmgraph.constraints.base import Constraint
from slmgraph.context import RunContext
from slmgraph.prompts import load_prompt
from slmgraph.registry import NodeEnv, NodeFn, State, Update, register_agent
from slmgraph.tools.sql.schema import Schema
from slmgraph.tools.sql.values import value_hints


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = "sql/columns"
    max_columns: int = Field(40, ge=1, description="Above this many columns, the slm filters")
    keep_columns: int = Field(24, ge=1, description="How many columns the slm may keep")
    bridge: bool = Field(True, description="Add tables on the FK path between chosen tables")
    hints: bool = Field(True, description="Add value hints from the database")
    max_tokens: int = 200


def focus_hints(
    hints: dict[str, dict[str, list[str]]], chosen: list[str], schema: Schema
) -> dict[str, dict[str, list[str]]]:
    """One place per named value: where the chosen tables hold it, only there; else in one
    more table (a base table before a view, then in the candidates' order). A value that
    many views repeat (Northwind's "Beverages" is in six) would otherwise pull every one of
    them into the writer's schema."""
    holders: dict[str, list[tuple[str, str]]] = {}
    for table, cols in hints.items():
        for column, values in cols.items():
            for value in values:
                holders.setdefault(value, []).append((table, column))
    order = {t: i for i, t in enumerate(hints)}
    keep: set[tuple[str, str, str]] = set()
    for value, places in holders.items():
        inside = [p for p in places if p[0] in chosen]
        if not inside:
            best = min(places, key=lambda p: (schema.tables[p[0]].kind == "view", order[p[0]]))
            inside = [best]
        keep.update((t, c, value) for t, c in inside)
    out: dict[str, dict[str, list[str]]] = {}
    for table, cols in hints.items():
        for column, values in cols.items():
            kept = [v for v in values if (table, column, v) in keep]
            if kept:
                out.setdefault(table, {})[column] = kept
    return out


def bridge_tables(schema: Schema, tables: list[str]) -> list[str]:
    out = list(tables)
    for i, a in enumerate(tables):
        for b in tables[i + 1 :]:
            if b in schema.neighbours(a):
                continue
            path = schema.join_path(a, b)
            for t in path or []:
                if t not in out:
                    out.append(t)
    return out


@register_agent(
    "sql.reranker",
    Params,
    reads=lambda p, b: ["question", "db"],
    writes=lambda p: ["linked", "hints"],
    prompts=lambda p: {"prompt": p.prompt},
    prompt_vars=frozenset({"columns"}),
    description="Order and filter tables and columns; keep join keys; value hints",
)
def reranker(env: NodeEnv) -> NodeFn:
    params: Params = env.params
    template = load_prompt(params.prompt, env.spec.base_dir)

    def run(state: State, ctx: RunContext) -> Update:
        db = run_database(ctx, state, env.name)
        schema = db.schema()
        tables = [t for t in (schema.canonical(n) for n in state.get("tables") or []) if t]
        candidates = [
            t
            for t in (schema.canonical(n) for n in state.get("candidates") or list(schema.tables))
            if t
        ]
        if not tables:
            tables = candidates[:3]
        hints: dict[str, Any] = {}
        if params.hints:
            # Value linking: a candidate table holding a value the question names joins in.
            all_columns = {t: [c.name for c in schema.tables[t].columns] for t in candidates}
            hints = focus_hints(
                value_hints(db, all_columns, str(state.get("question", ""))), tables, schema
            )
            tables += [t for t in hints if t not in tables]
        if params.bridge:
            tables = bridge_tables(schema, tables)
        columns = {t: [c.name for c in schema.tables[t].columns] for t in tables}
        total = sum(len(v) for v in columns.values())
        if total > params.max_columns:
            columns = _filter_columns(env, template, state, schema, columns, params)
        if hints:
            for t, cols in hints.items():  # a column whose value the question names stays
                for c in cols:
                    if c not in columns.get(t, []):
                        columns.setdefault(t, []).append(c)
        return {"linked": columns, "hints": hints}

    return run


def _filter_columns(
    env: NodeEnv,
    template: Any,
    state: State,
    schema: Schema,
    columns: dict[str, list[str]],
    params: Params,
) -> dict[str, list[str]]:
    options = [f"{t}.{c}" for t, cols in columns.items() for c in cols]
    listing = "\n".join(f"{t}: {', '.join(cols)}" for t, cols in columns.items())
    json_schema = {
        "type": "array",
        "items": {"enum": options},
        "minItems": 1,
        "maxItems": min(params.keep_columns, len(options)),
    }
    assert env.model is not None
    result = env.model.complete(
        template.render({**state, "columns": listing}),
        Constraint.json(json_schema),
        max_tokens=params.max_tokens,
    )
    keep: dict[str, list[str]] = {t: [] for t in columns}
    for item in result.value:
        t, _, c = str(item).partition(".")
        if c not in keep[t]:
            keep[t].append(c)
    for t, keys in schema.join_keys(list(columns)).items():
        for k in keys:
            if k not in keep[t]:
                keep[t].append(k)
    # Keep the schema's column order.
    return {t: [c for c in columns[t] if c in keep[t]] for t in columns}
