"""Peer systems: what a user would build today with another framework, on the same model.

``langchain-sql-agent-<size>``: LangChain's SQL agent (``create_sql_agent`` with
``SQLDatabaseToolkit``, the ReAct agent its docs show for models without native tool calling)
over ``ChatLlamaCpp`` on the same GGUF file as our tier. The predicted SQL is the last statement
the agent ran through its ``sql_db_query`` tool (the agent answers in prose; EX needs SQL); when
it never ran one, the SQL in its final answer, if any.

Needs ``pip install langchain-community sqlalchemy`` (the ``peers`` extra); the database is
opened read-only with our authorizer and a per-question deadline, as for our own systems.

Limits: 6 agent steps and 60 s per question (LangChain's defaults are 15 steps and no time
limit). Measured on the 0.5B model: it often breaks the ReAct format ("Missing 'Action:' after
'Thought:'") and then repeats itself until the limit; one train question took 155 s with 10
steps and ran no query. The ``tool-calling`` agent type fared no better through ChatLlamaCpp
(the model answered in prose and called no tool), so the ReAct agent is the peer.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from slmgraph.errors import SlmgraphError
from slmgraph.eval.sql.spider import Item
from slmgraph.eval.sql.system import Prediction
from slmgraph.models.catalog import resolve_model_path
from slmgraph.spec import default_tiers
from slmgraph.tools.sql.database import SQLiteDatabase, _authorizer
from slmgraph.tools.sql.text import extract_sql

_READ_PRAGMAS = {
    "table_info",
    "table_xinfo",
    "foreign_key_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "database_list",
}


def _peer_authorizer(
    action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None
) -> int:
    """Ours, plus what SQLAlchemy reads the schema with: introspection pragmas and
    ``sqlite_temp_master``."""
    if action == sqlite3.SQLITE_PRAGMA:
        name = (arg1 or "").lower()
        if name in _READ_PRAGMAS or (name == "read_uncommitted" and arg2 is None):
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_READ and (arg1 or "").lower() == "sqlite_temp_master":
        return sqlite3.SQLITE_OK
    return _authorizer(action, arg1, arg2, db, trigger)


def _require() -> None:
    try:
        import langchain_community  # noqa: F401
        import sqlalchemy  # noqa: F401
    except ImportError as exc:
        raise SlmgraphError(
            "the LangChain peer needs langchain-community and SQLAlchemy: pip install -e '.[peers]'"
        ) from exc


class LangChainSQLAgent:
    """LangChain's SQL agent on a llama.cpp chat model (ReAct text protocol)."""

    decisive = (
        "eval/peers.py",
        "agents/sql/common.py",
        "tools/sql/database.py",
        "models/catalog.py",
    )

    def __init__(
        self,
        name: str,
        tier: str = "slm",
        n_threads: int | None = None,
        *,
        max_iterations: int = 6,
        max_seconds: float = 60.0,
        query_timeout_s: float = 30.0,
        llm: Any = None,
    ) -> None:
        _require()
        import warnings

        warnings.filterwarnings("ignore", message=".*langchain-community.*")
        from langchain_community.chat_models import ChatLlamaCpp

        spec = default_tiers()[tier]
        self.name = name
        self.model = str(spec["model"])
        price = spec["price"]
        self.price_in = float(price["input_per_1m"]) / 1e6
        self.price_out = float(price["output_per_1m"]) / 1e6
        self.tier = tier
        self.max_iterations = max_iterations
        self.max_seconds = max_seconds
        self.query_timeout_s = query_timeout_s
        self.config = (self.model, max_iterations, max_seconds, query_timeout_s)
        # ``llm``: any LangChain chat model instead (the tests drive the agent with a scripted one).
        self.llm = llm or ChatLlamaCpp(
            model_path=str(resolve_model_path(self.model)),
            n_ctx=4096,
            n_threads=n_threads or 2,
            temperature=0.0,
            max_tokens=256,
            seed=0,
            verbose=False,
        )

    def count(self, text: str) -> int:
        """Tokens of ``text`` under the model's tokenizer (0 for a model without one)."""
        client = getattr(self.llm, "client", None)
        if client is None or not text:
            return 0
        return len(client.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _db(self, item: Item) -> Any:
        from langchain_community.utilities import SQLDatabase
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        source = SQLiteDatabase(Path(item.db_path), sample_values=0)  # the peer: SQLite files
        deadline = time.monotonic() + self.max_seconds

        def connect() -> sqlite3.Connection:
            conn = source.connect()
            conn.set_authorizer(_peer_authorizer)
            start = time.monotonic()
            # Whichever comes first: this query's timeout or the question's deadline.
            conn.set_progress_handler(
                lambda: int(time.monotonic() > min(deadline, start + self.query_timeout_s)), 1000
            )
            return conn

        engine = create_engine("sqlite://", creator=connect, poolclass=NullPool)
        return SQLDatabase(engine, sample_rows_in_table_info=3)

    def predict(self, item: Item) -> Prediction:
        from langchain_classic.agents import AgentType
        from langchain_community.agent_toolkits import SQLDatabaseToolkit, create_sql_agent
        from langchain_core.callbacks import BaseCallbackHandler

        trace: list[dict[str, Any]] = []
        owner = self

        class Calls(BaseCallbackHandler):
            """One trace entry per model call (tokens from llama.cpp's usage)."""

            def on_chat_model_start(self, serialized: Any, messages: Any, **kw: Any) -> None:
                self.t0 = time.perf_counter()
                self.prompt = "\n".join(str(m.content) for batch in messages for m in batch)

            def on_llm_end(self, response: Any, **kw: Any) -> None:
                usage: dict[str, Any] = {}
                text = ""
                for gens in response.generations:
                    for g in gens:
                        text += str(getattr(g, "text", ""))
                        meta = getattr(getattr(g, "message", None), "usage_metadata", None)
                        if meta:
                            usage = dict(meta)
                # ChatLlamaCpp reports no usage: count with the model's own tokenizer (message
                # contents; the chat template's few special tokens are not counted).
                tin = int(usage.get("input_tokens") or owner.count(getattr(self, "prompt", "")))
                tout = int(usage.get("output_tokens") or owner.count(text))
                trace.append(
                    {
                        "node": "langchain_agent",
                        "tier": owner.tier,
                        "model": owner.model,
                        "tokens_in": tin,
                        "tokens_out": tout,
                        "latency_s": round(time.perf_counter() - getattr(self, "t0", 0.0), 3),
                        "cost_usd": tin * owner.price_in + tout * owner.price_out,
                        "status": "ok",
                    }
                )

        start = time.perf_counter()
        sql: str | None = None
        error: str | None = None
        try:
            db = self._db(item)
            toolkit = SQLDatabaseToolkit(db=db, llm=self.llm)
            agent = create_sql_agent(
                self.llm,
                toolkit=toolkit,
                agent_type=AgentType.ZERO_SHOT_REACT_DESCRIPTION,
                max_iterations=self.max_iterations,
                max_execution_time=self.max_seconds,
                agent_executor_kwargs={
                    "handle_parsing_errors": True,
                    "return_intermediate_steps": True,
                },
            )
            out = agent.invoke({"input": item.question}, config={"callbacks": [Calls()]})
            for action, _observation in out.get("intermediate_steps", []):
                if getattr(action, "tool", None) == "sql_db_query":
                    tool_input = action.tool_input
                    if isinstance(tool_input, dict):
                        tool_input = next(iter(tool_input.values()), "")
                    sql = extract_sql(str(tool_input)) or sql
            if sql is None:
                final = str(out.get("output", ""))
                sql = extract_sql(final) if "select" in final.lower() else None
                if sql is None:
                    error = f"the agent ran no query; it answered: {final[:200]!r}"
        except Exception as exc:  # the peer failing is a wrong answer, not a crashed benchmark
            error = f"{type(exc).__name__}: {exc}"
        return Prediction(sql, error, False, trace, time.perf_counter() - start)
