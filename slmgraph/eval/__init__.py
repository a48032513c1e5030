"""Evaluation: the harness core (a resumable run over items, with a summary), paired statistics
and stratified samples. Each domain brings its benchmark: the query-writer's Spider harness is
:mod:`slmgraph.eval.sql` (``slmgraph eval spider``)."""

from slmgraph.eval.harness import System, evaluate
from slmgraph.eval.sample import stratified_sample
from slmgraph.eval.stats import paired, percentile, wilson

__all__ = ["System", "evaluate", "paired", "percentile", "stratified_sample", "wilson"]
