"""The LLM-to-SLM conversion, end to end on Spider, as a study: the query-writer on the 1.5B
teaches, its logged calls are curated, clustered and replayed on candidates, a LoRA trains the
0.5B, and the student is measured against the teacher on dev databases it never saw.

:func:`run` runs stages of a :class:`~slmgraph.eval.sql.conversion.study.Study` in order (each
resumable) and writes each stage's JSON output; ``benchmarks/conversion.py`` is its command line.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from slmgraph.errors import SlmgraphError
from slmgraph.eval.sql.conversion import report, stages
from slmgraph.eval.sql.conversion.study import STAGES, Study, stage_output

StageFn = Callable[[Study], dict[str, Any]]

STAGE_FUNCTIONS: dict[str, StageFn] = {
    "teach": stages.stage_teach,
    "slm-train": stages.stage_slm_train,
    "curate": stages.stage_curate,
    "cluster": stages.stage_cluster,
    "select": stages.stage_select,
    "finetune": stages.stage_finetune,
    "eval": stages.stage_eval,
    "report": report.stage_report,
}
assert tuple(STAGE_FUNCTIONS) == STAGES


def run(study: Study, names: Sequence[str] = STAGES) -> dict[str, dict[str, Any]]:
    """Run the named stages in order, each writing its output beside the study's work."""
    unknown = [n for n in names if n not in STAGE_FUNCTIONS]
    if unknown:
        raise SlmgraphError(f"unknown stage {unknown[0]!r}: {', '.join(STAGES)}")
    if not (study.data / "train.json").exists():
        raise SlmgraphError(f"Spider data not found at {study.data} (see ../shared/data/README.md)")
    study.work.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in names:
        started = time.perf_counter()
        print(f"== {name}", file=sys.stderr)
        out[name] = STAGE_FUNCTIONS[name](study)
        stage_output(study, name).write_text(json.dumps(out[name], indent=2, default=str) + "\n")
        print(f"== {name} done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return out


__all__ = ["STAGES", "Study", "run"]
