"""Table extractor (slm): which tables does the question need? The output is a JSON array whose
items are an enum of the candidate tables' names, so it cannot name a table that is not there."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from slmgraph.agents.sql.common import run_database
from slmgraph.constraints.base import Constraint
from slmgraph.context import RunContext
from slmgraph.prompts import load_prompt
from slmgraph.registry import NodeEnv, NodeFn, State, Update, register_agent


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = "sql/tables"
    max_tables: int = Field(5, ge=1, description="At most this many tables")
    skip_if_at_most: int = Field(
        1, ge=0, description="With this many candidates or fewer, take them all (no model call)"
    )
    skip_if_columns_at_most: int = Field(
        0,
        ge=0,
        description="When the candidates have this many columns or fewer in all, take "
        "them all (no model call): a small schema fits the writer's prompt whole",
    )
    max_tokens: int = 80


def compact_schema(db: Any, tables: list[str]) -> str:
    schema = db.schema()
    lines = []
    for name in tables:
        t = schema.table(name)
        if t is not None:
            lines.append(f"{t.name}({', '.join(c.name for c in t.columns)})")
    return "\n".join(lines)


@register_agent(
    "sql.table_extractor",
    Params,
    reads=lambda p, b: ["question", "db"],
    writes=lambda p: ["tables"],
    prompts=lambda p: {"prompt": p.prompt},
    prompt_vars=frozenset({"schema"}),
    description="Pick the tables a question needs (JSON enum of table names)",
)
def table_extractor(env: NodeEnv) -> NodeFn:
    params: Params = env.params
    template = load_prompt(params.prompt, env.spec.base_dir)

    def run(state: State, ctx: RunContext) -> Update:
        db = run_database(ctx, state, env.name)
        candidates = list(state.get("candidates") or db.schema().tables)
        n_columns = sum(
            len(t.columns) for n in candidates if (t := db.schema().table(n)) is not None
        )
        if len(candidates) <= params.skip_if_at_most or n_columns <= params.skip_if_columns_at_most:
            return {"tables": candidates}
        schema = {
            "type": "array",
            "items": {"enum": candidates},
            "minItems": 1,
            "maxItems": min(params.max_tables, len(candidates)),
        }
        messages = template.render({**state, "schema": compact_schema(db, candidates)})
        assert env.model is not None
        result = env.model.complete(messages, Constraint.json(schema), max_tokens=params.max_tokens)
        tables = list(dict.fromkeys(result.value))
        return {"tables": tables}

    return run
