"""Backend faults: every scenario of the committed corpus played by a fault-injecting server on
loopback against the real ``openai_compat`` backend, in a real graph run — once with a
scripted fallback tier behind it, once alone.

    .venv/bin/python benchmarks/reliability_backends.py [--json OUT]

The corpus is ``tests/fixtures/reliability/backends/scenarios.yaml`` (the server that plays it,
``fault_server.py``, is beside it). Outcomes: ``answered`` (the server's answer stands: the
controls), ``fallback`` (the run finished on the fallback tier), ``defined error`` (the run
ended with status ``error`` and a one-line message naming the error kind), ``other`` (anything
else: an exception out of ``run()``, a multi-line error, a fault taken as an answer). Each
scenario's wall time is that of the remote tier's attempt, against its ``timeout_s``.
``tests/test_backend_faults.py`` holds the same expectations per scenario.

``measure()`` and ``section()`` are what the reliability report calls.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "reliability"
sys.path.insert(0, str(FIXTURES / "backends"))

from fault_server import (  # type: ignore[import-not-found]  # noqa: E402
    DEFAULT_TIMEOUT_S,
    FALLBACK_ANSWER,
    SCENARIOS,
    SERVER_ANSWER,
    Played,
    load_scenarios,
    play,
)

#: Slack over a scenario's limit before its wall time counts as past it (scheduling on a
#: loaded machine, the fault server's own threads).
SLACK_S = 0.5


def outcome(played: Played) -> str:
    """answered | fallback | defined error | other (see the module docstring)."""
    result = played.result
    if played.escaped is not None or result is None:
        return "other"
    if result.status == "ok":
        answer = result.output.get("answer")
        if answer == SERVER_ANSWER and played.kind == "ok":
            return "answered"
        if answer == FALLBACK_ANSWER and played.kind not in (None, "ok"):
            return "fallback"
        return "other"
    error = result.error or ""
    if result.status == "error" and "\n" not in error and error.startswith("ask: ["):
        return "defined error"
    return "other"


def expected(scenario: dict[str, Any], *, fallback: bool) -> str:
    if scenario["expect"] == "ok":
        return "answered"
    return "fallback" if fallback else "defined error"


def measure(names: Iterable[str] | None = None) -> dict[str, Any]:
    """Play every scenario (or those named) with and without a fallback tier."""
    wanted = set(names) if names is not None else None
    rows = []
    for scenario in load_scenarios():
        if wanted is not None and scenario["name"] not in wanted:
            continue
        row: dict[str, Any] = {
            "name": scenario["name"],
            "what": scenario["what"],
            "expect": scenario["expect"],
            "limit_s": float(scenario.get("timeout_s", DEFAULT_TIMEOUT_S)),
        }
        for fallback, key in ((True, "with_fallback"), (False, "alone")):
            played = play(scenario, fallback=fallback)
            entry = played.remote or {}
            row[key] = {
                "outcome": outcome(played),
                "expected": expected(scenario, fallback=fallback),
                "kind": played.kind,
                "call_s": round(float(entry.get("latency_s") or played.wall_s), 3),
                "run_s": round(played.wall_s, 3),
                "requests": played.requests,
                "error": None if played.result is None else played.result.error,
                "escaped": None if played.escaped is None else repr(played.escaped),
            }
        rows.append(row)
    runs = [(r, r[key]) for r in rows for key in ("with_fallback", "alone")]
    faults = [run for r, run in runs if r["expect"] != "ok"]
    return {
        "corpus": str(SCENARIOS.relative_to(FIXTURES.parents[2])),
        "scenarios": len(rows),
        "faults": sum(r["expect"] != "ok" for r in rows),
        "rows": rows,
        "outside": sum(run["outcome"] not in ("fallback", "defined error") for run in faults),
        "unexpected": sum(run["outcome"] != run["expected"] for _, run in runs),
        "wrong_kind": sum(run["kind"] != r["expect"] for r, run in runs),
        "past_limit": sum(run["call_s"] > r["limit_s"] + SLACK_S for r, run in runs),
        "max_over_limit_s": round(
            max((run["call_s"] - r["limit_s"] for r, run in runs), default=0.0), 3
        ),
    }


def section(figures: dict[str, Any]) -> str:
    """Markdown: the scenarios, their outcome with and without a fallback tier, wall vs limit."""
    lines = [
        "### Backend faults",
        "",
        f"Corpus: `{figures['corpus']}`, {figures['scenarios']} scenarios "
        f"({figures['faults']} faults, {figures['scenarios'] - figures['faults']} controls), "
        "each played by a fault-injecting server on loopback against the real `openai_compat` "
        "backend in a graph run, with a scripted fallback tier and alone.",
        "",
        f"- fault scenarios that end outside fallback or a defined error state: "
        f"**{figures['outside']}**",
        f"- runs whose outcome differs from the expected one: {figures['unexpected']}",
        f"- runs whose error kind differs from the expected one: {figures['wrong_kind']}",
        f"- calls past their limit (+{SLACK_S:g} s slack): {figures['past_limit']}; "
        f"the most over: {figures['max_over_limit_s']:+.2f} s",
        "",
        "| scenario | what | kind | with fallback | alone | wall s | limit s |",
        "| --- | --- | --- | --- | --- | ---: | ---: |",
    ]
    for r in figures["rows"]:
        a, b = r["with_fallback"], r["alone"]
        kind = r["expect"] if a["kind"] == r["expect"] else f"{a['kind']} (expected {r['expect']})"
        wall = max(a["call_s"], b["call_s"])
        lines.append(
            f"| `{r['name']}` | {r['what']} | {kind} | {a['outcome']} | {b['outcome']} "
            f"| {wall:.2f} | {r['limit_s']:g} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    figures = measure()
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    print(section(figures))


if __name__ == "__main__":
    main()
