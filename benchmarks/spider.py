"""Spider side by side: every system on the same stratified sample of dev questions, scored by
execution accuracy, with cost and latency. Resumable (rerun the same command to continue).

    .venv/bin/python benchmarks/spider.py [--limit 200] [--systems a,b,...] [--seed 0]
    .venv/bin/python benchmarks/spider.py --limit 0 --report-only   # what is answered so far

Each system's answers go to benchmarks/runs/spider/<system>-<fingerprint>/ (not committed; the
fingerprint changes with the system's spec, prompts or decoding code), so a larger sample reuses
a smaller one's answers. After each system the comparison is (re)written to
benchmarks/results/spider-latest.json, spider-<date>.md (with the issue's targets, met or not)
and spider-<date>.png.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from datetime import date
from pathlib import Path

from overhead import machine

from slmgraph.eval.sql import evaluate, load_split, stratified_sample
from slmgraph.eval.sql.report import markdown, paired_markdown, spider_targets, targets_markdown
from slmgraph.eval.sql.systems import LLM, SLM, SYSTEMS, fingerprint, make_system
from slmgraph.eval.stats import paired

HERE = Path(__file__).parent
DEFAULT_SYSTEMS = [
    "zeroshot-0.5b",
    "zeroshot-1.5b",
    "slmgraph-slm",
    "slmgraph-slm-nogrammar",
    "slmgraph-cascade",
]
#: What a user would pick today with another framework on the same models (eval/sql/peers/).
PEERS = [
    "langchain-sql-chain-0.5b",
    "vanna-0.5b",
    "llamaindex-0.5b",
    "langchain-sql-agent-0.5b",
    "langchain-sql-agent-1.5b",
]
#: Published Spider dev figures to read ours against (not run here; full dev set, 1034).
ANCHORS = [
    {"system": "SLM-SQL, Qwen2.5-Coder-0.5B after SFT + RL, 16 samples", "ex": 0.706,
     "metric": "Spider dev EX", "source": "SLM-SQL (Sheng & Xu, 2025)"},
    {"system": "SLM-SQL, the same with its corrective self-consistency", "ex": 0.721,
     "metric": "Spider dev EX", "source": "SLM-SQL (Sheng & Xu, 2025)"},
    {"system": "CodeS-1B, fine-tuned", "ex": 0.779, "metric": "Spider dev EX",
     "source": "CodeS (Li et al., SIGMOD 2024)"},
]  # fmt: skip


def plot(summaries: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    for s in summaries:
        a.scatter(s["cost_per_question"] * 1e6, s["ex"] * 100, s=60)
        a.annotate(
            s["name"],
            (s["cost_per_question"] * 1e6, s["ex"] * 100),
            textcoords="offset points",
            xytext=(5, 5),
            fontsize=8,
        )
    a.set_xlabel("cost per question (micro-dollars, catalog prices)")
    a.set_ylabel("execution accuracy (%)")
    a.set_title("EX against cost")
    a.grid(alpha=0.3)
    levels = [
        h
        for h in ("easy", "medium", "hard", "extra")
        if any(h in s["ex_by_hardness"] for s in summaries)
    ]
    width = 0.8 / max(1, len(summaries))
    for i, s in enumerate(summaries):
        xs = [j + i * width for j in range(len(levels))]
        b.bar(
            xs,
            [s["ex_by_hardness"].get(h, {}).get("ex", 0) * 100 for h in levels],
            width=width,
            label=s["name"],
        )
    b.set_xticks([j + 0.4 - width / 2 for j in range(len(levels))], levels)
    b.set_ylabel("EX (%)")
    b.set_title("EX by hardness")
    b.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data" / "spider"))
    ap.add_argument("--limit", type=int, default=200, help="stratified sample size (0: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--systems",
        default=",".join(DEFAULT_SYSTEMS),
        help=f"comma-separated, of: {', '.join(SYSTEMS)} (default: ours and the baselines; "
        f"the peers: {','.join(PEERS)})",
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", default=str(HERE / "runs" / "spider"))
    ap.add_argument(
        "--results",
        default=str(HERE / "results"),
        help="where spider-latest.json and the dated report go (default benchmarks/results)",
    )
    ap.add_argument(
        "--no-report",
        action="store_true",
        help="answer only; leave benchmarks/results alone (e.g. building up the 640 "
        "in the background while the committed report covers a sample)",
    )
    ap.add_argument(
        "--report-only",
        action="store_true",
        help="answer nothing: report the sampled questions already answered",
    )
    args = ap.parse_args()
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    if not Path(args.data, "dev.json").exists():
        sys.exit(f"Spider data not found at {args.data} (see ../shared/data/README.md)")
    items = stratified_sample(load_split(args.data), args.limit or None, args.seed)
    summaries: list[dict] = []
    dirs: dict[str, Path] = {}
    for name in args.systems.split(","):
        system = make_system(name, args.threads)
        # Keyed by what the system would answer, not by the sample: a 200-question run reuses
        # the questions a 50-question run answered, and the full 640 can be built up over runs.
        out = dirs[name] = Path(args.runs) / f"{name}-{fingerprint(system)}"
        summaries.append(evaluate(system, items, out, answer=not args.report_only))
        if not args.no_report:  # after each system: a partial run reports
            write_report(summaries, args, items, dirs)
    print(markdown(summaries))
    if not args.no_report:
        print(targets_markdown(spider_targets(summaries, micro_results())))


#: Pairs the targets compare (a, b): EX(a) - EX(b) on the questions both answered.
PAIRS = (
    ("slmgraph-slm", "zeroshot-0.5b"),
    ("slmgraph-slm", "zeroshot-1.5b"),
    ("slmgraph-cascade", "zeroshot-1.5b"),
    ("slmgraph-cascade", "slmgraph-slm"),
    ("slmgraph-slm", "slmgraph-slm-nogrammar"),
    *(("slmgraph-slm", peer) for peer in PEERS),
)


def comparisons(dirs: dict[str, Path], items: list) -> list[dict]:
    """Paired EX differences (with McNemar's p) for the PAIRS whose systems both ran."""

    def records(name: str) -> list[dict]:
        wanted = {it.id for it in items}
        path = dirs[name] / "predictions.jsonl"
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return [r for r in rows if r["id"] in wanted]

    return [
        {"a": a, "b": b, **paired(records(a), records(b))}
        for a, b in PAIRS
        if a in dirs and b in dirs
    ]


def micro_results() -> dict[str, dict]:
    out = {}
    for name in ("overhead", "constrained-decoding", "table-linking", "engines"):
        path = HERE / "results" / f"{name}-latest.json"
        if path.exists():
            out[name] = json.loads(path.read_text())
    return out


def write_report(
    summaries: list[dict],
    args: argparse.Namespace,
    items: list,
    dirs: dict[str, Path],
) -> None:
    today = date.today().isoformat()
    targets = spider_targets(summaries, micro_results())
    pairs = comparisons(dirs, items)
    n_sample = len(items)
    ns = sorted({s["n"] for s in summaries})
    result = {
        "machine": machine(),
        "date": today,
        "data": f"Spider dev ({args.data})",
        "n": ns[0] if len(ns) == 1 else ns,
        "sample": f"{n_sample} questions stratified by hardness, seed {args.seed}",
        "sample_seed": args.seed,
        "threads": args.threads,
        "models": {"slm": SLM, "llm": LLM},
        # The command that answers (a --report-only run only re-summarises those answers).
        "command": " ".join(
            ["python benchmarks/spider.py", *[a for a in sys.argv[1:] if a != "--report-only"]]
        ),
        # the code that answered: predictions are keyed by a fingerprint of it, so a report
        # from a later checkout reads them only if the deciding code is unchanged
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
        ).stdout.strip(),
        "fingerprints": {name: d.name for name, d in dirs.items()},
        "systems": summaries,
        "targets": targets,
        "paired": pairs,
        "anchors": ANCHORS,
    }
    engines = micro_results().get("engines")
    if engines:  # benchmarks/engines.py: the same system on each engine, judged on SQLite's gold
        result["engines"] = {k: engines[k] for k in ("date", "system", "sample", "ex", "vs_sqlite")}
    res = Path(args.results)
    res.mkdir(parents=True, exist_ok=True)
    (res / "spider-latest.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(summaries, res / f"spider-{today}.png")
    partial = (
        ""
        if all(s["n"] == n_sample for s in summaries)
        else f"**Partial run**: systems answered {', '.join(map(str, ns))} of the "
        f"{n_sample} sampled questions so far (rerun the command to continue).\n\n"
    )
    (res / f"spider-{today}.md").write_text(
        f"# Spider dev, {n_sample} questions (stratified, seed {args.seed}), {today}\n\n"
        f"{partial}Machine: {result['machine']}; {args.threads} threads per model. "
        f"Models: slm `{SLM}`, llm `{LLM}` (Q4_K_M GGUF, llama.cpp on the CPU).\n\n"
        f"Command: `{result['command']}` at commit {result['commit']} (answers kept under "
        f"`benchmarks/runs/spider/<system>-<fingerprint>/`).\n\n{markdown(summaries)}\n"
        f"## Targets\n\n{targets_markdown(targets)}\n"
        + (
            "## Paired comparisons\n\nThe same questions for both systems: the difference in "
            "EX with a 95% interval for paired proportions, and McNemar's exact test on the "
            f"questions only one of them got right.\n\n{paired_markdown(pairs)}\n"
            if pairs
            else ""
        )
        + _engines_markdown(result.get("engines"))
        + "## Published anchors (not run here)\n\n| system | EX | metric | source |\n"
        "|---|---|---|---|\n"
        + "".join(
            f"| {a['system']} | {a['ex']:.1%} | {a['metric']} | {a['source']} |\n" for a in ANCHORS
        )
        + "\n"
        + f"![EX against cost; EX by hardness](spider-{today}.png)\n"
        + (f"\n{notes.read_text()}" if (notes := HERE / "spider-notes.md").exists() else "")
    )


def _engines_markdown(engines: dict | None) -> str:
    if not engines:
        return ""
    rows = ["| engine | EX | vs SQLite (paired) |", "|---|---|---|"]
    for name, ex in engines["ex"].items():
        d = engines["vs_sqlite"].get(name)
        vs = "–" if d is None else f"{d['diff'] * 100:+.1f} pts (p = {d['p_mcnemar']:.2g})"
        rows.append(f"| {name} | {ex:.1%} | {vs} |")
    return (f"## Per engine ({engines['date']}, `benchmarks/engines.py`)\n\n{engines['sample']}; "
            f"system `{engines['system']}`.\n\n" + "\n".join(rows) + "\n\n")  # fmt: skip


if __name__ == "__main__":
    main()
