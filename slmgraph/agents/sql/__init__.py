"""The query-writer's roles, one per module (registered on import)."""

from slmgraph.agents.sql import (  # noqa: F401
    query_fixer,
    query_writer,
    reranker,
    researcher,
    table_extractor,
)
