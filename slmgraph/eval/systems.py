"""The systems the Spider benchmark compares. Each answers one item with SQL and a trace.

- ``zeroshot-<size>``: one prompt (every CREATE TABLE of the database + the question) on one model.
- ``slmgraph-slm``: the query-writer, grammar on, no escalation (no llm tier at all).
- ``slmgraph-slm-nogrammar``: the same with the grammar off (the ablation).
- ``slmgraph-slm-lexical``: the same with the identifier-only (lexical) grammar.
- ``slmgraph-cascade``: the query-writer escalating to the 1.5B ``llm`` tier.
- ``langchain-sql-agent-0.5b``: LangChain's SQL agent on the same 0.5B model (eval/peers.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from slmgraph.agents.sql.common import extract_sql
from slmgraph.eval.dataset import Item
from slmgraph.models.base import Message
from slmgraph.spec import GraphSpec, default_tiers, load_spec
from slmgraph.tiers import TierRegistry, trace_sink
from slmgraph.tools.sql.database import open_database

SLM = "qwen2.5-coder-0.5b-instruct-q4_k_m"
LLM = "qwen2.5-coder-1.5b-instruct-q4_k_m"


@dataclass
class Prediction:
    sql: str | None
    error: str | None = None
    escalated: bool = False
    trace: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


class System(Protocol):
    name: str

    def predict(self, item: Item) -> Prediction: ...


_PACKAGE = Path(__file__).resolve().parent.parent
# The code that decides what a system answers: a change here makes earlier predictions stale.
# Each system may name a narrower list (``decisive``), so that, say, a change of the
# query-writer's prompts does not throw away the zero-shot baselines' answers.
_MODEL_CODE = (
    "models/base.py",
    "models/llamacpp.py",
    "models/settings.py",
    "models/fallback.py",
    "models/catalog.py",
    "tiers.py",
    "constraints",
)
_DECISIVE: tuple[str, ...] = (
    *_MODEL_CODE,
    "agents",
    "tools/sql",
    "prompts",
    "graphs",
    "registry.py",
    "spec.py",
)


def fingerprint(system: System) -> str:
    """12 hex digits naming what ``system`` would answer: its configuration (the spec for the
    query-writer) and the source of the code that decides its answers. Benchmarks keep each
    system's predictions under ``<name>-<fingerprint>`` so that runs of any sample size reuse
    them, and a change of prompt, spec or decoding starts afresh."""
    import hashlib

    h = hashlib.sha256(system.name.encode())
    config = getattr(system, "config", None)
    h.update(repr(config() if callable(config) else config).encode())
    for part in getattr(system, "decisive", _DECISIVE):
        root = _PACKAGE / part
        files = sorted(root.rglob("*")) if root.is_dir() else [root]
        for f in files:
            if f.is_file() and f.suffix in (".py", ".yaml"):
                h.update(f.relative_to(_PACKAGE).as_posix().encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:12]


def _tiers(n_threads: int | None) -> dict[str, Any]:
    """The default tiers with a 4k context (and a thread count); ``$SLMGRAPH_TIERS`` wins."""
    import os

    import yaml

    if os.environ.get("SLMGRAPH_TIERS"):
        data = yaml.safe_load(Path(os.environ["SLMGRAPH_TIERS"]).read_text(encoding="utf-8"))
        return dict(data.get("tiers", data))
    tiers = default_tiers()
    for t in tiers.values():
        t["settings"] = {"n_ctx": 4096, **({"n_threads": n_threads} if n_threads else {})}
    return tiers


ZEROSHOT_SYSTEM = (
    "You write SQLite queries. Answer the question with one SQL query over the "
    "database below. Answer with the SQL query only."
)


class ZeroShot:
    """One prompt, one model: the baseline every text-to-SQL paper starts from."""

    decisive = (
        *_MODEL_CODE,
        "agents/sql/common.py",
        "tools/sql/schema.py",
        "tools/sql/database.py",
        "eval/systems.py",
    )

    def __init__(self, name: str, tier: str, n_threads: int | None = None) -> None:
        from slmgraph.spec import TierSpec

        self.name = name
        specs = {k: TierSpec.model_validate(v) for k, v in _tiers(n_threads).items()}
        for s in specs.values():
            s.fallback = None
        self.registry = TierRegistry(specs)
        self.tier = tier
        self.config = (ZEROSHOT_SYSTEM, specs[tier].model_dump())

    def predict(self, item: Item) -> Prediction:
        schema = open_database(item.db_path).schema()
        messages: list[Message] = [
            {"role": "system", "content": ZEROSHOT_SYSTEM},
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
        from slmgraph.graphs.builder import build

        self.name = name
        self.built = build(spec, call_log=False)
        self.config = spec.model_dump(exclude={"source"})

    def predict(self, item: Item) -> Prediction:
        from slmgraph.runner import run

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
    spec = load_spec("query_writer", tier_overrides=_tiers(n_threads))
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
    "langchain-sql-agent-0.5b": lambda t: _peer("langchain-sql-agent-0.5b", "slm", t),
}


def _peer(name: str, tier: str, n_threads: int | None) -> System:
    from slmgraph.eval.peers import LangChainSQLAgent

    return LangChainSQLAgent(name, tier, n_threads)


def make_system(name: str, n_threads: int | None = None) -> System:
    if name not in SYSTEMS:
        from slmgraph._suggest import did_you_mean
        from slmgraph.errors import SlmgraphError

        raise SlmgraphError(f"unknown system {name!r}. {did_you_mean(name, SYSTEMS, 'systems')}")
    return SYSTEMS[name](n_threads)
