"""The LLM-to-SLM conversion pipeline end to end on Spider: teacher -> log -> curate -> cluster
-> select -> LoRA -> student, measured on the public dev sample.

    .venv/bin/python benchmarks/conversion.py --stage all --n-train 200 --n-eval 100

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
import datetime as dt
import json
import logging
import platform
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from slmgraph.eval.sample import stratified_sample
from slmgraph.eval.sql import evaluate, load_split
from slmgraph.eval.sql.spider import Item
from slmgraph.eval.sql.systems import Prediction, query_writer_spec
from slmgraph.loader import load_spec
from slmgraph.spec import GraphSpec, default_tiers
from slmgraph.telemetry.calllog import CallLog
from slmgraph.tools.sql.match import execution_match
from slmgraph.tools.sql.text import extract_sql

HERE = Path(__file__).parent
DATA = HERE.parent.parent / "shared" / "data" / "spider"
WORK = HERE / "runs" / "conversion"
NOTES = HERE / "conversion-notes.md"  # hand-written reading of the numbers, appended to the report
STUDENT = "qwen2.5-coder-0.5b-instruct-q4_k_m"
TEACHER = "qwen2.5-coder-1.5b-instruct-q4_k_m"
STAGES = ("teach", "slm-train", "curate", "cluster", "select", "finetune", "eval", "report")


def writer_spec(model: str, threads: int, lora: Path | None = None) -> GraphSpec:
    """``slmgraph-slm`` (query-writer, grammar on, no escalation) with its tier on ``model``."""
    spec = query_writer_spec("slm", threads)
    data = spec.model_dump(by_alias=True, exclude_none=True, exclude={"source"})
    tier = data["tiers"]["slm"]
    tier["model"] = model
    # the tier is named slm whichever model runs it; its price is the model's own
    own = next(t for t in default_tiers().values() if t["model"] == model)
    tier["price"] = own["price"]
    if lora is not None:
        tier.setdefault("settings", {})["lora_path"] = str(lora)
    return load_spec(data)


class LoggedWriter:
    """The query-writer as an eval system that logs its calls and remembers each run's id."""

    def __init__(self, name: str, spec: GraphSpec, log: CallLog | None, runs: Path) -> None:
        from slmgraph.graphs.builder import build

        self.name = name
        self.built = build(spec, call_log=log if log is not None else False)
        self.runs = runs

    def predict(self, item: Item) -> Prediction:
        from slmgraph.runner import run

        start = time.perf_counter()
        result = run(
            self.built, {"question": item.question, "db": str(item.db_path)}, session_id=item.id
        )
        with self.runs.open("a") as f:
            f.write(json.dumps({"id": item.id, "run_id": result.run_id}) + "\n")
        state = result.state
        return Prediction(
            state.get("sql"),
            result.error or state.get("final_error"),
            bool(state.get("escalated")),
            [t for t in result.trace if t.get("model")],
            time.perf_counter() - start,
        )


def train_items(n: int, seed: int, per_db: int = 5) -> list[Item]:
    """``n`` train questions, ``per_db`` from each of ``n / per_db`` random databases, grouped by
    database: consecutive questions share the schema, so llama.cpp reuses its cached prompt
    prefix (a random order pays the whole schema on every question: 22-26 s a question for the
    1.5B here, against about 7 s with the prefix cached)."""
    by_db: dict[str, list[Item]] = {}
    for it in load_split(DATA, "train"):
        by_db.setdefault(it.db_id, []).append(it)
    rng = random.Random(seed)
    dbs = sorted(by_db)
    rng.shuffle(dbs)
    out: list[Item] = []
    for db in dbs:
        if len(out) >= n:
            break
        pool = by_db[db]
        out += rng.sample(pool, min(per_db, len(pool), n - len(out)))
    return out


def stage_teach(args: argparse.Namespace) -> dict[str, Any]:
    log = CallLog(WORK / "teacher.sqlite")
    system = LoggedWriter(
        "teacher-1.5b", writer_spec(TEACHER, args.threads), log, WORK / "teach-runs.jsonl"
    )
    # the log and the answers grow: a larger --n-train answers only the questions not asked yet
    summary = evaluate(system, train_items(args.n_train, args.seed), WORK / "teach")
    log.close()
    return summary


def stage_slm_train(args: argparse.Namespace) -> dict[str, Any]:
    """The student (before) on the same train questions: with the teacher's answers, the
    outcomes ``benchmarks/routing.py`` trains its router and calibrates its cascade on."""
    system = LoggedWriter(
        "student-before", writer_spec(STUDENT, args.threads), None, WORK / "slm-train-runs.jsonl"
    )
    return evaluate(system, train_items(args.n_train, args.seed), WORK / "slm-train")


def stage_curate(args: argparse.Namespace) -> dict[str, Any]:
    from slmgraph.pipeline.curate import curate

    log = CallLog(WORK / "teacher.sqlite")
    items = {it.id: it for it in train_items(args.n_train, args.seed)}
    by_run = {}  # the finished runs of this --n-train's questions
    for line in (WORK / "teach-runs.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec["id"] in items:
            by_run[rec["run_id"]] = rec["id"]
    # Only those runs: a teach stage stopped mid-question left calls its rerun repeats, and
    # deduplication would keep the orphan (no question to verify it against) over the rerun's.
    report = curate(log, sized(args, "curated-raw.jsonl"), runs=set(by_run))
    # Verified on the teacher's own output, before scrubbing (a scrubbed literal would no
    # longer execute); the training example is the scrubbed one.
    raw_output = {r["call_id"]: r["output"] for r in log.rows()}
    n_verified = 0
    with sized(args, "curated.jsonl").open("w") as f:
        for line in sized(args, "curated-raw.jsonl").read_text().splitlines():
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


def stage_cluster(args: argparse.Namespace) -> dict[str, Any]:
    from slmgraph.pipeline.cluster import cluster, read_examples, stderr_progress, write

    examples = read_examples(sized(args, "curated.jsonl"))
    report = cluster(examples, progress=stderr_progress)
    write(report, examples, sized(args, "clusters"))
    return report.as_dict()


def stage_select(args: argparse.Namespace) -> dict[str, Any]:
    from slmgraph.pipeline.select import llamacpp_runner, select
    from slmgraph.pipeline.select import write as write_select

    candidates = ["smollm2-135m-instruct-q4_1", STUDENT]
    # after fine-tuning: the student with each adapter trained so far on this --n-train (the
    # baseline and every variant), on held-out calls none of them saw. Another --n-train holds
    # out other calls, which an adapter trained on it may have seen.
    for adapter in sorted(WORK.glob("student*/adapter.gguf")):
        if n_train_of(adapter.parent.name) == args.n_train:
            candidates.append(f"{STUDENT}+{adapter}")
    choices = select(
        write_sql_examples(args),
        candidates,
        runner=llamacpp_runner(threads=args.threads),
        n=args.n_select,
        labels={0: "write_sql (teacher: 1.5B)"},
    )
    write_select(choices, sized(args, "select"))
    return {"clusters": [c.as_dict() for c in choices]}


def write_sql_examples(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The teacher's write_sql calls as one task cluster (what select scores and LoRA trains)."""
    from slmgraph.pipeline.cluster import read_examples

    return [
        {**e, "cluster": 0}
        for e in read_examples(sized(args, "curated.jsonl"))
        if e["node"] == "write_sql"
    ]


def training_examples(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Execution-verified write_sql calls, without the ones select scored candidates on."""
    from slmgraph.pipeline.finetune import select_examples

    return select_examples(write_sql_examples(args), verified_only=True, holdout=args.n_select)


# The first runs' teacher questions: their files carry no size in their names. A run on another
# --n-train keeps its own curated data, clusters and select (``curated-n600.jsonl``,
# ``select-n600/`` ...) and its own adapter folders (``student-n600/`` ...); the teacher's log and
# answers are one, and grow.
FIRST_N_TRAIN = 200

# Training variants beside the baseline run (verified examples as they come, output-only
# gradients): each keeps its own adapter folder, eval and stage files, so runs stay comparable.
VARIANTS = {
    "balanced": "balanced by SQL shape",
    "trimmed": "trimmed to the teacher's SQL shapes",
    "promptgrad": "exact gradients",
}


def size(args: argparse.Namespace) -> str:
    """``""`` for the first runs' --n-train, else e.g. ``"-n600"``."""
    return "" if args.n_train == FIRST_N_TRAIN else f"-n{args.n_train}"


def sized(args: argparse.Namespace, name: str) -> Path:
    """A file or folder of the data stages for this --n-train: ``curated.jsonl`` for the first
    runs, ``curated-n600.jsonl`` for 600 questions."""
    stem, dot, ext = name.partition(".")
    return WORK / f"{stem}{size(args)}{dot}{ext}"


def n_train_of(folder: str) -> int:
    """The --n-train a student folder's adapter was trained on (``student-n600`` -> 600)."""
    sizes = [p[1:] for p in folder.split("-")[1:] if p[:1] == "n" and p[1:].isdigit()]
    return int(sizes[0]) if sizes else FIRST_N_TRAIN


def variant(args: argparse.Namespace) -> str:
    """``""`` for the baseline run, else e.g. ``"-balanced"``, ``"-n600-promptgrad"``."""
    on = [
        ("balanced", args.balance_sql == "repeat"),
        ("trimmed", args.balance_sql == "drop"),
        ("promptgrad", args.prompt_grad),
    ]
    return size(args) + "".join(f"-{name}" for name, flag in on if flag)


def describe(folder: str) -> str:
    """What a student folder's adapter was trained with, for report labels."""
    parts = [VARIANTS[p] for p in folder.split("-")[1:] if p in VARIANTS]
    n = n_train_of(folder)
    if not parts:
        return (
            f"baseline: {n} train questions, unbalanced, output-only gradients"
            if n == FIRST_N_TRAIN
            else f"{n} train questions, output-only gradients"
        )
    return ", ".join(([f"{n} train questions"] if n != FIRST_N_TRAIN else []) + parts)


def student_dir(args: argparse.Namespace) -> Path:
    """Where the student's adapter goes: each variant keeps its own (and its own eval)."""
    return WORK / f"student{variant(args)}"


def after_name(args: argparse.Namespace) -> str:
    return f"student-after{variant(args)}"


def stage_output(args: argparse.Namespace, stage: str) -> Path:
    """A stage's JSON output; a variant's finetune/eval/report keep their own files, another
    --n-train its own teach/curate/cluster/select summaries."""
    if stage in ("finetune", "eval", "report"):
        return WORK / f"{stage}{variant(args)}.json"
    return sized(args, f"{stage}.json")


def stage_finetune(args: argparse.Namespace) -> dict[str, Any]:
    from slmgraph.pipeline.finetune import (
        FinetuneConfig,
        balance_examples,
        finetune,
        select_examples,
    )

    config = FinetuneConfig(
        base=STUDENT,
        epochs=args.epochs,
        lr=args.lr,
        rank=args.rank,
        alpha=2 * args.rank,
        max_length=args.max_length,
        grad_accum=4,
        checkpoint_every=5,
        prompt_grad=args.prompt_grad,
    )
    examples = training_examples(args)
    balance = None
    if args.balance_sql:  # match the shapes verification made rare (joins, subqueries)
        pool = select_examples(write_sql_examples(args), holdout=args.n_select)
        examples, balance = balance_examples(examples, pool, seed=args.seed, mode=args.balance_sql)
        print(f"balanced by SQL shape: {balance}", file=sys.stderr)
    result = finetune(examples, student_dir(args), config, threads=args.threads)
    return {**result.as_dict(), "balance": balance.as_dict() if balance else None}


def stage_eval(args: argparse.Namespace) -> dict[str, Any]:
    items = stratified_sample(load_split(DATA, "dev"), args.n_eval, args.seed)
    adapter = student_dir(args) / "adapter.gguf"
    systems = [
        ("student-before", writer_spec(STUDENT, args.threads)),
        ("teacher", writer_spec(TEACHER, args.threads)),
    ]
    if adapter.exists():
        systems.insert(1, (after_name(args), writer_spec(STUDENT, args.threads, adapter)))
    else:  # before fine-tuning: the two ends (benchmarks/routing.py needs only these)
        print(f"no {adapter} yet: evaluating the student before and the teacher", file=sys.stderr)
    out = {}
    for name, spec in systems:
        system = LoggedWriter(name, spec, None, WORK / f"eval-{name}-runs.jsonl")
        out[name] = evaluate(
            system, items, WORK / "eval" / f"n{args.n_eval}-seed{args.seed}" / name
        )
    return out


def eval_dir(args: argparse.Namespace, seed: int) -> Path:
    return WORK / "eval" / f"n{args.n_eval}-seed{seed}"


def report_seeds(args: argparse.Namespace) -> list[int]:
    """The dev samples the report pools: ``--report-seeds``, else the one ``--seed`` ran."""
    return list(getattr(args, "report_seeds", None) or [args.seed])


def predictions(args: argparse.Namespace, name: str) -> list[dict[str, Any]] | None:
    """A system's answers on the report's dev samples, each question once (samples overlap)."""
    out: dict[str, dict[str, Any]] = {}
    for seed in report_seeds(args):
        path = eval_dir(args, seed) / name / "predictions.jsonl"
        if not path.exists():
            return None
        with path.open(encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                out.setdefault(str(rec["id"]), rec)
    return list(out.values())


def eval_summary(args: argparse.Namespace, name: str) -> dict[str, Any] | None:
    """One sample: its summary as evaluated; several: the summary of their pooled answers."""
    from slmgraph.eval.sql.report import summarize

    seeds = report_seeds(args)
    if len(seeds) == 1:
        path = eval_dir(args, seeds[0]) / name / "summary.json"
        return json.loads(path.read_text()) if path.exists() else None
    records = predictions(args, name)
    return summarize(records, name) if records else None


def paired(args: argparse.Namespace, a: str, b: str) -> dict[str, Any] | None:
    """Questions ``b`` gets right and ``a`` wrong (gained) and the reverse (lost), with the exact
    McNemar p-value (``slmgraph.eval.stats.paired``): is the change more than the noise of
    which questions were drawn?"""
    from slmgraph.eval.stats import paired as paired_ex

    pa, pb = predictions(args, a), predictions(args, b)
    if pa is None or pb is None:
        return None
    d = paired_ex(pb, pa)
    return {"gained": d["only_a"], "lost": d["only_b"], "mcnemar_p": d["p_mcnemar"]}


def gap_closed_ci(args: argparse.Namespace, after: str, n_boot: int = 4000) -> list[float] | None:
    """A 95% bootstrap interval (questions resampled, seeded) for the share of the gap closed:
    the target is a ratio of two small differences, so it moves far more than either EX."""
    recs = {n: predictions(args, n) for n in ("student-before", after, "teacher")}
    if any(r is None for r in recs.values()):
        return None
    right = {n: {r["id"]: bool(r["correct"]) for r in rs or []} for n, rs in recs.items()}
    ids = sorted(set.intersection(*(set(r) for r in right.values())))
    rng = random.Random(0)
    shares = []
    for _ in range(n_boot):
        drawn = [rng.choice(ids) for _ in ids]
        b, a, t = (sum(right[n][i] for i in drawn) for n in ("student-before", after, "teacher"))
        if t > b:  # a resample where the teacher is not ahead has no gap to close
            shares.append((a - b) / (t - b))
    if len(shares) < n_boot // 2:
        return None
    shares.sort()
    return [round(shares[int(0.025 * len(shares))], 3), round(shares[int(0.975 * len(shares))], 3)]


def stage_report(args: argparse.Namespace) -> dict[str, Any]:
    def load(path: Path) -> Any:
        return json.loads(path.read_text()) if path.exists() else None

    seeds = report_seeds(args)
    before = eval_summary(args, "student-before")
    after = eval_summary(args, after_name(args))
    teacher = eval_summary(args, "teacher")
    ft = load(student_dir(args) / "finetune.json")
    stage = load(stage_output(args, "finetune")) or {}
    balance = stage.get("balance") if args.balance_sql else None
    if args.balance_sql and balance is None:
        sys.exit(
            f"run --stage finetune --balance-sql {args.balance_sql} first "
            f"({stage_output(args, 'finetune').name} has no balance)"
        )
    teach = load(stage_output(args, "teach"))  # the teacher on this --n-train's questions
    # a variant's report shows the baseline adapter beside it, same questions
    baseline = eval_summary(args, "student-after") if variant(args) else None
    if not (before and after and teacher and ft):
        sys.exit(
            "missing stages: run --stage all first"
            + (
                f" and --stage eval --seed N for each of --report-seeds {' '.join(map(str, seeds))}"
                if len(seeds) > 1
                else ""
            )
        )
    by_seed = {}  # each sample on its own, when the report pools several
    if len(seeds) > 1:
        for seed in seeds:
            one = argparse.Namespace(**{**vars(args), "report_seeds": [seed]})
            by_seed[str(seed)] = {
                k: round(sum(bool(r["correct"]) for r in recs) / len(recs), 4)
                for k, name in [
                    ("student_before", "student-before"),
                    ("student_after", after_name(args)),
                    ("teacher", "teacher"),
                ]
                if (recs := predictions(one, name))
            }
    gap = teacher["ex"] - before["ex"]
    closed = (after["ex"] - before["ex"]) / gap if gap > 0 else None
    result = {
        "machine": f"{platform.node()} ({platform.processor() or platform.machine()}), "
        f"{args.threads} threads",
        "date": dt.date.today().isoformat(),
        "data": str(DATA),
        "teacher": TEACHER,
        "student": STUDENT,
        "teacher_ex": teacher["ex"],
        "student_before_ex": before["ex"],
        "student_after_ex": after["ex"],
        "gap_closed": closed,
        "gap_closed_ci95": gap_closed_ci(args, after_name(args)),
        "target_met": closed is not None and closed >= 0.5,
        # distinct examples trained on: balancing by repeats counts each once
        "n_train": balance["n_before"]
        if balance and balance.get("mode", "repeat") == "repeat"
        else ft["n_examples"],
        # balanced by SQL shape: the examples trained on, repeats included, and the shares
        "n_train_with_repeats": ft["n_examples"],
        "balance_sql": balance,
        "n_train_questions": args.n_train,
        "teacher_train_ex": teach["ex"] if teach else None,
        "n_eval": after["n"],
        "eval_seed": args.seed,
        # the dev samples pooled (each question once) and each one's EX on its own
        "eval_seeds": seeds,
        "eval_by_seed": by_seed or None,
        "after_vs_before": paired(args, "student-before", after_name(args)),
        "train_seconds": ft["seconds"],
        # steps train_seconds covers: a run resumed from a checkpoint that predates cumulative
        # timing counts only the steps after the resume
        "train_seconds_steps": ft.get("timed_steps", ft["steps"] - ft["resumed_from"]),
        "device": ft["device"],
        "finetune": {k: ft[k] for k in ("steps", "n_skipped", "config")},
        "variant": describe(student_dir(args).name) if variant(args) else None,
        "student_after_baseline_ex": baseline["ex"] if baseline else None,
        "eval": {
            "student_before": before,
            "student_after": after,
            "teacher": teacher,
            **({"student_after_baseline": baseline} if baseline else {}),
        },
    }
    res = HERE / "results"
    (res / "conversion-latest.json").write_text(json.dumps(result, indent=2) + "\n")
    (res / f"conversion-{result['date']}.md").write_text(markdown_report(result, args))
    return result


def markdown_report(r: dict[str, Any], args: argparse.Namespace) -> str:
    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:.1%}"

    ev = r["eval"]
    rows = [
        ("teacher (1.5B)", ev["teacher"]),
        ("student before (0.5B)", ev["student_before"]),
        ("student after (0.5B + LoRA)", ev["student_after"]),
    ]
    if r.get("variant"):
        rows[-1] = (f"student after (0.5B + LoRA, {r['variant']})", ev["student_after"])
    if "student_after_baseline" in ev:
        label = f"student after (0.5B + LoRA, {describe('student')})"
        rows.append((label, ev["student_after_baseline"]))
    table = [
        "| system | EX | 95% CI | valid SQL | p50 s |",
        "|---|---|---|---|---|",
        *[
            f"| {name} | {pct(s['ex'])} | {pct(s['ex_ci95'][0])}-{pct(s['ex_ci95'][1])} "
            f"| {pct(s['valid_sql_rate'])} | {s['p50_s']:.1f} |"
            for name, s in rows
        ],
    ]

    order = ("plain", "join", "group", "nested")

    def shares(d: dict[str, float]) -> str:
        return "/".join(f"{d.get(k, 0.0):.0%}".rstrip("%") for k in order) + "%"

    closed = r["gap_closed"]
    verdict = (
        (
            f"The student closed {pct(closed)} of its EX gap to the teacher"
            if closed >= 0
            else f"The student fell further behind the teacher: the gap grew by {pct(-closed)}"
        )
        + (
            f" (95% bootstrap interval {pct(r['gap_closed_ci95'][0])} to "
            f"{pct(r['gap_closed_ci95'][1])})"
            if r.get("gap_closed_ci95")
            else ""
        )
        + f". Target (close at least half the gap): {'met' if r['target_met'] else 'missed'}."
        if closed is not None
        else "The teacher is not ahead of the student on this sample: no gap to close."
    )
    ft = r["finetune"]
    return "\n".join(
        [
            f"# LLM-to-SLM conversion on Spider ({r['date']})",
            "",
            f"Machine: {r['machine']}; device for training: {r['device']}.",
            f"Teacher {r['teacher']}, student {r['student']}; query-writer with grammar on, no "
            "escalation, SQL-writing step on the model named.",
            "",
            "```",
            *commands(r, args),
            "```",
            "",
            *table,
            "",
            verdict,
            "",
            f"Training: {r['n_train']} execution-verified write_sql examples from "
            f"{r['n_train_questions']} train questions (teacher EX on them: "
            f"{pct(r['teacher_train_ex'])})"
            + (
                (
                    f", balanced by SQL shape to {r['n_train_with_repeats']} with repeats "
                    if r["balance_sql"].get("mode", "repeat") == "repeat"
                    else f", trimmed by SQL shape from {r['balance_sql']['n_before']} "
                )
                + f"(shares {'/'.join(order)} {shares(r['balance_sql']['before'])} -> "
                f"{shares(r['balance_sql']['after'])}; all the teacher's outputs: "
                f"{shares(r['balance_sql']['reference'])})"
                if r.get("balance_sql")
                else ""
            )
            + f"; {ft['steps']} optimizer steps of 4 examples; "
            f"{r['train_seconds'] / 60:.0f} min for "
            + (
                "all of them"
                if r["train_seconds_steps"] == ft["steps"]
                else f"the last {r['train_seconds_steps']} (the first "
                f"{ft['steps'] - r['train_seconds_steps']} ran in an earlier session, untimed)"
            )
            + f"; skipped: {ft['n_skipped'] or 'none'}. "
            f"Evaluation: {evaluation(r, args)}; train and dev databases are disjoint.",
            "",
            *paired_lines(r),
            *pipeline_sections(args),
            *([NOTES.read_text()] if NOTES.exists() else []),
        ]
    )


def commands(r: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """The command lines that made this report: one run, then the other dev samples' evals."""
    flags = (
        f"--n-train {args.n_train} --n-eval {args.n_eval} --epochs {args.epochs} "
        f"--rank {args.rank} --lr {args.lr}"
        + (" --prompt-grad" if args.prompt_grad else "")
        + (f" --balance-sql {args.balance_sql}" if args.balance_sql else "")
    )
    run = ".venv/bin/python benchmarks/conversion.py"
    lines = [f"{run} --stage all {flags} --seed {args.seed}"]
    others = [s for s in r["eval_seeds"] if s != args.seed]
    lines += [f"{run} --stage eval {flags} --seed {s}" for s in others]
    if len(r["eval_seeds"]) > 1:
        seeds = " ".join(map(str, r["eval_seeds"]))
        lines.append(f"{run} --stage report {flags} --seed {args.seed} --report-seeds {seeds}")
    return lines


def evaluation(r: dict[str, Any], args: argparse.Namespace) -> str:
    """What the EX column was measured on, and each sample on its own when several are pooled."""
    seeds = r["eval_seeds"]
    if len(seeds) == 1:
        return f"{r['n_eval']} stratified public dev questions (seed {seeds[0]})"

    def closed(ex: dict[str, float]) -> str:
        gap = ex["teacher"] - ex["student_before"]
        share = (ex["student_after"] - ex["student_before"]) / gap if gap > 0 else None
        return "no gap" if share is None else f"closed {share:.0%}"

    drawn = len(seeds) * args.n_eval
    per = "; ".join(
        f"seed {s}: before {ex['student_before']:.0%}, after {ex['student_after']:.0%}, "
        f"teacher {ex['teacher']:.0%} ({closed(ex)})"
        for s, ex in r["eval_by_seed"].items()
    )
    return (
        f"{r['n_eval']} distinct public dev questions from the stratified samples of "
        f"{args.n_eval} drawn with seeds {', '.join(map(str, seeds))} ({drawn} draws; a question "
        f"drawn again counts once); each sample alone: {per}"
    )


def paired_lines(r: dict[str, Any]) -> list[str]:
    pv = r.get("after_vs_before")
    if not pv:
        return []
    return [
        f"Against the student before, question by question: {pv['gained']} became right, "
        f"{pv['lost']} wrong (exact McNemar p = {pv['mcnemar_p']:.2f}).",
        "",
    ]


def _short_paths(text: str, scores: list[dict[str, Any]]) -> str:
    """A recommendation names its model as the report's table does, without local paths."""
    for sc in scores:
        text = text.replace(sc["model"], _candidate(sc["model"]))
    return text


def _candidate(model: str) -> str:
    base, _, adapter = model.partition("+")
    if not adapter:
        return Path(base).name
    return f"{Path(base).name} + LoRA adapter ({describe(Path(adapter).parent.name)})"


# The query-writer's nodes by task type: the fixer shares the writer's instruction, schema and
# output language (one SLM serves both), so they are one task; tests/test_cluster.py holds the
# clusters to ARI >= 0.8 against this grouping.
TASK_OF_NODE = {
    "write_sql": "sql",
    "fix_sql": "sql",
    "extract_tables": "tables",
    "rerank": "columns",
    "research": "research",
}


def ari_vs_task(path: Path) -> float | None:
    """Adjusted Rand index of the clusters (``clusters.jsonl``) against the calls' task types."""
    if not path.exists():
        return None
    from sklearn.metrics import adjusted_rand_score

    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    truth = [TASK_OF_NODE.get(r["node"], r["node"]) for r in rows]
    return float(adjusted_rand_score(truth, [r["cluster"] for r in rows]))


def pipeline_sections(args: argparse.Namespace) -> list[str]:
    """Curate, cluster and select for this --n-train, from their stage outputs (when they ran)."""
    out: list[str] = []
    cur = sized(args, "curate.json")
    if cur.exists():
        c = json.loads(cur.read_text())
        pii = ", ".join(f"{k} {v}" for k, v in sorted(c["pii_replaced"].items()))
        dropped = ", ".join(f"{k} {v}" for k, v in c["dropped"].items()) or "none"
        out += [
            "## Curate",
            "",
            f"{c['read']} logged calls read, {c['kept']} kept (dropped: {dropped}); "
            f"{c['verified']} SQL outputs (write_sql and fix_sql) execution-verified against "
            "the gold query. "
            f"PII replaced by typed placeholders: {pii or 'none'}.",
            "",
        ]
    clu = sized(args, "cluster.json")
    if clu.exists():
        c = json.loads(clu.read_text())
        comp = "; ".join(
            f"{k['size']} calls ({', '.join(f'{n} {m}' for n, m in k['nodes'].items())})"
            for k in c["clusters"]
        )
        by_task = ari_vs_task(sized(args, "clusters") / "clusters.jsonl")
        out += [
            "## Cluster",
            "",
            f"{c['method']} on {c['embedder']} embeddings, k = {c['k']}: {comp}. Adjusted Rand "
            f"index against node names: {c['ari_vs_node']:.2f}"
            + (
                f"; against task types (write_sql and fix_sql one task, as in "
                f"`tests/test_cluster.py`): {by_task:.2f}."
                if by_task is not None
                else "."
            ),
            "",
        ]
    sel = sized(args, "select") / "select.json"
    if sel.exists():
        for k in json.loads(sel.read_text())["clusters"]:
            out += [
                f"## Select ({k['label']}: {k['size']} calls)",
                "",
                "| candidate | n | agreement (execution) | p50 s | tokens/s | RSS MB | errors |",
                "|---|---|---|---|---|---|---|",
                *[
                    f"| {_candidate(sc['model'])} | {sc['n']} | {sc['agreement']:.0%} | "
                    f"{sc['p50_s']:.1f} | {sc['tokens_per_s']:.1f} | {sc['rss_mb']:.0f} | "
                    f"{sc['errors']} |"
                    for sc in k["scores"]
                ],
                "",
                "Recommendation: " + _short_paths(k["recommendation"], k["scores"]),
                "",
            ]
    return out


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
    if not (DATA / "train.json").exists():
        sys.exit(f"Spider data not found at {DATA} (see ../shared/data/README.md)")
    WORK.mkdir(parents=True, exist_ok=True)
    stages = STAGES if args.stage == "all" else tuple(args.stage.split(","))
    fns = {s: globals()[f"stage_{s.replace('-', '_')}"] for s in STAGES}
    for s in stages:
        if s not in fns:
            sys.exit(f"unknown stage {s!r}: {', '.join(STAGES)}")
        t0 = time.perf_counter()
        print(f"== {s}", file=sys.stderr)
        out = fns[s](args)
        stage_output(args, s).write_text(json.dumps(out, indent=2, default=str) + "\n")
        print(f"== {s} done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=HERE).stdout.strip()  # fmt: skip
    print(f"commit {commit}", file=sys.stderr)


if __name__ == "__main__":
    main()
