"""``llamaindex-<size>``: LlamaIndex's ``NLSQLTableQueryEngine`` on the same GGUF through
``llama-index-llms-llama-cpp``'s ``LlamaCPP``: its text-to-SQL prompt (every table's columns
and keys, then the question, answered after ``SQLQuery:``), its SQL parser, greedy decoding.
``LlamaCPP`` asks the user for the model's prompt format; Qwen2.5's is ChatML, which is what a
user writes. ``sql_only=True``: the engine returns the SQL without running it (scoring runs
it) or asking the model to phrase an answer from the rows.

Needs ``llama-index-core`` and ``llama-index-llms-llama-cpp`` (the ``peers`` extra).
"""

from __future__ import annotations

import time
from typing import Any

from slmgraph.eval.sql.peers.common import (
    TierModel,
    attempt,
    chatml,
    read_only_engine,
    require,
    sql_in,
)
from slmgraph.eval.sql.spider import Item
from slmgraph.eval.sql.system import Prediction


class LlamaIndexPeer:
    """LlamaIndex's ``NLSQLTableQueryEngine`` over a llama.cpp completion model."""

    decisive = ("eval/sql/peers", "tools/sql/database.py", "tools/sql/text.py", "models/catalog.py")

    def __init__(
        self, name: str, tier: str = "slm", n_threads: int | None = None, *,
        max_seconds: float = 60.0, query_timeout_s: float = 30.0, llm: Any = None,
    ) -> None:  # fmt: skip
        require("llama_index.core", "sqlalchemy")
        self.name = name
        self.tier = TierModel(tier)
        self.max_seconds = max_seconds
        self.query_timeout_s = query_timeout_s
        self.config = (self.tier.model, max_seconds, query_timeout_s)
        if llm is None:  # ``llm``: any LlamaIndex LLM (the tests use its MockLLM)
            require("llama_index.llms.llama_cpp")
            from llama_index.llms.llama_cpp import LlamaCPP

            llm = LlamaCPP(
                model_path=self.tier.path(),
                temperature=0.0,
                max_new_tokens=256,
                context_window=4096,
                # LlamaIndex's parser cuts the reply at "SQLResult:" anyway; stopping there
                # saves the ~100-250 tokens of invented results the model writes after it
                generate_kwargs={"seed": 0, "stop": ["SQLResult:", "<|im_end|>"]},
                model_kwargs={"n_threads": n_threads or 2},
                messages_to_prompt=lambda ms: chatml([(m.role.value, str(m.content)) for m in ms]),
                completion_to_prompt=lambda text: chatml([("user", text)]),
                verbose=False,
            )
        self.llm = llm

    def _calls(self, trace: list[dict[str, Any]]) -> Any:
        from llama_index.core.callbacks import CallbackManager, CBEventType, EventPayload
        from llama_index.core.callbacks.base_handler import BaseCallbackHandler

        owner = self

        class Calls(BaseCallbackHandler):
            """One trace entry per LLM event, tokens from llama.cpp's usage."""

            def __init__(self) -> None:
                super().__init__([], [])
                self.t0: dict[str, float] = {}

            def on_event_start(self, event_type: Any, payload: Any = None, event_id: str = "",
                               parent_id: str = "", **kw: Any) -> str:  # fmt: skip
                self.t0[event_id] = time.perf_counter()
                return event_id

            def on_event_end(self, event_type: Any, payload: Any = None, event_id: str = "",
                             **kw: Any) -> None:  # fmt: skip
                if event_type != CBEventType.LLM:
                    return
                response = (payload or {}).get(EventPayload.COMPLETION)
                raw = getattr(response, "raw", None) or {}
                usage = raw.get("usage", {}) if isinstance(raw, dict) else {}
                seconds = time.perf_counter() - self.t0.pop(event_id, time.perf_counter())
                tokens_in = int(usage.get("prompt_tokens", 0))
                tokens_out = int(usage.get("completion_tokens", 0))
                trace.append(owner.tier.entry("llamaindex", tokens_in, tokens_out, seconds))

            def start_trace(self, trace_id: str | None = None) -> None:
                pass

            def end_trace(self, trace_id: str | None = None, trace_map: Any = None) -> None:
                pass

        return CallbackManager([Calls()])

    def predict(self, item: Item) -> Prediction:
        from llama_index.core import MockEmbedding, SQLDatabase
        from llama_index.core.query_engine import NLSQLTableQueryEngine

        def run(trace: list[dict[str, Any]]) -> tuple[str | None, str | None]:
            engine = read_only_engine(item.db_path, self.max_seconds, self.query_timeout_s)
            self.llm.callback_manager = self._calls(trace)
            # The engine asks for an embedding model (for pgvector queries only) and would
            # default to OpenAI's; a user without one passes a stand-in, as here.
            query_engine = NLSQLTableQueryEngine(
                sql_database=SQLDatabase(engine), llm=self.llm, sql_only=True,
                synthesize_response=False, callback_manager=self.llm.callback_manager,
                embed_model=MockEmbedding(embed_dim=8),
            )  # fmt: skip
            metadata = query_engine.query(item.question).metadata or {}
            text = str(metadata.get("sql_query", ""))
            sql = sql_in(text)
            return sql, None if sql else f"LlamaIndex parsed no SQL: {text[:200]!r}"

        return attempt(run)
