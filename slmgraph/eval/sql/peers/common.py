"""What every peer shares: the database opened read-only for another framework (SQLAlchemy
over our guarded SQLite connection, with a per-question deadline), the same GGUF file as our
tier, token counts for the trace, and the extra each peer needs."""

from __future__ import annotations

import importlib
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slmgraph.errors import SlmgraphError
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


def peer_authorizer(
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


def require(*modules: str) -> None:
    """Import ``modules`` or say which extra brings them."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise SlmgraphError(
                f"this peer needs {name.split('.')[0]} (make setup installs the peers: "
                "pip install -e '.[peers]'; vanna: pip install --no-deps vanna==0.7.9)"
            ) from exc


def read_only_engine(db_path: str | Path, max_seconds: float, query_timeout_s: float) -> Any:
    """A SQLAlchemy engine on the SQLite file, each connection read-only under our authorizer
    and stopped at whichever comes first: this query's timeout or the question's deadline."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    source = SQLiteDatabase(Path(db_path), sample_values=0)  # peers run on SQLite files
    deadline = time.monotonic() + max_seconds

    def connect() -> sqlite3.Connection:
        conn = source.connect()
        conn.set_authorizer(peer_authorizer)
        start = time.monotonic()
        conn.set_progress_handler(
            lambda: int(time.monotonic() > min(deadline, start + query_timeout_s)), 1000
        )
        return conn

    return create_engine("sqlite://", creator=connect, poolclass=NullPool)


class TierModel:
    """The tier's model as a peer sees it: the GGUF path, the prices, a trace entry."""

    def __init__(self, tier: str) -> None:
        spec = default_tiers()[tier]
        self.tier = tier
        self.model = str(spec["model"])
        self.size = str(spec.get("size", "large"))  # what reports count as small-model calls
        price = spec["price"]
        self.price_in = float(price["input_per_1m"]) / 1e6
        self.price_out = float(price["output_per_1m"]) / 1e6

    def path(self) -> str:
        return str(resolve_model_path(self.model))

    def entry(self, node: str, tokens_in: int, tokens_out: int, seconds: float) -> dict[str, Any]:
        return {
            "node": node,
            "tier": self.tier,
            "size": self.size,
            "model": self.model,
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "latency_s": round(seconds, 3),
            "cost_usd": tokens_in * self.price_in + tokens_out * self.price_out,
            "status": "ok",
        }


#: Qwen2.5's chat template (ChatML) with its default system message, for frameworks that
#: drive llama.cpp by completion and ask the user for the model's prompt format.
QWEN_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."


def chatml(messages: list[tuple[str, str]]) -> str:
    """(role, content) pairs in ChatML, ending with the assistant's turn opened."""
    if not messages or messages[0][0] != "system":
        messages = [("system", QWEN_SYSTEM), *messages]
    body = "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in messages)
    return body + "<|im_start|>assistant\n"


def sql_in(text: str) -> str | None:
    """The SQL statement in a framework's answer (the same extraction for every system), or
    None when it holds none (prose, a refusal)."""
    if not re.search(r"\b(SELECT|WITH)\b", text, re.I):
        return None
    return extract_sql(text) or None


def attempt(
    run: Callable[[list[dict[str, Any]]], tuple[str | None, str | None]],
    trace: list[dict[str, Any]] | None = None,
) -> Prediction:
    """A peer's answer: ``run(trace)`` returns (sql, error) and appends its model calls to
    ``trace``; the time is taken around it, and any exception is a wrong answer with its
    message, not a crashed benchmark (a peer is another framework's code)."""
    calls: list[dict[str, Any]] = [] if trace is None else trace
    start = time.perf_counter()
    try:
        sql, error = run(calls)
    except Exception as exc:
        sql, error = None, f"{type(exc).__name__}: {exc}"
    return Prediction(sql, error, False, calls, time.perf_counter() - start)
