"""The query-writer domain: text-to-SQL on grammar-constrained small models.

Agents ``sql.table_extractor``, ``sql.reranker``, ``sql.query_writer``, ``sql.query_fixer``,
``sql.researcher``; tools ``sql.link``, ``sql.check``, ``sql.execute``, ``sql.answer``; the
run's database as a resource, the ``sql_executes`` validator, the ``sql`` judge, shape and
equivalence (:mod:`slmgraph.tools.sql.hooks`); prompts ``sql/*``; the graph ``query_writer``;
the commands ``slmgraph ask``, ``slmgraph demo-db`` and ``slmgraph eval spider`` (its systems:
:mod:`slmgraph.eval.sql.systems`, registered when the command loads them).
"""

from __future__ import annotations

from slmgraph.plugins import Plugin

plugin = Plugin(
    name="sql",
    description="The query-writer: text-to-SQL on grammar-constrained small models",
    modules=(
        "slmgraph.tools.sql.hooks",
        "slmgraph.tools.sql.nodes",
        "slmgraph.agents.sql",
    ),
    prompts={"sql": "slmgraph.prompts/sql"},
    graphs={"query_writer": "slmgraph.graphs/query_writer.yaml"},
    cli="slmgraph.cli.sql:register",
)
