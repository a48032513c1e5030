"""The LLM-to-SLM conversion pipeline end to end on Spider: teacher -> log -> curate -> cluster
-> select -> LoRA -> student, measured on the public dev sample.

    .venv/bin/python benchmarks/conversion.py --stage all --n-train 200 --n-eval 100

The stages, the study's files and its report are library code (:mod:`slmgraph.eval.sql.conversion`);
this script is their command line.

Stages (each resumable; work in benchmarks/runs/conversion/, not committed):

1. ``teach``: the query-writer with its SQL-writing steps on the 1.5B model (the teacher; grammar
   on, no escalation) answers ``--n-train`` Spider *train* questions; every model call goes to
   ``teacher.sqlite`` (the call log).
   ``slm-train``: the 0.5B student (before) on the same questions (for benchmarks/routing.py).
2. ``curate``: ``slmgraph curate`` on that log; each example is then execution-checked against
   the question's gold query (``verified``) and carries its ``db`` and ``gold``.
3. ``cluster``: ``slmgraph cluster`` on the curated calls (report: task clusters, ARI vs nodes).
4. ``select``: the catalog's candidate SLMs on held-out ``write_sql`` calls (EX agreement);
   after ``finetune``, the student with each adapter trained so far (those calls are kept out
   of training).
5. ``finetune``: LoRA on the 0.5B with the verified ``write_sql`` examples (GGUF LoRA out).
6. ``eval``: on ``--n-eval`` stratified dev questions: the student before (``slmgraph-slm``),
   the student after (same, with the adapter), and the teacher.
7. ``report``: ``benchmarks/results/conversion-latest.json`` and a dated markdown report.

With ``--balance-sql`` the training set is balanced by SQL shape first, with ``--prompt-grad``
the gradient goes through the prompt too; such a variant keeps its own adapter
(``student-balanced/``, ``student-promptgrad/`` …), eval (``student-after-balanced`` …) and stage
files (``finetune-balanced.json`` …), and its report shows the baseline adapter beside it.
With another ``--n-train`` than the first runs' 200, the teacher answers only the new questions
(its log and answers grow), and curate, cluster, select and the adapters keep files of their own
(``curated-n600.jsonl``, ``select-n600/``, ``student-n600/`` …); the dev evaluation of the
student before and the teacher is shared.

Train and dev databases are disjoint: the student never sees a dev database while training.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path

from slmgraph.errors import SlmgraphError
from slmgraph.eval.sql.conversion import STAGES, Study, run
from slmgraph.eval.sql.conversion.study import FIRST_N_TRAIN

HERE = Path(__file__).parent
DATA = HERE.parent.parent / "shared" / "data" / "spider"
WORK = HERE / "runs" / "conversion"
NOTES = HERE / "conversion-notes.md"  # hand-written reading of the numbers, appended to the report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stage", default="all", help=f"one of {', '.join(STAGES)}, or all")
    ap.add_argument(
        "--n-train",
        type=int,
        default=FIRST_N_TRAIN,
        help="train questions for the teacher (5 a database; a larger number answers only the "
        "new ones; other than 200, curate, cluster, select and adapters get files of their own: "
        "curated-n600.jsonl, student-n600/ ...)",
    )
    ap.add_argument("--n-eval", type=int, default=100, help="stratified dev questions")
    ap.add_argument("--n-select", type=int, default=20, help="held-out calls for select")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--report-seeds",
        type=int,
        nargs="+",
        help="report: pool the dev samples of these seeds (each evaluated with --stage eval "
        "--seed N); default the one --seed",
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--max-length", type=int, default=2048)
    ap.add_argument(
        "--balance-sql",
        nargs="?",
        const="repeat",
        choices=["repeat", "drop"],
        help="match the SQL shapes of all the teacher's outputs: repeat verified examples of "
        "rare shapes (repeat, the default; own folders student-balanced/, "
        "student-after-balanced/) or drop some of the common ones (drop; student-trimmed/ ...)",
    )
    ap.add_argument(
        "--prompt-grad",
        action="store_true",
        help="exact gradients through the prompt (default off: about 2x faster on this CPU; "
        "own adapter folder student-promptgrad/ and eval student-after-promptgrad/)",
    )
    args = ap.parse_args()
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    flags = {k: v for k, v in vars(args).items() if k != "stage"}
    study = Study(data=DATA, work=WORK, results=HERE / "results", notes=NOTES, **flags)
    try:
        run(study, STAGES if args.stage == "all" else tuple(args.stage.split(",")))
    except SlmgraphError as exc:
        sys.exit(str(exc))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=HERE).stdout.strip()  # fmt: skip
    print(f"commit {commit}", file=sys.stderr)


if __name__ == "__main__":
    main()
