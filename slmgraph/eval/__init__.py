"""Evaluation: Spider-style text-to-SQL with execution accuracy, cost and latency.

``slmgraph eval spider --data DIR --system NAME --out DIR`` or :func:`evaluate`.
"""

from slmgraph.eval.dataset import Item, load_split, stratified_sample
from slmgraph.eval.execution import execution_match
from slmgraph.eval.harness import evaluate
from slmgraph.eval.report import summarize

__all__ = ["Item", "evaluate", "execution_match", "load_split", "stratified_sample", "summarize"]
