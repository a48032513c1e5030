"""The conversion study's report stage (slmgraph.eval.sql.conversion, the library code behind
benchmarks/conversion.py) from stage outputs already on disk, without a model:
a training variant (balanced by SQL shape, exact gradients) keeps its own files and shows the
baseline adapter beside it without touching the baseline's outputs; the cluster section scores
task types; a student that got worse is reported as such."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from slmgraph.eval.sql.conversion import report, sections, study
from slmgraph.eval.sql.conversion.study import Study

ModuleType = SimpleNamespace  # what the fixture hands the tests: the library, and the paths


def _summary(ex: float) -> dict[str, Any]:
    return {"n": 4, "ex": ex, "ex_ci95": [ex - 0.1, ex + 0.1], "valid_sql_rate": 1.0, "p50_s": 1.5}


def _write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _finetune(n: int) -> dict[str, Any]:
    return {"n_examples": n, "steps": 3, "resumed_from": 0, "seconds": 60.0, "device": "cpu",
            "n_skipped": {}, "config": {"epochs": 2.0}}  # fmt: skip


@pytest.fixture
def bench(tmp_path: Path) -> ModuleType:
    work, here = tmp_path / "work", tmp_path / "bench"
    (here / "results").mkdir(parents=True)
    mod = SimpleNamespace(
        WORK=work,
        HERE=here,
        study=functools.partial(Study, work=work, results=here / "results", notes=here / "n.md"),
        stage_report=report.stage_report,
        stage_output=study.stage_output,
        student_dir=study.student_dir,
        after_name=study.after_name,
        describe=study.describe,
        sized=study.sized,
        n_train_of=study.n_train_of,
        ari_vs_task=sections.ari_vs_task,
        pipeline_sections=sections.pipeline_sections,
        _candidate=sections.candidate,
        _short_paths=sections.short_paths,
    )
    ev = work / "eval" / "n4-seed0"
    for name, ex in [("student-before", 0.25), ("teacher", 0.75), ("student-after", 0.25),
                     ("student-after-balanced", 0.5)]:  # fmt: skip
        _write(ev / name / "summary.json", _summary(ex))
    _write(work / "student" / "finetune.json", _finetune(5))
    _write(work / "student-balanced" / "finetune.json", _finetune(8))
    _write(work / "finetune.json", {"balance": None})
    balance = {"reference": {"join": 0.5, "plain": 0.5}, "before": {"join": 0.2, "plain": 0.8},
               "after": {"join": 0.5, "plain": 0.5}, "n_before": 5, "n_after": 8}  # fmt: skip
    _write(work / "finetune-balanced.json", {"balance": balance})
    return mod


def test_balanced_report_keeps_both_runs(bench: ModuleType) -> None:
    args = bench.study(n_eval=4, seed=0, n_train=200, threads=2, epochs=2.0, rank=16,
                              lr=2e-4, prompt_grad=False, balance_sql="repeat")  # fmt: skip
    r = bench.stage_report(args)
    assert (r["student_before_ex"], r["student_after_ex"], r["teacher_ex"]) == (0.25, 0.5, 0.75)
    assert r["gap_closed"] == 0.5 and r["target_met"]
    assert (r["n_train"], r["n_train_with_repeats"]) == (5, 8)
    assert r["student_after_baseline_ex"] == 0.25 and r["variant"] == "balanced by SQL shape"
    assert bench.stage_output(args, "finetune").name == "finetune-balanced.json"
    md = next((bench.HERE / "results").glob("conversion-*.md")).read_text()
    assert "| student after (0.5B + LoRA, balanced by SQL shape) | 50.0%" in md
    assert (
        "| student after (0.5B + LoRA, baseline: 200 train questions, unbalanced, output-only "
        "gradients) | 25.0%" in md
    )
    assert "balanced by SQL shape to 8 with repeats" in md and "--balance-sql repeat" in md
    assert "(shares plain/join/group/nested 80/20/0/0% -> 50/50/0/0%" in md
    assert "closed 50.0% of its EX gap" in md

    args.balance_sql = None  # the unbalanced report is unchanged by the balanced run
    r = bench.stage_report(args)
    assert r["student_after_ex"] == 0.25 and r["student_after_baseline_ex"] is None
    assert r["n_train"] == 5 and not r["target_met"]
    assert bench.stage_output(args, "finetune").name == "finetune.json"
    md = next((bench.HERE / "results").glob("conversion-*.md")).read_text()
    assert "baseline" not in md and "--balance-sql" not in md
    assert "closed 0.0% of its EX gap" in md


def test_cluster_section_scores_task_types_and_nodes(bench: ModuleType) -> None:
    pytest.importorskip("sklearn", reason="ARI needs scikit-learn (the pipeline extra)")
    nodes = ["write_sql"] * 6 + ["fix_sql"] * 2 + ["extract_tables"] * 3
    rows = [{"node": n, "cluster": 1 if n == "extract_tables" else 0} for n in nodes]
    _write(bench.WORK / "cluster.json", {
        "method": "kmeans", "embedder": "tfidf", "k": 2, "ari_vs_node": 0.61,
        "clusters": [{"size": 8, "nodes": {"write_sql": 6, "fix_sql": 2}},
                     {"size": 3, "nodes": {"extract_tables": 3}}],
    })  # fmt: skip
    path = bench.WORK / "clusters" / "clusters.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert bench.ari_vs_task(path) == 1.0
    rows[0]["cluster"] = 1  # one SQL call among the table calls
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert bench.ari_vs_task(path) < 1.0
    text = "\n".join(bench.pipeline_sections(bench.study(n_train=200)))
    assert "against node names: 0.61; against task types" in text


def test_a_student_that_got_worse_is_reported_as_such(bench: ModuleType) -> None:
    _write(bench.WORK / "eval" / "n4-seed0" / "student-after" / "summary.json", _summary(0.125))
    args = bench.study(n_eval=4, seed=0, n_train=200, threads=2, epochs=2.0, rank=16,
                              lr=2e-4, prompt_grad=False, balance_sql=None)  # fmt: skip
    r = bench.stage_report(args)
    assert r["gap_closed"] == -0.25 and not r["target_met"]
    md = next((bench.HERE / "results").glob("conversion-*.md")).read_text()
    assert "fell further behind the teacher: the gap grew by 25.0%. Target" in md


def test_each_variant_has_its_own_folders(bench: ModuleType) -> None:
    def ns(balance: bool, grad: bool, n_train: int = 200) -> Study:
        return bench.study(  # type: ignore[no-any-return]
            balance_sql="repeat" if balance else None, prompt_grad=grad, n_train=n_train
        )

    assert bench.student_dir(ns(False, False)).name == "student"
    assert bench.after_name(ns(True, True)) == "student-after-balanced-promptgrad"
    assert bench.stage_output(ns(False, True), "eval").name == "eval-promptgrad.json"
    assert bench.stage_output(ns(False, True), "select").name == "select.json"  # one select
    assert bench.describe("student-balanced-promptgrad") == "balanced by SQL shape, exact gradients"
    assert bench._candidate("m.gguf+/w/student-promptgrad/adapter.gguf") == (
        "m.gguf + LoRA adapter (exact gradients)"
    )
    model = "m.gguf+/w/student/adapter.gguf"
    text = bench._short_paths(f"fine-tune {model} (best agreement 65% < 80%)", [{"model": model}])
    assert (
        text == "fine-tune m.gguf + LoRA adapter (baseline: 200 train questions, unbalanced, "
        "output-only gradients) (best agreement 65% < 80%)"
    )
    # more teacher questions: data stages and adapters of their own, the teacher's log shared
    big = ns(False, False, 600)
    assert bench.student_dir(big).name == "student-n600"
    assert bench.after_name(ns(True, False, 600)) == "student-after-n600-balanced"
    assert bench.stage_output(big, "select").name == "select-n600.json"
    assert bench.stage_output(big, "report").name == "report-n600.json"
    assert bench.sized(big, "curated.jsonl").name == "curated-n600.jsonl"
    assert bench.sized(big, "clusters").name == "clusters-n600"
    assert bench.sized(ns(False, False), "curated.jsonl").name == "curated.jsonl"
    assert bench.n_train_of("student-n600-promptgrad") == 600
    assert bench.n_train_of("student-balanced") == 200
    assert bench.describe("student-n600") == "600 train questions, output-only gradients"
    assert bench.describe("student-n600-promptgrad") == "600 train questions, exact gradients"


def test_a_larger_run_reads_its_own_data_and_shows_the_first_beside(bench: ModuleType) -> None:
    """--n-train 600: its own curate summary and teacher EX (not the 200-question ones), and the
    200-question adapter beside it."""
    ev = bench.WORK / "eval" / "n4-seed0"
    _write(ev / "student-after-n600" / "summary.json", _summary(0.75))
    _write(bench.WORK / "student-n600" / "finetune.json", _finetune(12))
    _write(bench.WORK / "finetune-n600.json", {"balance": None})
    _write(bench.WORK / "teach.json", {"ex": 0.5})
    _write(bench.WORK / "teach-n600.json", {"ex": 0.8})
    _write(bench.WORK / "curate.json", {"read": 1, "kept": 1, "dropped": {}, "verified": 1,
                                        "pii_replaced": {}})  # fmt: skip
    curate = {"read": 9, "kept": 7, "verified": 6, "dropped": {"duplicate": 2}, "pii_replaced": {}}
    _write(bench.WORK / "curate-n600.json", curate)
    args = bench.study(n_eval=4, seed=0, n_train=600, threads=2, epochs=1.0, rank=16,
                              lr=2e-4, prompt_grad=False, balance_sql=None)  # fmt: skip
    r = bench.stage_report(args)
    assert (r["student_after_ex"], r["student_after_baseline_ex"]) == (0.75, 0.25)
    assert (r["n_train"], r["n_train_questions"], r["teacher_train_ex"]) == (12, 600, 0.8)
    assert r["variant"] == "600 train questions, output-only gradients" and r["target_met"]
    md = next((bench.HERE / "results").glob("conversion-*.md")).read_text()
    assert "| student after (0.5B + LoRA, 600 train questions, output-only gradients) | 75.0%" in md
    assert "baseline: 200 train questions" in md
    assert "9 logged calls read, 7 kept (dropped: duplicate 2)" in md and "--n-train 600" in md


def test_trimmed_report_counts_the_examples_kept(bench: ModuleType) -> None:
    work = bench.WORK
    _write(work / "eval" / "n4-seed0" / "student-after-trimmed" / "summary.json", _summary(0.5))
    _write(work / "student-trimmed" / "finetune.json", _finetune(3))
    balance = {"reference": {"join": 0.5, "plain": 0.5}, "before": {"join": 0.2, "plain": 0.8},
               "after": {"join": 0.33, "plain": 0.67}, "n_before": 5, "n_after": 3,
               "mode": "drop"}  # fmt: skip
    _write(work / "finetune-trimmed.json", {"balance": balance})
    args = bench.study(n_eval=4, seed=0, n_train=200, threads=2, epochs=2.0, rank=16,
                              lr=2e-4, prompt_grad=False, balance_sql="drop")  # fmt: skip
    assert bench.student_dir(args).name == "student-trimmed"
    r = bench.stage_report(args)
    assert r["n_train"] == 3 and r["variant"] == "trimmed to the teacher's SQL shapes"
    md = next((bench.HERE / "results").glob("conversion-*.md")).read_text()
    assert "Training: 3 execution-verified write_sql examples" in md
    assert "trimmed by SQL shape from 5 (shares plain/join" in md and "with repeats" not in md
    assert "--balance-sql drop" in md


def _predictions(path: Path, right: dict[str, bool]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(
        json.dumps({"id": q, "correct": ok, "hardness": "easy", "valid": True, "parses": True,
                    "hallucinated": False, "escalated": False, "seconds": 1.0, "trace": []})
        + "\n"
        for q, ok in right.items()
    ))  # fmt: skip


def test_report_pools_dev_samples_and_counts_a_shared_question_once(bench: ModuleType) -> None:
    # two samples of 4 questions sharing q3; the student gains q1 and q5, loses q6
    answers = {
        "student-before": ({"q0": 1, "q1": 0, "q2": 0, "q3": 1}, {"q3": 1, "q4": 1, "q5": 0,
                                                                   "q6": 1}),
        "student-after": ({"q0": 1, "q1": 1, "q2": 0, "q3": 1}, {"q3": 1, "q4": 1, "q5": 1,
                                                                  "q6": 0}),
        "teacher": ({"q0": 1, "q1": 1, "q2": 1, "q3": 1}, {"q3": 1, "q4": 1, "q5": 1, "q6": 1}),
    }  # fmt: skip
    for name, samples in answers.items():
        for seed, right in enumerate(samples):
            _predictions(bench.WORK / "eval" / f"n4-seed{seed}" / name / "predictions.jsonl",
                         {q: bool(v) for q, v in right.items()})  # fmt: skip
    args = bench.study(n_eval=4, seed=0, n_train=200, threads=2, epochs=2.0, rank=16,
                              lr=2e-4, prompt_grad=False, balance_sql=None,
                              report_seeds=[0, 1])  # fmt: skip
    r = bench.stage_report(args)
    assert r["n_eval"] == 7 and r["eval_seeds"] == [0, 1]
    assert (r["student_before_ex"], r["student_after_ex"], r["teacher_ex"]) == (
        round(4 / 7, 4), round(5 / 7, 4), 1.0)  # fmt: skip
    assert r["eval_by_seed"] == {
        "0": {"student_before": 0.5, "student_after": 0.75, "teacher": 1.0},
        "1": {"student_before": 0.75, "student_after": 0.75, "teacher": 1.0},
    }
    assert r["after_vs_before"] == {"gained": 2, "lost": 1, "mcnemar_p": 1.0}
    lo, hi = r["gap_closed_ci95"]  # 7 questions: an interval far wider than the estimate
    assert lo < r["gap_closed"] < hi and hi - lo > 0.5
    md = next((bench.HERE / "results").glob("conversion-*.md")).read_text()
    assert "7 distinct public dev questions from the stratified samples of 4 drawn with " in md
    assert "seeds 0, 1 (8 draws; a question drawn again counts once)" in md
    assert "seed 0: before 50%, after 75%, teacher 100% (closed 50%)" in md
    assert "2 became right, 1 wrong (exact McNemar p = 1.00)" in md
    assert "gap to the teacher (95% bootstrap interval " in md
    assert "--stage eval --n-train 200" in md and "--seed 1" in md
    assert "--report-seeds 0 1" in md
    # one sample: its own summary as evaluated, and no per-sample section
    args.report_seeds = None
    r = bench.stage_report(args)
    assert r["n_eval"] == 4 and r["eval_by_seed"] is None and r["student_after_ex"] == 0.25
