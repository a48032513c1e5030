"""The conversion study's stages on Spider: the teacher (the query-writer on the 1.5B) answers
train questions with every call logged; curate (each SQL output execution-checked against the
question's gold query), cluster, select candidates on held-out calls, LoRA on the 0.5B, and the
student before and after against the teacher on dev questions. Each stage is resumable: the
evaluations append to their predictions, fine-tuning resumes from its checkpoint."""

from __future__ import annotations

import json
import sys
from typing import Any

from slmgraph.eval.sample import stratified_sample
from slmgraph.eval.sql.conversion.study import (
    STUDENT,
    TEACHER,
    LoggedWriter,
    Study,
    after_name,
    n_train_of,
    sized,
    student_dir,
    train_items,
    writer_spec,
)
from slmgraph.eval.sql.score import evaluate
from slmgraph.eval.sql.spider import load_split
from slmgraph.pipeline.cluster import cluster, read_examples, stderr_progress, write
from slmgraph.pipeline.curate import curate
from slmgraph.pipeline.finetune import FinetuneConfig, balance_examples, finetune, select_examples
from slmgraph.pipeline.select import llamacpp_runner, select
from slmgraph.pipeline.select import write as write_select
from slmgraph.telemetry.calllog import CallLog
from slmgraph.tools.sql.hooks import sql_shape
from slmgraph.tools.sql.match import execution_match
from slmgraph.tools.sql.text import extract_sql


def stage_teach(study: Study) -> dict[str, Any]:
    log = CallLog(study.work / "teacher.sqlite")
    system = LoggedWriter(
        "teacher-1.5b", writer_spec(TEACHER, study.threads), log, study.work / "teach-runs.jsonl"
    )
    # the log and the answers grow: a larger --n-train answers only the questions not asked yet
    summary = evaluate(
        system, train_items(study.data, study.n_train, study.seed), study.work / "teach"
    )
    log.close()
    return summary


def stage_slm_train(study: Study) -> dict[str, Any]:
    """The student (before) on the same train questions: with the teacher's answers, the
    outcomes ``benchmarks/routing.py`` trains its router and calibrates its cascade on."""
    system = LoggedWriter(
        "student-before",
        writer_spec(STUDENT, study.threads),
        None,
        study.work / "slm-train-runs.jsonl",
    )
    return evaluate(
        system, train_items(study.data, study.n_train, study.seed), study.work / "slm-train"
    )


def stage_curate(study: Study) -> dict[str, Any]:

    log = CallLog(study.work / "teacher.sqlite")
    items = {it.id: it for it in train_items(study.data, study.n_train, study.seed)}
    by_run = {}  # the finished runs of this --n-train's questions
    for line in (study.work / "teach-runs.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec["id"] in items:
            by_run[rec["run_id"]] = rec["id"]
    # Only those runs: a teach stage stopped mid-question left calls its rerun repeats, and
    # deduplication would keep the orphan (no question to verify it against) over the rerun's.
    report = curate(log, sized(study, "curated-raw.jsonl"), runs=set(by_run))
    # Verified on the teacher's own output, before scrubbing (a scrubbed literal would no
    # longer execute); the training example is the scrubbed one.
    raw_output = {r["call_id"]: r["output"] for r in log.rows()}
    n_verified = 0
    with sized(study, "curated.jsonl").open("w") as f:
        for line in sized(study, "curated-raw.jsonl").read_text().splitlines():
            ex = json.loads(line)
            item = items[by_run[ex["run_id"]]]
            ok = False
            if ex["node"] in ("write_sql", "fix_sql"):
                raw = str(raw_output.get(ex["call_id"]) or "")
                ok, _, _ = execution_match(item.db_path, item.gold, extract_sql(raw))
            ex.update(db=str(item.db_path), gold=item.gold, question_id=item.id, verified=ok)
            n_verified += ok
            f.write(json.dumps(ex, ensure_ascii=False) + "\n")
    return {**report.as_dict(), "verified": n_verified}


def stage_cluster(study: Study) -> dict[str, Any]:

    examples = read_examples(sized(study, "curated.jsonl"))
    report = cluster(examples, progress=stderr_progress)
    write(report, examples, sized(study, "clusters"))
    return report.as_dict()


def stage_select(study: Study) -> dict[str, Any]:
    candidates = ["smollm2-135m-instruct-q4_1", STUDENT]
    # after fine-tuning: the student with each adapter trained so far on this --n-train (the
    # baseline and every variant), on held-out calls none of them saw. Another --n-train holds
    # out other calls, which an adapter trained on it may have seen.
    for adapter in sorted(study.work.glob("student*/adapter.gguf")):
        if n_train_of(adapter.parent.name) == study.n_train:
            candidates.append(f"{STUDENT}+{adapter}")
    choices = select(
        write_sql_examples(study),
        candidates,
        runner=llamacpp_runner(threads=study.threads),
        n=study.n_select,
        labels={0: "write_sql (teacher: 1.5B)"},
    )
    write_select(choices, sized(study, "select"))
    return {"clusters": [c.as_dict() for c in choices]}


def write_sql_examples(study: Study) -> list[dict[str, Any]]:
    """The teacher's write_sql calls as one task cluster (what select scores and LoRA trains)."""

    return [
        {**e, "cluster": 0}
        for e in read_examples(sized(study, "curated.jsonl"))
        if e["node"] == "write_sql"
    ]


def training_examples(study: Study) -> list[dict[str, Any]]:
    """Execution-verified write_sql calls, without the ones select scored candidates on."""

    return select_examples(write_sql_examples(study), verified_only=True, holdout=study.n_select)


def stage_finetune(study: Study) -> dict[str, Any]:

    config = FinetuneConfig(
        base=STUDENT,
        epochs=study.epochs,
        lr=study.lr,
        rank=study.rank,
        alpha=2 * study.rank,
        max_length=study.max_length,
        grad_accum=4,
        checkpoint_every=5,
        prompt_grad=study.prompt_grad,
    )
    examples = training_examples(study)
    balance = None
    if study.balance_sql:  # match the shapes verification made rare (joins, subqueries)
        pool = select_examples(write_sql_examples(study), holdout=study.n_select)
        examples, balance = balance_examples(
            examples, pool, seed=study.seed, mode=study.balance_sql, shape=sql_shape
        )
        print(f"balanced by SQL shape: {balance}", file=sys.stderr)
    result = finetune(examples, student_dir(study), config, threads=study.threads)
    return {**result.as_dict(), "balance": balance.as_dict() if balance else None}


def stage_eval(study: Study) -> dict[str, Any]:
    items = stratified_sample(load_split(study.data, "dev"), study.n_eval, study.seed)
    adapter = student_dir(study) / "adapter.gguf"
    systems = [
        ("student-before", writer_spec(STUDENT, study.threads)),
        ("teacher", writer_spec(TEACHER, study.threads)),
    ]
    if adapter.exists():
        systems.insert(1, (after_name(study), writer_spec(STUDENT, study.threads, adapter)))
    else:  # before fine-tuning: the two ends (benchmarks/routing.py needs only these)
        print(f"no {adapter} yet: evaluating the student before and the teacher", file=sys.stderr)
    out = {}
    for name, spec in systems:
        system = LoggedWriter(name, spec, None, study.work / f"eval-{name}-runs.jsonl")
        out[name] = evaluate(
            system, items, study.work / "eval" / f"n{study.n_eval}-seed{study.seed}" / name
        )
    return out
