"""HumanEval for the software team: each system on the same tasks, pass@1 by the official tests
in the code sandbox, side by side with paired comparisons.

    .venv/bin/python benchmarks/humaneval.py [--systems solo-0.5b,solo-1.5b,team-mixed]
                                             [--limit 40] [--threads 2]

``--limit N`` takes a fixed sample stratified by the canonical solution's length (quartiles,
seed 0); without it, all 164 tasks. Answers are kept under
benchmarks/runs/humaneval/<system>-<fingerprint>/ (resumable: a killed run continues where it
stopped); writes benchmarks/results/humaneval-latest.json (merged with the systems already
there), humaneval-<date>.md and humaneval-<date>.png.
"""

from __future__ import annotations

import argparse
import json
import signal
from datetime import date
from pathlib import Path
from typing import Any

from archive import restore, save
from overhead import machine
from plots import rate_cost_calls

from slmgraph.eval.harness import evaluate
from slmgraph.eval.sample import stratified_sample
from slmgraph.eval.stats import paired_markdown
from slmgraph.eval.team.humaneval import load_dev_tasks, load_tasks, make_system, score
from slmgraph.eval.team.replace import replaceability
from slmgraph.eval.team.report import markdown, paired_rows, summarize
from slmgraph.telemetry import CallLog

HERE = Path(__file__).parent
RESULTS = HERE / "results"
PAIRS = [
    ("team-mixed", "solo-1.5b"),
    ("team-mixed", "solo-0.5b"),
    ("team-slm", "solo-0.5b"),
    ("team-llm", "solo-1.5b"),
    ("team-cascade", "solo-1.5b"),
    ("team-mixed", "team-llm"),
    ("team-mixed", "team-mixed-codefix"),  # the defaults chosen on the dev tasks, 2026-12-04
    ("team-mixed-codefix", "team-mixed-designdraft-codefix"),
    ("team-mixed", "team-mixed-designdraft-codefix"),  # HumanEval: the old defaults' run
    ("solo-1.5b", "solo-0.5b"),
]


def plot(summaries: list[dict[str, Any]], path: Path) -> None:
    rate_cost_calls(
        summaries,
        path,
        rate="pass_at_1",
        cost="cost_per_solved",
        calls="calls_per_task",
        rate_label="pass@1",
        cost_label="cost per solved task",
        calls_label="model calls per task",
    )


def targets(systems: dict[str, Any]) -> str:
    """The issue's targets for team-mixed, met or not, with the gap."""
    mixed, solo = systems.get("team-mixed"), systems.get("solo-1.5b")
    if not mixed or not solo:
        return ""
    gap = mixed["pass_at_1"] - solo["pass_at_1"]
    a, b = mixed["cost_per_solved"], solo["cost_per_solved"]
    cheaper = bool(a and b and a < b)
    lines = [
        "\n## Targets (team-mixed)\n",
        f"- pass@1 above solo-1.5b at lower cost per solved task: "
        f"{'met' if gap > 0 and cheaper else 'missed'} ({mixed['pass_at_1']:.1%} against "
        f"{solo['pass_at_1']:.1%}, {gap:+.1%}; cost per solved "
        + (f"{a / b:.1f}x" if a and b else "-")
        + ")",
        f"- at least 60% of calls on slm: {'met' if mixed['slm_call_share'] >= 0.6 else 'missed'}"
        f" ({mixed['slm_call_share']:.0%})",
    ]
    bad = sum(mixed["schema_failures"].values())
    lines.append(
        f"- 0 schema failures on constrained roles: {'met' if bad == 0 else 'missed'}"
        f" ({bad}: {mixed['schema_failures']})"
    )
    defined = {"passed", "failed", "untested", "budget"}
    outside = sum(n for o, n in mixed["outcomes"].items() if o not in defined)
    lines.append(
        f"- no run outside a defined state: {'met' if outside == 0 else 'missed'}"
        f" ({mixed['outcomes']})"
    )
    return "\n".join(lines) + "\n"


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # a killed run closes its browser and model first


def current_run(name: str, threads: int) -> str | None:
    """The run folder this version of the code would answer ``name`` in (None: a system it no
    longer builds, e.g. a variant since made the default)."""
    try:
        return f"{name}-{make_system(name, threads).fingerprint()}"
    except ValueError:
        return None


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--systems", default="solo-0.5b,solo-1.5b,team-mixed")
    ap.add_argument("--limit", type=int, default=None, help="a stratified sample of N tasks")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--dev",
        action="store_true",
        help="our own development tasks (benchmarks/data/team_dev_tasks.yaml), where settings "
        "are chosen, instead of HumanEval",
    )
    ap.add_argument("--out", default=str(RESULTS / "humaneval-latest.json"))
    ap.add_argument(
        "--replaceability",
        action="store_true",
        help="per role, replay team-llm's logged run with that role on slm (needs team-llm)",
    )
    args = ap.parse_args()
    tasks = stratified_sample(
        load_dev_tasks(HERE / "data" / "team_dev_tasks.yaml") if args.dev else load_tasks(),
        args.limit,
        seed=0,
    )
    if args.dev and args.out == str(RESULTS / "humaneval-latest.json"):
        args.out = str(RESULTS / "team-dev-latest.json")
    out = Path(args.out)
    prefix = "team-dev" if args.dev else "humaneval"
    runs = HERE / "runs" / prefix
    report: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    if report.get("n") not in (None, len(tasks)):
        report = {}  # another sample: start the report afresh (the runs are kept)
    report.update({"machine": machine(), "date": date.today().isoformat(), "n": len(tasks),
                   "sample": f"all {len(tasks)}" if args.limit is None else
                   f"{len(tasks)} stratified by solution-length quartile, seed 0",
                   "task_ids": [t.id for t in tasks]})  # fmt: skip
    systems = report.setdefault("systems", {})
    records_by: dict[str, list[dict[str, Any]]] = {}
    answered: set[str] = set()  # systems answered (or resumed) by this invocation
    for name in [s.strip() for s in args.systems.split(",") if s.strip()]:
        system = make_system(name, args.threads)
        run_dir = runs / f"{name}-{system.fingerprint()}"
        restore(run_dir, RESULTS, prefix)  # answered in an earlier session: resume it
        if name == "team-llm":  # its calls are logged: the replaceability replays them
            run_dir.mkdir(parents=True, exist_ok=True)
            system = make_system(name, args.threads, CallLog(run_dir / "calls.sqlite"))
        summary = evaluate(system, tasks, run_dir, score=score, summarize=summarize,
                           markdown=lambda s: markdown(s), metric="pass@1")  # fmt: skip
        save(run_dir, RESULTS, prefix)
        records = [json.loads(x) for x in (run_dir / "predictions.jsonl").read_text().splitlines()]
        wanted = {t.id for t in tasks}
        records_by[name] = [r for r in records if r["id"] in wanted]
        systems[name] = {**summarize(records_by[name], name), "run": run_dir.name}
        answered.add(name)
        del summary
    for name, data in systems.items():  # systems answered earlier, on the same sample
        if name not in records_by and data.get("run"):
            restore(runs / data["run"], RESULTS, prefix)
            path = runs / data["run"] / "predictions.jsonl"
            if path.exists():
                rows = [json.loads(x) for x in path.read_text().splitlines()]
                records_by[name] = [r for r in rows if r["id"] in set(report["task_ids"])]
    # A system whose answers were never archived cannot be paired again: keep its earlier rows.
    unpaired = [n for n in systems if n not in records_by]
    kept = [r for r in report.get("paired", []) if {r["a"], r["b"]} & set(unpaired)]
    report["paired"] = paired_rows(records_by, PAIRS) + kept
    if args.replaceability:
        llm = systems.get("team-llm")
        if llm is None or "team-llm" not in records_by:
            raise SystemExit("--replaceability needs team-llm answered on this sample first")
        log = CallLog(runs / llm["run"] / "calls.sqlite")
        spec = make_system("team-llm", args.threads).built.spec
        by_id = {r["id"]: r for r in records_by["team-llm"]}
        llm["replaceability"] = replaceability(spec, tasks, by_id, log)
    stale = {n: d["run"] for n, d in systems.items()  # those answered now are current
             if n not in answered and d.get("run") and d["run"] != current_run(n, args.threads)}
    report["older_code"] = stale  # systems whose rows another version of the code answered
    out.write_text(json.dumps(report, indent=1) + "\n")
    md = out.parent / f"{prefix}-{report['date']}.md"
    title = "Team development tasks" if args.dev else "HumanEval"
    md.write_text(
        f"# {title}, {report['sample']} ({report['date']})\n\nMachine: {report['machine']}\n\n"
        + markdown(list(systems.values()))
        + "\n"
        + paired_markdown(report["paired"])
    )
    if unpaired:
        with md.open("a") as f:
            f.write(f"\nAnswered in an earlier session whose answers were not archived: "
                    f"{', '.join(unpaired)}. Its row, wall times and paired rows are from "
                    "then.\n")  # fmt: skip
    if stale:  # a change to the team's code or prompts since: its row is that code's
        with md.open("a") as f:
            f.write("\nAnswered by an earlier version of the team's code or prompts (the "
                    "fingerprint covers them all, parts a system does not run included; `git "
                    "log` says what changed; rerun for a like-for-like comparison): "
                    + ", ".join(f"{n} ({r})" for n, r in stale.items()) + ".\n")  # fmt: skip
    if not args.dev:
        with md.open("a") as f:
            f.write(targets(systems))
    plot(list(systems.values()), out.parent / f"{prefix}-{report['date']}.png")
    print(markdown(list(systems.values())))


if __name__ == "__main__":
    main()
