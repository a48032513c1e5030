"""Build the built-in triage graph from its spec in Python and run it on three tickets.

    .venv/bin/python examples/run_triage.py     # the real default models (make demo pulls them)
    SLMGRAPH_TIERS=examples/scripted_tiers.yaml .venv/bin/python examples/run_triage.py  # none

Swap the `llm` tier to an OpenAI-compatible server with a tiers file, e.g.
    llm:
      backend: openai_compat
      model: NAME
      settings: {base_url: "http://host:8000/v1", server: vllm}
"""

from __future__ import annotations

from slmgraph import load_spec, run
from slmgraph.graphs.builder import build

TICKETS = [
    "Hi, I was charged twice for my Pro subscription this month. Please refund one. - Dana",
    "The mobile app crashes every time I open the settings page on Android 14.",
    "What are your office opening hours over the holidays?",
]


def main() -> None:
    built = build(load_spec("triage"))  # the graph is built once and reused for every ticket
    for ticket in TICKETS:
        result = run(built, {"ticket": ticket})
        print(f"\n> {ticket}")
        for key, value in result.output.items():
            print(f"  {key}: {value}")
        route = " -> ".join(f"{t['node']}[{t['tier']}]" for t in result.trace)
        print(
            f"  route: {route}   ({result.totals['wall_s']:.1f} s, "
            f"${result.totals['cost_usd']:.6f})"
        )


if __name__ == "__main__":
    main()
