"""The systems the Spider benchmark compares. Each answers one item with SQL and a trace
(:class:`~slmgraph.eval.sql.system.Prediction`).

- ``zeroshot-<size>``: one prompt (every CREATE TABLE of the database + the question) on one model.
- ``slmgraph-slm``: the query-writer, grammar on, no escalation (no llm tier at all).
- ``slmgraph-slm-nogrammar``: the same with the grammar off (the ablation).
- ``slmgraph-slm-lexical``: the same with the identifier-only (lexical) grammar.
- ``slmgraph-cascade``: the query-writer escalating to the 1.5B ``llm`` tier.
- peers (``peers/``), each on the same GGUF file: ``langchain-sql-agent-<size>`` (LangChain's
  SQL agent), ``langchain-sql-chain-0.5b`` (``create_sql_query_chain``), ``vanna-0.5b``
  (Vanna's prompt with retrieved question/SQL pairs), ``llamaindex-0.5b``
  (``NLSQLTableQueryEngine``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from slmgraph._suggest import did_you_mean
from slmgraph.errors import SlmgraphError
from slmgraph.eval.sql.peers import make_peer
from slmgraph.eval.sql.spider import Item
from slmgraph.eval.sql.system import MODEL_CODE, Prediction, System, fingerprint
from slmgraph.eval.tiers import bench_tiers
from slmgraph.graphs.builder import build
from slmgraph.loader import load_spec
from slmgraph.models.base import Message
from slmgraph.plugins import ensure_loaded
from slmgraph.registry import EVAL_SYSTEMS, register_eval_system
from slmgraph.runner import run
from slmgraph.spec import GraphSpec, TierSpec
from slmgraph.tiers import TierRegistry, trace_sink
from slmgraph.tools.sql.base import WRITE_DIALECT
from slmgraph.tools.sql.database import open_database
from slmgraph.tools.sql.text import extract_sql

SLM = "qwen2.5-coder-0.5b-instruct-q4_k_m"
LLM = "qwen2.5-coder-1.5b-instruct-q4_k_m"


#: ``{dialect}`` is the one models write (SQLite); each engine translates it.
ZEROSHOT_SYSTEM = (
    "You write {dialect} queries. Answer the question with one SQL query over the "
    "database below. Answer with the SQL query only."
)
DIALECT_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL", "mysql": "MySQL", "duckdb": "DuckDB"}


class ZeroShot:
    """One prompt, one model: the baseline every text-to-SQL paper starts from."""

    decisive = (
        *MODEL_CODE,
        "tools/sql/text.py",
        "tools/sql/schema.py",
        "tools/sql/database.py",
        "eval/sql/systems.py",
    )

    def __init__(self, name: str, tier: str, n_threads: int | None = None) -> None:
        self.name = name
        specs = {k: TierSpec.model_validate(v) for k, v in bench_tiers(n_threads).items()}
        for s in specs.values():
            s.fallback = None
        self.registry = TierRegistry(specs)
        self.tier = tier
        self.config = (ZEROSHOT_SYSTEM, specs[tier].model_dump())

    def predict(self, item: Item) -> Prediction:
        db = open_database(item.db_path)
        schema = db.schema()
        dialect = DIALECT_NAMES[WRITE_DIALECT]  # the engine translates what the model writes
        messages: list[Message] = [
            {"role": "system", "content": ZEROSHOT_SYSTEM.format(dialect=dialect)},
            {
                "role": "user",
                "content": f"{schema.ddl(samples=False)}\n\nQuestion: {item.question}",
            },
        ]
        sink: list[dict[str, Any]] = []
        token = trace_sink.set(sink)
        start = time.perf_counter()
        try:
            result = self.registry.client(self.tier).complete(
                messages, None, call_group=item.id, max_tokens=200
            )
            sql, error = extract_sql(result.completion.text), None
        except Exception as exc:  # a model failure is a wrong answer, not a crashed benchmark
            sql, error = None, f"{type(exc).__name__}: {exc}"
        finally:
            trace_sink.reset(token)
        for t in sink:
            t["node"] = "zeroshot"
        return Prediction(sql, error, False, sink, time.perf_counter() - start)


class QueryWriter:
    """The query-writer graph, in one of its configurations."""

    def __init__(self, name: str, spec: GraphSpec) -> None:
        self.name = name
        self.built = build(spec, call_log=False)
        self.config = spec.model_dump(exclude={"source"})

    def predict(self, item: Item) -> Prediction:
        start = time.perf_counter()
        result = run(self.built, {"question": item.question, "db": str(item.db_path)})
        state = result.state
        error = result.error or state.get("final_error")
        trace = [t for t in result.trace if t.get("model")]
        return Prediction(
            state.get("sql"),
            error,
            bool(state.get("escalated")),
            trace,
            time.perf_counter() - start,
        )


def query_writer_spec(variant: str, n_threads: int | None = None) -> GraphSpec:
    """The query-writer as a benchmark system: ``cascade``, ``slm``, ``slm-nogrammar``,
    ``slm-lexical``."""
    spec = load_spec("query_writer", tier_overrides=bench_tiers(n_threads))
    if variant == "cascade":
        return spec
    data = spec.model_dump(by_alias=True, exclude_none=True, exclude={"source"})
    # Escalation off: no research node, no llm tier, no fallback to it.
    data["tiers"] = {"slm": {**data["tiers"]["slm"], "fallback": None}}
    del data["nodes"]["research"]
    data["nodes"]["fix_sql"]["on_limit"] = "answer"
    data["nodes"]["execute"].setdefault("params", {})["escalate_from"] = []
    for edge in data["edges"]:
        if edge.get("routes"):
            edge["routes"] = {
                k: ("answer" if v == "research" else v) for k, v in edge["routes"].items()
            }
    data["edges"] = [e for e in data["edges"] if e["from"] != "research"]
    mode = {"slm": "structured", "slm-nogrammar": "off", "slm-lexical": "lexical"}[variant]
    for node in ("write_sql", "fix_sql"):
        data["nodes"][node].setdefault("params", {})["grammar"] = mode
    return load_spec(data)


#: The benchmark these systems answer (``slmgraph eval spider``).
BENCHMARK = "spider"

SYSTEMS: dict[str, Callable[[int | None], System]] = {
    "zeroshot-0.5b": lambda t: ZeroShot("zeroshot-0.5b", "slm", t),
    "zeroshot-1.5b": lambda t: ZeroShot("zeroshot-1.5b", "llm", t),
    "slmgraph-slm": lambda t: QueryWriter("slmgraph-slm", query_writer_spec("slm", t)),
    "slmgraph-slm-nogrammar": lambda t: QueryWriter(
        "slmgraph-slm-nogrammar", query_writer_spec("slm-nogrammar", t)
    ),
    "slmgraph-slm-lexical": lambda t: QueryWriter(
        "slmgraph-slm-lexical", query_writer_spec("slm-lexical", t)
    ),
    "slmgraph-cascade": lambda t: QueryWriter("slmgraph-cascade", query_writer_spec("cascade", t)),
}


def _peer(kind: str, size: str, tier: str) -> Callable[[int | None], System]:
    # a peer's framework is an optional extra (peers): imported only when it is asked for
    return lambda threads: make_peer(kind, f"{kind}-{size}", tier, threads)


for _kind in ("langchain-sql-agent", "langchain-sql-chain", "vanna", "llamaindex"):
    for _size, _tier in (("0.5b", "slm"), ("1.5b", "llm")):
        SYSTEMS[f"{_kind}-{_size}"] = _peer(_kind, _size, _tier)


for _name, _factory in SYSTEMS.items():  # a third party may add systems to the benchmark too
    register_eval_system(BENCHMARK, _name, _factory)


def make_system(name: str, n_threads: int | None = None) -> System:
    """A Spider system by name: the query-writer domain's, or one a plug-in registered."""
    ensure_loaded()
    systems = EVAL_SYSTEMS.get(BENCHMARK, {})
    if name not in systems:
        raise SlmgraphError(f"unknown system {name!r}. {did_you_mean(name, systems, 'systems')}")
    system: System = systems[name](n_threads)
    return system


__all__ = [
    "LLM",
    "SLM",
    "SYSTEMS",
    "Prediction",
    "QueryWriter",
    "ZeroShot",
    "fingerprint",
    "make_system",
    "query_writer_spec",
]
