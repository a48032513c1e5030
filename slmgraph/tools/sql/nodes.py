"""The query-writer's tool nodes: link (introspect + prefilter), check, execute, answer."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from slmgraph.context import RunContext
from slmgraph.registry import NodeEnv, NodeFn, State, Update, register_tool
from slmgraph.tools.sql.base import DEFAULT_LIMITS, WRITE_DIALECT, Limits
from slmgraph.tools.sql.check import check_sql
from slmgraph.tools.sql.database import DatabaseError
from slmgraph.tools.sql.guard import GuardError, guard
from slmgraph.tools.sql.hooks import run_database
from slmgraph.tools.sql.labels import add_labels
from slmgraph.tools.sql.prefilter import prefilter
from slmgraph.tools.sql.repair import repair_columns
from slmgraph.tools.sql.schema import Schema


class LinkParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_tables: int = Field(
        20, ge=1, description="Above this many tables, a prefilter keeps the best ones"
    )
    method: Literal["bm25", "hybrid"] = Field(
        "bm25",
        description="bm25: lexical; hybrid: BM25 fused with MiniLM embeddings (the 'embed' "
        "extra; recall@10 with FK expansion 95.5% against 93.3% on 758 Spider tables)",
    )


@register_tool(
    "sql.link",
    LinkParams,
    reads=lambda p, b: ["question", "db"],
    writes=lambda p: ["candidates"],
    description="Introspect the database; prefilter tables on large schemas",
)
def link(env: NodeEnv) -> NodeFn:
    params: LinkParams = env.params

    def run(state: State, ctx: RunContext) -> Update:
        schema = run_database(ctx, state, env.name).schema()
        names = list(schema.tables)
        if len(names) > params.max_tables:
            names = prefilter(
                schema, str(state.get("question", "")), params.max_tables, params.method
            )
        return {"candidates": names}

    return run


class CheckParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    repair: bool = Field(
        True,
        description="Repair misplaced columns without a model first (requalify T2.x as T1.x; "
        "join the one foreign-key neighbour that has the column): see tools/sql/repair.py",
    )
    label_keys: bool = Field(
        True,
        description="A result that is one bare key column (CategoryID for 'which category') "
        "gains the entity's name columns, unless the question asks for an id: see "
        "tools/sql/labels.py",
    )


@register_tool(
    "sql.check",
    CheckParams,
    reads=lambda p, b: ["sql", "db", "question"],
    writes=lambda p: ["sql", "check_status", "check_error", "attempts"],
    description="Guard + parse + qualify the SQL against the schema; repair misplaced columns",
)
def check(env: NodeEnv) -> NodeFn:
    params: CheckParams = env.params

    def labelled(sql: str, schema: Schema, state: State) -> Update:
        if not params.label_keys:
            return {}
        out = add_labels(sql, schema, str(state.get("question") or ""))
        if out is None or not check_sql(out[0], schema).ok:
            return {}
        return {"sql": out[0], "attempts": [{"node": env.name, "sql": out[0], "note": out[1]}]}

    def run(state: State, ctx: RunContext) -> Update:
        schema = run_database(ctx, state, env.name).schema()
        sql = str(state.get("sql") or "")
        result = check_sql(sql, schema)
        if result.ok:
            return {"check_status": "ok", "check_error": None, **labelled(sql, schema, state)}
        if params.repair and result.kind == "schema":
            repaired = repair_columns(sql, schema)
            if repaired is not None and check_sql(repaired[0], schema).ok:
                update = {
                    "sql": repaired[0],
                    "check_status": "ok",
                    "check_error": None,
                    "attempts": [
                        {
                            "node": env.name,
                            "error": result.error,
                            "sql": repaired[0],
                            "note": "repaired without a model: " + "; ".join(repaired[1]),
                        }
                    ],
                }
                more = labelled(repaired[0], schema, state)
                if more:
                    update["sql"] = more["sql"]
                    update["attempts"] += more["attempts"]
                return update
        return {
            "check_status": "error",
            "check_error": result.error,
            "attempts": [{"node": env.name, "error": result.error}],
        }

    return run


class ExecuteParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_rows: int = Field(50, ge=1, description="Rows returned (more are cut, `truncated` set)")
    timeout_s: float = Field(10.0, gt=0, description="Seconds the database may take")
    max_cell_bytes: int | None = Field(
        None,
        ge=1,
        description="The largest value a query may build or return (default: the database's "
        f"limits, {DEFAULT_LIMITS.max_cell_bytes:,} bytes): see tools/sql/base.py Limits",
    )
    max_result_bytes: int | None = Field(
        None,
        ge=1,
        description="Bytes of values taken from the database, rows past them cut (default: "
        f"{DEFAULT_LIMITS.max_result_bytes:,})",
    )
    min_mean_logprob: float | None = Field(
        -0.6, description="Below this mean token logprob the slm's SQL counts as unsure"
    )
    escalate_on_empty: bool = Field(True, description="An empty result counts as unsure")
    min_agreement: float = Field(
        0.5, ge=0, le=1, description="With samples: below this share agreeing, unsure"
    )
    native_key: str | None = Field(
        None,
        description="State key for the SQL as the database ran it, in its own dialect (the "
        "models write SQLite's; on SQLite the two are the same)",
    )
    escalate_from: list[str] = Field(
        default_factory=lambda: ["write_sql", "fix_sql"],
        description="Nodes whose SQL may be escalated when unsure",
    )


def jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex() if len(value) > 64 else value.decode("utf-8", "replace")
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    return value


def _key(rows: list[list[Any]]) -> list[str]:
    return sorted(repr(r) for r in rows)


def _limits(db: Any, params: ExecuteParams) -> Limits:
    base: Limits = getattr(db, "limits", DEFAULT_LIMITS)
    return base.but(
        max_rows=params.max_rows,
        timeout_s=params.timeout_s,
        max_cell_bytes=params.max_cell_bytes,
        max_result_bytes=params.max_result_bytes,
    )


def _failed(node: str, msg: str) -> Update:
    return {
        "exec_error": msg,
        "outcome": "error",
        "rows": [],
        "columns": [],
        "truncated": False,
        "attempts": [{"node": node, "error": msg}],
    }


@register_tool(
    "sql.execute",
    ExecuteParams,
    reads=lambda p, b: ["sql", "db"],
    writes=lambda p: [
        "columns",
        "rows",
        "truncated",
        "exec_error",
        "outcome",
        "confidence",
        "attempts",
        *([p.native_key] if p.native_key else []),
    ],
    description="Run the SQL read-only (guarded, row limit, timeout); judge confidence",
)
def execute(env: NodeEnv) -> NodeFn:
    params: ExecuteParams = env.params

    def run(state: State, ctx: RunContext) -> Update:
        db = run_database(ctx, state, env.name)
        sql = str(state.get("sql") or "")
        limits = _limits(db, params)
        try:
            guard(sql, WRITE_DIALECT)  # again: a human may have edited the SQL at an interrupt
            native = db.native(sql)  # the engine's dialect (SQLite: the SQL as written)
            result = db.execute(native, limits=limits)
            rows = [[jsonable(v) for v in r] for r in result.rows]
        except (GuardError, DatabaseError) as exc:
            return _failed(env.name, str(exc))
        except MemoryError:  # the engines turn theirs into a LimitError; this is Python's own
            return _failed(env.name, "the result did not fit in memory: select less")
        confidence = _confidence(state, db, limits, params, result.rows)
        outcome = "low_confidence" if confidence["low"] else "ok"
        update: Update = {
            "columns": result.columns,
            "rows": rows,
            "truncated": result.truncated,
            "exec_error": None,
            "outcome": outcome,
            "confidence": confidence,
        }
        if params.native_key:
            update[params.native_key] = native
        if outcome != "ok":
            update["attempts"] = [
                {"node": env.name, "note": "unsure: " + "; ".join(confidence["reasons"])}
            ]
        return update

    return run


def _confidence(
    state: State, db: Any, limits: Limits, params: ExecuteParams, rows: list[Any]
) -> dict[str, Any]:
    reasons: list[str] = []
    lp = state.get("sql_logprob")
    if params.min_mean_logprob is not None and lp is not None and lp < params.min_mean_logprob:
        reasons.append(f"mean token logprob {lp:.2f} < {params.min_mean_logprob}")
    if params.escalate_on_empty and not rows:
        reasons.append("the result is empty")
    agreement = None
    samples = [s for s in state.get("sql_samples") or [] if s]
    if samples:
        main = _key([list(r) for r in rows])
        agree = 0
        for s in samples:
            try:
                guard(s, WRITE_DIALECT)
                other = db.execute(db.native(s), limits=limits)
                agree += _key([list(r) for r in other.rows]) == main
            except (GuardError, DatabaseError, MemoryError):
                pass  # a sample that fails agrees with nothing
        agreement = (agree + 1) / (len(samples) + 1)
        if agreement < params.min_agreement:
            reasons.append(f"only {agreement:.0%} of {len(samples) + 1} samples agree")
    escalatable = state.get("sql_source") in params.escalate_from
    return {
        "mean_logprob": lp,
        "empty": not rows,
        "agreement": agreement,
        "reasons": reasons,
        "low": bool(reasons) and escalatable,
    }


class AnswerParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    show_rows: int = Field(5, ge=1)
    max_value_chars: int = Field(
        200, ge=8, description="A value longer than this is cut in the answer sentence"
    )


@register_tool(
    "sql.answer",
    AnswerParams,
    reads=lambda p, b: ["rows"],
    writes=lambda p: ["answer", "final_error", "rows", "columns"],
    description="A one-sentence answer from the rows (or why there is none)",
)
def answer(env: NodeEnv) -> NodeFn:
    params: AnswerParams = env.params

    def run(state: State) -> Update:
        error = state.get("exec_error") or (
            state.get("check_error") if state.get("check_status") == "error" else None
        )
        rows = state.get("rows") or []
        cols = state.get("columns") or []
        if error and not rows:
            return {
                "answer": f"I could not answer the question: {error}",
                "final_error": error,
                "rows": [],
                "columns": [],
            }
        try:
            text = sentence(
                cols, rows, bool(state.get("truncated")), params.show_rows, params.max_value_chars
            )
        except MemoryError:
            error = "the result is too large to put in an answer"
            return {"answer": f"I could not answer the question: {error}", "final_error": error}
        return {"answer": text, "final_error": None, "rows": rows, "columns": cols}

    return run


def _cut(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sentence(
    columns: list[str], rows: list[list[Any]], truncated: bool, show: int, max_chars: int = 200
) -> str:
    """One sentence from the rows; a value over ``max_chars`` is cut (the rows keep it)."""
    if not rows:
        return "No rows match the question."
    if len(rows) == 1 and len(rows[0]) == 1:
        return f"The answer is {_cut(rows[0][0], max_chars)}."
    if len(rows) == 1:
        pairs = ", ".join(
            f"{c} = {_cut(v, max_chars)}" for c, v in zip(columns, rows[0], strict=False)
        )
        return f"One row: {pairs}."
    shown = "; ".join(", ".join(_cut(v, max_chars) for v in r) for r in rows[:show])
    more = "" if len(rows) <= show else f" (and {len(rows) - show} more"
    more += (
        (" — more rows were cut off)" if truncated else ")")
        if more
        else (" (more rows were cut off)" if truncated else "")
    )
    return f"{len(rows)} rows: {shown}{more}."
