"""Constrained decoding speed: decode tokens/s under our JSON-schema grammar versus
unconstrained, same prompts, the real 0.5B model through the llamacpp backend.

    .venv/bin/python benchmarks/constrained_decoding.py [--model NAME] [--repeats 3]

Decode speed excludes prompt processing (time to the first token). Runs alternate between the
two modes; the report gives medians over prompts x repeats and the ratio. Writes
benchmarks/results/constrained-decoding-latest.json. (The SQL grammar joins when the
query-writer lands.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from datetime import date
from pathlib import Path

from overhead import machine

from slmgraph.constraints import Constraint
from slmgraph.models.base import create_backend

SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 80},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 24}, "maxItems": 5},
        "priority": {"enum": ["low", "medium", "high"]},
        "summary": {"type": "string", "maxLength": 200},
    },
    "required": ["title", "tags", "priority", "summary"],
}
PROMPTS = [
    "Describe this bug report as a ticket: the login page times out after 30 seconds.",
    "Make a ticket for: customers cannot download invoices as PDF since Monday.",
    "Turn into a ticket: add dark mode to the settings screen.",
    "Ticket for: the nightly export job fails with 'disk full' on the reporting server.",
    "Create a ticket: translate the onboarding emails into German and French.",
    "Ticket: search results show deleted products for some users.",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct-q4_k_m")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "constrained-decoding-latest.json")
    )
    args = ap.parse_args()
    backend = create_backend("llamacpp", args.model, {"n_ctx": 2048, "n_threads": args.threads})
    modes = {"unconstrained": None, "json_schema": Constraint.json(SCHEMA)}
    speeds: dict[str, list[float]] = {m: [] for m in modes}
    tokens: dict[str, list[int]] = {m: [] for m in modes}
    parsed = 0
    for _ in range(args.repeats):
        for prompt in PROMPTS:
            for mode, constraint in modes.items():
                msgs = [
                    {"role": "system", "content": "Answer with a JSON ticket object."},
                    {"role": "user", "content": prompt},
                ]
                c = backend.complete(msgs, constraint, max_tokens=160)  # type: ignore[arg-type]
                first = c.raw.get("first_token_s") or 0.0
                n = c.usage.output_tokens
                if n > 1 and c.latency_s > first:
                    speeds[mode].append((n - 1) / (c.latency_s - first))
                    tokens[mode].append(n)
                if constraint is not None:
                    json.loads(c.text)
                    parsed += 1
    med = {m: statistics.median(v) for m, v in speeds.items()}
    result = {
        "benchmark": "constrained decoding speed",
        "machine": machine(),
        "date": date.today().isoformat(),
        "model": args.model,
        "threads": args.threads,
        "command": f"python benchmarks/constrained_decoding.py --repeats {args.repeats} "
        f"--threads {args.threads}",
        "samples_per_mode": len(speeds["unconstrained"]),
        "decode_tokens_per_s_median": {m: round(v, 2) for m, v in med.items()},
        "output_tokens_median": {m: statistics.median(v) for m, v in tokens.items()},
        "json_ratio_to_unconstrained": round(med["json_schema"] / med["unconstrained"], 3),
        "json_outputs_parsed": f"{parsed}/{len(PROMPTS) * args.repeats}",
        "target": "constrained tokens/s >= 0.9x unconstrained",
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
