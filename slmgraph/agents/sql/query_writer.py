"""Query writer (slm): one SELECT for the question, decoded under a grammar whose identifiers are
the linked tables and columns (``grammar: false`` turns it off, for the ablation).

With ``samples: k > 1`` it also draws k-1 samples at ``sample_temperature``; the execute step
compares their results with the main answer (self-consistency, a confidence signal).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from slmgraph.agents.sql.common import (
    GrammarMode,
    Scope,
    extract_sql,
    grammar_for,
    run_database,
    scope_columns,
    write_update,
)
from slmgraph.context import RunContext
from slmgraph.errors import ModelError
from slmgraph.prompts import PromptTemplate, load_prompt
from slmgraph.registry import NodeEnv, NodeFn, State, Update, register_agent
from slmgraph.tools.sql.base import WRITE_DIALECT
from slmgraph.tools.sql.database import Database, DatabaseError
from slmgraph.tools.sql.examples import bank, render
from slmgraph.tools.sql.guard import GuardError, guard

DIALECT_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL", "mysql": "MySQL", "duckdb": "DuckDB"}


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = "sql/write"
    grammar: GrammarMode | bool = Field(
        "structured",
        description="structured: SQL-shaped grammar, parses by construction; qualified: "
        "the same with every column written table.column with a table that holds it; "
        "lexical: any token order, identifiers restricted; off (or false): free text. "
        "true = structured",
    )
    scope: Scope = Field("linked", description="Which identifiers the grammar allows")
    samples: int = Field(
        1,
        ge=1,
        le=16,
        description="k for self-consistency (1: off); with vote, drawing stops early once the "
        "draws left cannot change the winner",
    )
    vote: bool = Field(
        False,
        description="With samples > 1: run every candidate read-only and answer with the SQL "
        "whose result most candidates share (queries that fail lose; ties go to the greedy one)",
    )
    sample_temperature: float = Field(0.7, gt=0, le=2)
    max_tokens: int = Field(200, ge=16)
    temperature: float | None = Field(None, ge=0, le=2, description="Default: the tier's")
    examples_file: str | None = Field(
        None,
        description="Few-shot bank: a JSON list of {question, query} (e.g. Spider's "
        "train.json; never the questions you evaluate on)",
    )
    examples: int = Field(3, ge=0, le=10, description="How many similar examples to show")

    @field_validator("examples_file")
    @classmethod
    def _bank_exists(cls, value: str | None, info: ValidationInfo) -> str | None:
        """The bank must be there when the spec is validated (relative: the spec's folder)."""
        if value is None:
            return None
        path = Path(value).expanduser()
        base = (info.context or {}).get("base_dir")
        if not path.is_absolute() and base is not None and (Path(base) / path).is_file():
            return value
        if not path.is_file():
            raise ValueError(f"no examples file at {value!r} (a JSON list of question/query)")
        return value

    hints: Literal["inline", "after"] = Field(
        "after",
        description="Where value hints go: 'after' the schema as their own block (the schema "
        "text is then the same for every question on a database, so the backend reuses its "
        "cached prefix), or 'inline' as column comments",
    )
    examples_other_db: bool = Field(
        True,
        description="Show only examples from other databases than the one queried (a bank "
        "that holds the evaluated database's own questions would leak answers)",
    )


def write_sql(
    env: NodeEnv,
    params: Params,
    state: State,
    ctx: RunContext,
    extra: dict[str, object],
    template: PromptTemplate,
) -> Update:
    """Shared by the writer, the fixer and the researcher: render, decode, extract.

    ``template``: the node's prompt, loaded once when the graph is built (a prompt file edited
    while a graph runs must not change, or break, the runs already under way)."""
    db = run_database(ctx, state, env.name)
    schema = db.schema()
    columns = scope_columns(state, db, params.scope)
    shots = ""
    if params.examples_file and params.examples:
        path = Path(params.examples_file).expanduser()
        if not path.is_absolute() and env.spec.base_dir is not None:
            path = env.spec.base_dir / path
        own = db.name if params.examples_other_db else None
        shots = render(
            bank(path).similar(str(state.get("question", "")), params.examples, exclude_db=own)
        )
    hints = state.get("hints") or {}
    # A prompt without a {value_hints} slot (an older or custom one) gets them inline.
    inline = params.hints == "inline" or "{value_hints}" not in template.user + (
        template.system or ""
    )
    values = {
        **state,
        "examples": shots,
        "dialect": DIALECT_NAMES[WRITE_DIALECT],  # what the grammar takes; the engine translates
        "schema": schema.ddl(columns, hints=hints if inline else None),
        "value_hints": "" if inline else hint_block(hints),
        **extra,
    }
    messages = template.render(values)
    mode = params.grammar
    mode = "structured" if mode is True else ("off" if mode is False else mode)
    constraint = grammar_for(columns, WRITE_DIALECT, mode)
    assert env.model is not None
    result = env.model.complete(
        messages,
        constraint,
        max_tokens=params.max_tokens,
        temperature=params.temperature,
        seed=1 if params.temperature else None,
    )
    sql = extract_sql(str(result.value))
    logprob = result.completion.mean_logprob
    candidates: list[str] = [sql]
    scores: list[float | None] = [logprob]
    keys: list[str | None] = [result_key(db, sql)] if params.vote else []
    for seed in range(1, params.samples):
        if params.vote and settled(keys, params.samples - seed):
            break  # early stop: the draws left cannot change the vote's winner
        try:
            extra_result = env.model.complete(
                messages,
                constraint,
                max_tokens=params.max_tokens,
                temperature=params.sample_temperature,
                seed=seed,
            )
        except ModelError:
            continue  # a failed extra sample lowers agreement; it does not fail the node
        candidates.append(extract_sql(str(extra_result.value)))
        scores.append(extra_result.completion.mean_logprob)
        if params.vote:
            keys.append(result_key(db, candidates[-1]))
    pick = winner(keys) if params.vote else 0
    sql, logprob = candidates[pick], scores[pick]
    samples = [c for i, c in enumerate(candidates) if i != pick]
    return write_update(env.name, sql, logprob, result.tier, samples)


def hint_block(hints: dict[str, dict[str, list[str]]]) -> str:
    """Value hints as their own lines (after the schema, before the question)."""
    lines = [
        f"- {t}.{c}: {', '.join(repr(v) for v in values)}"
        for t, cols in hints.items()
        for c, values in cols.items()
    ]
    if not lines:
        return ""
    return "Values in the database that the question mentions:\n" + "\n".join(lines) + "\n\n"


def result_key(db: Database, sql: str, timeout_s: float = 5.0) -> str | None:
    """What a candidate answers, as a comparable key (its rows as a multiset); ``None`` when
    it fails the guard or the database (a failing candidate gets no vote)."""
    try:
        guard(sql, WRITE_DIALECT)
        rows = db.execute(db.native(sql), max_rows=200, timeout_s=timeout_s).rows
    except (GuardError, DatabaseError):
        return None
    return repr(sorted(repr(list(r)) for r in rows))


def winner(keys: list[str | None]) -> int:
    """Index of the candidate whose result most candidates share (execution-guided
    self-consistency). Ties, and the case where every candidate fails, go to the first (the
    greedy answer)."""
    counts = Counter(k for k in keys if k is not None)
    if not counts:
        return 0
    best = max(counts.values())
    return next(i for i, k in enumerate(keys) if k is not None and counts[k] == best)


def settled(keys: list[str | None], left: int) -> bool:
    """Whether ``left`` more candidates could no longer change :func:`winner`: the leading
    result is ahead of the next by more than the draws left (so stopping early answers exactly
    what drawing all k would, at a fraction of the cost when the samples agree)."""
    top = sorted(Counter(k for k in keys if k is not None).values(), reverse=True)
    return bool(top) and top[0] > (top[1] if len(top) > 1 else 0) + left


def vote(db: Database, candidates: list[str], timeout_s: float = 5.0) -> int:
    """:func:`winner` over candidates run read-only now."""
    return winner([result_key(db, sql, timeout_s) for sql in candidates])


#: Placeholders the SQL writers fill themselves (the others come from the state).
PROMPT_VARS = frozenset({"schema", "dialect", "value_hints", "examples", "error", "history"})
WRITES = ["sql", "sql_logprob", "sql_source", "sql_samples", "attempts"]


@register_agent(
    "sql.query_writer",
    Params,
    reads=lambda p, b: ["question", "db"],
    writes=lambda p: WRITES,
    prompts=lambda p: {"prompt": p.prompt},
    prompt_vars=PROMPT_VARS,
    description="Write one SELECT under a grammar of the linked identifiers",
)
def query_writer(env: NodeEnv) -> NodeFn:
    params: Params = env.params
    template = load_prompt(params.prompt, env.spec.base_dir)

    def run(state: State, ctx: RunContext) -> Update:
        return write_sql(env, params, state, ctx, {}, template)

    return run
