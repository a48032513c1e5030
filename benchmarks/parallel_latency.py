"""Parallel verification: concurrent against sequential, measured with real models.

    .venv/bin/python benchmarks/parallel_latency.py --n 12

One graph node, ``agent: parallel``: the slm (Qwen2.5-Coder 0.5B) drafts the SQL for a Spider dev
question while the llm (1.5B) answers the same prompt (every CREATE TABLE of the database + the
question, no grammar, at most 200 tokens); the llm's answer wins when they disagree. The same
node runs in three configurations on the same questions, one after the other per question
(rotating which goes first):

- ``sequential``: ``concurrent: false``, each model with 2 threads (this machine's cores);
- ``concurrent-1t``: ``concurrent: true``, each model with 1 thread (the cores split);
- ``concurrent-2t``: ``concurrent: true``, each model with 2 threads (oversubscribed).

Every model's KV cache is cleared before each run, so no configuration reuses another's prompt
processing. Writes ``results/parallel-latency-latest.json``: per configuration the median and
p95 seconds per question and the ratio of medians to ``sequential``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
DATA = HERE.parent.parent / "shared" / "data" / "spider"
CONFIGS = {"sequential": (False, 2), "concurrent-1t": (True, 1), "concurrent-2t": (True, 2)}


def node_spec(concurrent: bool, threads: int) -> Any:
    from slmgraph.eval.sql.systems import ZEROSHOT_SYSTEM
    from slmgraph.loader import load_spec
    from slmgraph.spec import default_tiers

    tiers = default_tiers()
    for tier in tiers.values():
        tier["settings"] = {"n_ctx": 4096, "n_threads": threads}
        tier.pop("fallback", None)
    return load_spec(
        {
            "name": "parallel-latency",
            "state": {"schema": "str", "question": "str", "sql": "str", "agree": "bool"},
            "tiers": tiers,
            "nodes": {
                "write": {
                    "agent": "parallel",
                    "tier": "slm",
                    "params": {
                        "system": ZEROSHOT_SYSTEM,  # the zero-shot baseline's prompt
                        "user": "{schema}\n\nQuestion: {question}",
                        "output": "sql",
                        "verifier": "llm",
                        "agree_key": "agree",
                        "concurrent": concurrent,
                        "max_tokens": 200,
                    },
                }
            },
            "edges": [{"from": "START", "to": "write"}, {"from": "write", "to": "END"}],
        }
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--n", type=int, default=12, help="dev questions (stratified sample)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)
    if not (args.data / "dev.json").exists():
        print(f"skipped: no Spider data at {args.data} (see ../shared/data/README)")
        return 0

    from slmgraph.eval.sample import stratified_sample
    from slmgraph.eval.sql import load_split
    from slmgraph.graphs.builder import build
    from slmgraph.models.llamacpp import reset_kv_caches
    from slmgraph.runner import run
    from slmgraph.tools.sql.database import open_database

    items = stratified_sample(load_split(args.data), args.n + 1, args.seed)
    graphs = {name: build(node_spec(*cfg), call_log=False) for name, cfg in CONFIGS.items()}
    names = list(CONFIGS)
    seconds: dict[str, list[float]] = {n: [] for n in names}
    agree: dict[str, int] = {n: 0 for n in names}
    for i, item in enumerate(items):
        state = {
            "schema": open_database(item.db_path).schema().ddl(samples=False),
            "question": item.question,
        }
        order = names[i % len(names) :] + names[: i % len(names)]
        for name in order:
            reset_kv_caches()
            start = time.perf_counter()
            out = run(graphs[name], state).output
            took = time.perf_counter() - start
            if i == 0:
                continue  # the first question loads the models: not measured
            seconds[name].append(took)
            agree[name] += bool(out.get("agree"))
        if i:
            print(
                f"{i}/{len(items) - 1} " + " ".join(f"{n}={seconds[n][-1]:.1f}s" for n in names),
                file=sys.stderr,
            )

    def p95(xs: list[float]) -> float:
        return sorted(xs)[max(0, round(0.95 * len(xs)) - 1)]

    seq = statistics.median(seconds["sequential"])
    result = {
        "machine": f"{platform.processor() or platform.machine()}, 2 cores, "
        f"Python {platform.python_version()}",
        "date": dt.date.today().isoformat(),
        "command": "python benchmarks/parallel_latency.py " + " ".join(argv or sys.argv[1:]),
        "models": {
            "slm (draft)": "qwen2.5-coder-0.5b-instruct-q4_k_m",
            "llm (verifier)": "qwen2.5-coder-1.5b-instruct-q4_k_m",
        },
        "n": len(seconds["sequential"]),
        "configs": {
            n: {
                "concurrent": CONFIGS[n][0],
                "threads_per_model": CONFIGS[n][1],
                "median_s": round(statistics.median(seconds[n]), 3),
                "p95_s": round(p95(seconds[n]), 3),
                "median_vs_sequential": round(statistics.median(seconds[n]) / seq, 3),
                "agree": agree[n],
                "seconds": [round(s, 3) for s in seconds[n]],
            }
            for n in names
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "parallel-latency-latest.json").write_text(json.dumps(result, indent=2) + "\n")
    for n, c in result["configs"].items():
        print(
            f"{n:14} median {c['median_s']:6.2f} s  p95 {c['p95_s']:6.2f} s  "
            f"x{c['median_vs_sequential']:.2f} of sequential  agree {c['agree']}/{result['n']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
