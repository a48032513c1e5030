"""The query-writer's benchmark: Spider-layout splits, execution accuracy, the systems compared
(zero-shot baselines, the query-writer's configurations, LangChain's SQL agent), reports.

``slmgraph eval spider --data DIR --system NAME --out DIR`` or :func:`evaluate`.
"""

from slmgraph.eval.sample import stratified_sample
from slmgraph.eval.sql.report import summarize
from slmgraph.eval.sql.score import evaluate
from slmgraph.eval.sql.spider import Item, load_split
from slmgraph.tools.sql.match import execution_match

__all__ = ["Item", "evaluate", "execution_match", "load_split", "stratified_sample", "summarize"]
