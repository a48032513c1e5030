"""LangChain peers over ``ChatLlamaCpp`` on the same GGUF file as our tier.

``langchain-sql-agent-<size>``: LangChain's SQL agent (``create_sql_agent`` with
``SQLDatabaseToolkit``, the ReAct agent its docs show for models without native tool calling).
The predicted SQL is the last statement the agent ran through its ``sql_db_query`` tool (the
agent answers in prose; EX needs SQL); when it never ran one, the SQL in its final answer.
Limits: 6 agent steps and 60 s per question (LangChain's defaults are 15 steps and no time
limit). On the 0.5B model it often breaks the ReAct format ("Missing 'Action:' after
'Thought:'") and repeats itself until the limit; the ``tool-calling`` agent type fared no
better through ChatLlamaCpp (the model answered in prose and called no tool).

``langchain-sql-chain-<size>``: ``create_sql_query_chain`` — one prompt (LangChain's SQLite
prompt: the tables' CREATE statements with three sample rows each, then the question) and one
completion, stopped at ``SQLResult:``; what LangChain's docs show for a model that cannot call
tools. Its output is the SQL text; LangChain leaves running it to the user.

Needs ``langchain-community`` and SQLAlchemy (the ``peers`` extra); the database is opened
read-only with our authorizer and a per-question deadline, as for our own systems.
"""

from __future__ import annotations

import time
from typing import Any

from slmgraph.eval.sql.peers.common import TierModel, attempt, read_only_engine, require, sql_in
from slmgraph.eval.sql.spider import Item
from slmgraph.eval.sql.system import Prediction
from slmgraph.tools.sql.text import extract_sql

DECISIVE = (
    "eval/sql/peers",
    "tools/sql/database.py",
    "tools/sql/text.py",
    "models/catalog.py",
)


class _LangChainPeer:
    """A LangChain chat model on the tier's GGUF, with one trace entry per model call."""

    decisive = DECISIVE
    node = "langchain"

    def __init__(
        self,
        name: str,
        tier: str = "slm",
        n_threads: int | None = None,
        *,
        max_seconds: float = 60.0,
        query_timeout_s: float = 30.0,
        llm: Any = None,
    ) -> None:
        require("langchain_community", "langchain_classic", "sqlalchemy")
        import warnings

        warnings.filterwarnings("ignore", message=".*langchain-community.*")
        self.name = name
        self.tier = TierModel(tier)
        self.max_seconds = max_seconds
        self.query_timeout_s = query_timeout_s
        self.config: tuple[Any, ...] = (self.tier.model, max_seconds, query_timeout_s)
        if llm is None:  # ``llm``: any LangChain chat model (the tests script one)
            from langchain_community.chat_models import ChatLlamaCpp

            llm = ChatLlamaCpp(
                model_path=self.tier.path(),
                n_ctx=4096,
                n_threads=n_threads or 2,
                temperature=0.0,
                max_tokens=256,
                seed=0,
                verbose=False,
            )
        self.llm = llm

    def count(self, text: str) -> int:
        """Tokens of ``text`` under the model's tokenizer (0 for a model without one)."""
        client = getattr(self.llm, "client", None)
        if client is None or not text:
            return 0
        return len(client.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _db(self, item: Item) -> Any:
        from langchain_community.utilities import SQLDatabase

        engine = read_only_engine(item.db_path, self.max_seconds, self.query_timeout_s)
        return SQLDatabase(engine, sample_rows_in_table_info=3)

    def callbacks(self, trace: list[dict[str, Any]]) -> Any:
        from langchain_core.callbacks import BaseCallbackHandler

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
                seconds = time.perf_counter() - getattr(self, "t0", time.perf_counter())
                trace.append(owner.tier.entry(owner.node, tin, tout, seconds))

        return Calls()


class LangChainSQLAgent(_LangChainPeer):
    """LangChain's SQL agent on a llama.cpp chat model (ReAct text protocol)."""

    node = "langchain_agent"

    def __init__(self, name: str, tier: str = "slm", n_threads: int | None = None, *,
                 max_iterations: int = 6, **kw: Any) -> None:  # fmt: skip
        super().__init__(name, tier, n_threads, **kw)
        self.max_iterations = max_iterations
        self.config = (*self.config, max_iterations)

    def predict(self, item: Item) -> Prediction:
        from langchain_classic.agents import AgentType
        from langchain_community.agent_toolkits import SQLDatabaseToolkit, create_sql_agent

        def run(trace: list[dict[str, Any]]) -> tuple[str | None, str | None]:
            toolkit = SQLDatabaseToolkit(db=self._db(item), llm=self.llm)
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
            out = agent.invoke(
                {"input": item.question}, config={"callbacks": [self.callbacks(trace)]}
            )
            sql: str | None = None
            for action, _observation in out.get("intermediate_steps", []):
                if getattr(action, "tool", None) == "sql_db_query":
                    tool_input = action.tool_input
                    if isinstance(tool_input, dict):
                        tool_input = next(iter(tool_input.values()), "")
                    sql = extract_sql(str(tool_input)) or sql
            if sql is not None:
                return sql, None
            final = str(out.get("output", ""))
            sql = extract_sql(final) if "select" in final.lower() else None
            if sql is None:
                return None, f"the agent ran no query; it answered: {final[:200]!r}"
            return sql, None

        return attempt(run)


class LangChainSQLChain(_LangChainPeer):
    """``create_sql_query_chain``: LangChain's one-prompt text-to-SQL chain."""

    node = "langchain_chain"

    def predict(self, item: Item) -> Prediction:
        from langchain_classic.chains import create_sql_query_chain

        def run(trace: list[dict[str, Any]]) -> tuple[str | None, str | None]:
            chain = create_sql_query_chain(self.llm, self._db(item))
            text = str(chain.invoke({"question": item.question},
                                    config={"callbacks": [self.callbacks(trace)]}))  # fmt: skip
            # The chain's prompt asks for "SQLQuery: ..." and small models often echo the label.
            text = text.strip().removeprefix("SQLQuery:").strip()
            sql = sql_in(text)
            return sql, None if sql else f"the chain answered no SQL: {text[:200]!r}"

        return attempt(run)
