"""Run the operator (information gathering, self-reflection, task inference, skill curation,
action planning) on one MiniWoB++ episode in a headless Chromium, and show each step's action,
which module ran on which tier, and the page's reward.

    .venv/bin/python examples/operator.py                    # click-button, seed 3, real models
    SLMGRAPH_TIERS=examples/scripted_tiers.yaml .venv/bin/python examples/operator.py click-test
    .venv/bin/python examples/operator.py enter-text 5       # another task and seed

Needs Chromium and its driver (`make setup` installs Debian's as root). Skills learned from a
success are kept in .slmgraph/skills.sqlite ($SLMGRAPH_SKILLS) and offered to later episodes.
"""

from __future__ import annotations

import sys

from slmgraph import load_spec, run


def main() -> None:
    task = sys.argv[1] if len(sys.argv) > 1 else "click-button"
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    result = run(load_spec("operator"), {"task": task, "seed": seed})
    if result.error:
        print(f"error: {result.error}")
    print(f"instruction: {result.state.get('goal')}")
    for line in result.output.get("steps") or []:
        print(f"  {line}")
    calls = [f"{t['node']}[{t['tier']}]" for t in result.trace if t["model"]]
    print(f"modules: {len(calls)} calls: {', '.join(calls[:8])}{' ...' if len(calls) > 8 else ''}")
    print(f"outcome: {result.output.get('outcome')} (reward {result.output.get('reward')})")
    print(f"cost: ${result.totals['cost_usd']:.6f}, {result.totals['wall_s']:.1f} s")


if __name__ == "__main__":
    main()
