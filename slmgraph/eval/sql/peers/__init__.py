"""Peer systems: what a user would build today with another framework, on the same model.
Each is imported only when asked for (its framework is the ``peers`` extra)."""

from __future__ import annotations

from typing import Any

from slmgraph.eval.sql.system import System

#: name prefix -> (module, class)
PEERS = {
    "langchain-sql-agent": ("langchain", "LangChainSQLAgent"),
    "langchain-sql-chain": ("langchain", "LangChainSQLChain"),
    "vanna": ("vanna", "VannaPeer"),
    "llamaindex": ("llamaindex", "LlamaIndexPeer"),
}


def make_peer(kind: str, name: str, tier: str, n_threads: int | None, **kw: Any) -> System:
    import importlib

    module, cls = PEERS[kind]
    peer: System = getattr(importlib.import_module(f"{__name__}.{module}"), cls)(
        name, tier, n_threads, **kw
    )
    return peer
