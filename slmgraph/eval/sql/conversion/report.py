"""The conversion study's report: the student before and after against the teacher (EX, the
share of the gap closed with a bootstrap interval, McNemar against before), the dev samples
pooled and each alone, and what curate, cluster and select found; JSON and a dated markdown
report in ``study.results``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import platform
import random
from pathlib import Path
from typing import Any

from slmgraph.errors import SlmgraphError
from slmgraph.eval.sql.conversion.sections import pipeline_sections
from slmgraph.eval.sql.conversion.study import (
    STUDENT,
    TEACHER,
    Study,
    after_name,
    describe,
    stage_output,
    student_dir,
    variant,
)
from slmgraph.eval.sql.report import summarize
from slmgraph.eval.stats import paired as paired_ex


def eval_dir(study: Study, seed: int) -> Path:
    return study.work / "eval" / f"n{study.n_eval}-seed{seed}"


def report_seeds(study: Study) -> list[int]:
    """The dev samples the report pools: ``--report-seeds``, else the one ``--seed`` ran."""
    return list(getattr(study, "report_seeds", None) or [study.seed])


def predictions(study: Study, name: str) -> list[dict[str, Any]] | None:
    """A system's answers on the report's dev samples, each question once (samples overlap)."""
    out: dict[str, dict[str, Any]] = {}
    for seed in report_seeds(study):
        path = eval_dir(study, seed) / name / "predictions.jsonl"
        if not path.exists():
            return None
        with path.open(encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                out.setdefault(str(rec["id"]), rec)
    return list(out.values())


def eval_summary(study: Study, name: str) -> dict[str, Any] | None:
    """One sample: its summary as evaluated; several: the summary of their pooled answers."""

    seeds = report_seeds(study)
    if len(seeds) == 1:
        path = eval_dir(study, seeds[0]) / name / "summary.json"
        return json.loads(path.read_text()) if path.exists() else None
    records = predictions(study, name)
    return summarize(records, name) if records else None


def paired(study: Study, a: str, b: str) -> dict[str, Any] | None:
    """Questions ``b`` gets right and ``a`` wrong (gained) and the reverse (lost), with the exact
    McNemar p-value (``slmgraph.eval.stats.paired``): is the change more than the noise of
    which questions were drawn?"""

    pa, pb = predictions(study, a), predictions(study, b)
    if pa is None or pb is None:
        return None
    d = paired_ex(pb, pa)
    return {"gained": d["only_a"], "lost": d["only_b"], "mcnemar_p": d["p_mcnemar"]}


def gap_closed_ci(study: Study, after: str, n_boot: int = 4000) -> list[float] | None:
    """A 95% bootstrap interval (questions resampled, seeded) for the share of the gap closed:
    the target is a ratio of two small differences, so it moves far more than either EX."""
    recs = {n: predictions(study, n) for n in ("student-before", after, "teacher")}
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


def stage_report(study: Study) -> dict[str, Any]:
    def load(path: Path) -> Any:
        return json.loads(path.read_text()) if path.exists() else None

    seeds = report_seeds(study)
    before = eval_summary(study, "student-before")
    after = eval_summary(study, after_name(study))
    teacher = eval_summary(study, "teacher")
    ft = load(student_dir(study) / "finetune.json")
    stage = load(stage_output(study, "finetune")) or {}
    balance = stage.get("balance") if study.balance_sql else None
    if study.balance_sql and balance is None:
        raise SlmgraphError(
            f"run --stage finetune --balance-sql {study.balance_sql} first "
            f"({stage_output(study, 'finetune').name} has no balance)"
        )
    teach = load(stage_output(study, "teach"))  # the teacher on this --n-train's questions
    # a variant's report shows the baseline adapter beside it, same questions
    baseline = eval_summary(study, "student-after") if variant(study) else None
    if not (before and after and teacher and ft):
        raise SlmgraphError(
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
            one = dataclasses.replace(study, report_seeds=[seed])
            by_seed[str(seed)] = {
                k: round(sum(bool(r["correct"]) for r in recs) / len(recs), 4)
                for k, name in [
                    ("student_before", "student-before"),
                    ("student_after", after_name(study)),
                    ("teacher", "teacher"),
                ]
                if (recs := predictions(one, name))
            }
    gap = teacher["ex"] - before["ex"]
    closed = (after["ex"] - before["ex"]) / gap if gap > 0 else None
    result = {
        "machine": f"{platform.node()} ({platform.processor() or platform.machine()}), "
        f"{study.threads} threads",
        "date": dt.date.today().isoformat(),
        "data": str(study.data),
        "teacher": TEACHER,
        "student": STUDENT,
        "teacher_ex": teacher["ex"],
        "student_before_ex": before["ex"],
        "student_after_ex": after["ex"],
        "gap_closed": closed,
        "gap_closed_ci95": gap_closed_ci(study, after_name(study)),
        "target_met": closed is not None and closed >= 0.5,
        # distinct examples trained on: balancing by repeats counts each once
        "n_train": balance["n_before"]
        if balance and balance.get("mode", "repeat") == "repeat"
        else ft["n_examples"],
        # balanced by SQL shape: the examples trained on, repeats included, and the shares
        "n_train_with_repeats": ft["n_examples"],
        "balance_sql": balance,
        "n_train_questions": study.n_train,
        "teacher_train_ex": teach["ex"] if teach else None,
        "n_eval": after["n"],
        "eval_seed": study.seed,
        # the dev samples pooled (each question once) and each one's EX on its own
        "eval_seeds": seeds,
        "eval_by_seed": by_seed or None,
        "after_vs_before": paired(study, "student-before", after_name(study)),
        "train_seconds": ft["seconds"],
        # steps train_seconds covers: a run resumed from a checkpoint that predates cumulative
        # timing counts only the steps after the resume
        "train_seconds_steps": ft.get("timed_steps", ft["steps"] - ft["resumed_from"]),
        "device": ft["device"],
        "finetune": {k: ft[k] for k in ("steps", "n_skipped", "config")},
        "variant": describe(student_dir(study).name) if variant(study) else None,
        "student_after_baseline_ex": baseline["ex"] if baseline else None,
        "eval": {
            "student_before": before,
            "student_after": after,
            "teacher": teacher,
            **({"student_after_baseline": baseline} if baseline else {}),
        },
    }
    res = study.results
    (res / "conversion-latest.json").write_text(json.dumps(result, indent=2) + "\n")
    (res / f"conversion-{result['date']}.md").write_text(markdown_report(result, study))
    return result


def markdown_report(r: dict[str, Any], study: Study) -> str:
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
            *commands(r, study),
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
            f"Evaluation: {evaluation(r, study)}; train and dev databases are disjoint.",
            "",
            *paired_lines(r),
            *pipeline_sections(study),
            *([study.notes.read_text()] if study.notes and study.notes.exists() else []),
        ]
    )


def commands(r: dict[str, Any], study: Study) -> list[str]:
    """The command lines that made this report: one run, then the other dev samples' evals."""
    flags = (
        f"--n-train {study.n_train} --n-eval {study.n_eval} --epochs {study.epochs} "
        f"--rank {study.rank} --lr {study.lr}"
        + (" --prompt-grad" if study.prompt_grad else "")
        + (f" --balance-sql {study.balance_sql}" if study.balance_sql else "")
    )
    run = ".venv/bin/python benchmarks/conversion.py"
    lines = [f"{run} --stage all {flags} --seed {study.seed}"]
    others = [s for s in r["eval_seeds"] if s != study.seed]
    lines += [f"{run} --stage eval {flags} --seed {s}" for s in others]
    if len(r["eval_seeds"]) > 1:
        seeds = " ".join(map(str, r["eval_seeds"]))
        lines.append(f"{run} --stage report {flags} --seed {study.seed} --report-seeds {seeds}")
    return lines


def evaluation(r: dict[str, Any], study: Study) -> str:
    """What the EX column was measured on, and each sample on its own when several are pooled."""
    seeds = r["eval_seeds"]
    if len(seeds) == 1:
        return f"{r['n_eval']} stratified public dev questions (seed {seeds[0]})"

    def closed(ex: dict[str, float]) -> str:
        gap = ex["teacher"] - ex["student_before"]
        share = (ex["student_after"] - ex["student_before"]) / gap if gap > 0 else None
        return "no gap" if share is None else f"closed {share:.0%}"

    drawn = len(seeds) * study.n_eval
    per = "; ".join(
        f"seed {s}: before {ex['student_before']:.0%}, after {ex['student_after']:.0%}, "
        f"teacher {ex['teacher']:.0%} ({closed(ex)})"
        for s, ex in r["eval_by_seed"].items()
    )
    return (
        f"{r['n_eval']} distinct public dev questions from the stratified samples of "
        f"{study.n_eval} drawn with seeds {', '.join(map(str, seeds))} ({drawn} draws; a question "
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
