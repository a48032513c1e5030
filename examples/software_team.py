"""Run the software team (product manager, architect, QA, engineer, debug) on one task and show
what each role did on which tier, the code and its test report.

    .venv/bin/python examples/software_team.py      # the real default models (make demo pulls them)
    SLMGRAPH_TIERS=examples/scripted_tiers.yaml .venv/bin/python examples/software_team.py  # none
    .venv/bin/python examples/software_team.py task.txt   # your own task (a signature + docstring)

Move a role to another tier with one line in graphs/software_team.yaml (``tier: llm``), or cap a
run's spend with ``limits: {max_tokens: N, max_cost_usd: D}``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from slmgraph import load_spec, run

TASK = '''def running_max(xs: list) -> list:
    """Each position's largest value so far.
    >>> running_max([1, 3, 2, 5, 4])
    [1, 3, 3, 5, 5]
    >>> running_max([])
    []
    """
'''


def main() -> None:
    task = Path(sys.argv[1]).read_text() if len(sys.argv) > 1 else TASK
    result = run(load_spec("software_team"), {"task": task})
    if result.error:
        print(f"error: {result.error}")
    print("roles:", " -> ".join(f"{t['node']}[{t['tier']}]" for t in result.trace if t["model"]))
    print(f"outcome: {result.output['outcome']}")
    report = result.output.get("report") or {}
    print(f"tests: {report.get('passed', 0)} of {report.get('total', 0)} pass "
          f"(sandbox: {report.get('isolation', '-')})")  # fmt: skip
    print(f"cost: ${result.totals['cost_usd']:.6f}, {result.totals['wall_s']:.1f} s")
    print("\n" + (result.output.get("code") or "(no code)"))


if __name__ == "__main__":
    main()
