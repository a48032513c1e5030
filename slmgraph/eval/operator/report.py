"""MiniWoB++ summaries: success rate with its interval, per task, steps and calls per episode,
the small tier's share, tokens and cost per episode and per success, seconds per step, and
the actions that were malformed (a constrained call that failed) or refused by the page."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from slmgraph.eval.stats import paired_rows, percentile, wilson
from slmgraph.tools.browser.nodes import REPEAT_REFUSAL

#: Modules whose output is decoded under a constraint.
CONSTRAINED = ("information_gathering", "self_reflection", "task_inference", "skill_curation",
               "action_planning", "react")  # fmt: skip
PLANNERS = ("action_planning", "react")


def summarize(records: list[dict[str, Any]], system: str = "") -> dict[str, Any]:
    n = len(records)
    wins = sum(bool(r["correct"]) for r in records)
    calls = [t for r in records for t in r["trace"]
             if t.get("tier") and t.get("status") != "budget"]  # fmt: skip
    model_calls = [t for t in calls if t.get("tokens_in") or t.get("tokens_out")]
    small = sum(t.get("size") == "small" for t in model_calls)
    cost = sum(float(t.get("cost_usd") or 0.0) for t in model_calls)
    tokens = sum(int(t.get("tokens_in") or 0) + int(t.get("tokens_out") or 0) for t in model_calls)
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for t in model_calls:
        by_module[str(t["node"])][str(t["tier"])] += 1
    failures: Counter[str] = Counter(
        str(t["node"]) for t in calls
        if t["node"] in CONSTRAINED and t.get("status") not in ("ok", None)
    )  # fmt: skip
    steps = [len(r.get("actions") or []) for r in records]
    per_step = [float(r.get("seconds") or 0.0) / max(1, len(r.get("actions") or []))
                for r in records]  # fmt: skip
    lo, hi = wilson(wins, n) if n else (0.0, 0.0)
    by_task: dict[str, list[bool]] = defaultdict(list)
    for r in records:
        by_task[str(r["task"])].append(bool(r["correct"]))
    return {
        "system": system,
        "episodes": n,
        "successes": wins,
        "success_rate": round(wins / n, 4) if n else 0.0,
        "ci95": (round(lo, 4), round(hi, 4)),
        "by_task": {t: round(sum(v) / len(v), 4) for t, v in sorted(by_task.items())},
        "steps_per_episode": round(sum(steps) / n, 2) if n else 0.0,
        "model_calls": len(model_calls),
        "calls_per_episode": round(len(model_calls) / n, 2) if n else 0.0,
        "calls_by_module": {m: dict(c) for m, c in sorted(by_module.items())},
        "slm_call_share": round(small / len(model_calls), 4) if model_calls else 0.0,
        "tokens_per_episode": round(tokens / n) if n else 0,
        "cost_per_episode": round(cost / n, 8) if n else 0.0,
        "cost_per_success": round(cost / wins, 8) if wins else None,
        "p50_s_per_step": round(percentile(per_step, 0.5), 2) if per_step else 0.0,
        "invalid_actions": sum(v for k, v in failures.items() if k in PLANNERS),
        "constraint_failures": dict(failures),
        "refused_actions": sum(
            not str(e).startswith(REPEAT_REFUSAL) for r in records for e in r.get("refused") or []
        ),
        "repeats_refused": sum(
            str(e).startswith(REPEAT_REFUSAL) for r in records for e in r.get("refused") or []
        ),
        "skills_used": sum(bool(r.get("skill_used")) for r in records),
        "skills_learned": sum(bool(r.get("skill_learned")) for r in records),
        "outcomes": dict(Counter(str(r.get("outcome")) for r in records)),
        "run_errors": sum(bool(r.get("error")) for r in records),
    }


def markdown(summaries: list[dict[str, Any]]) -> str:
    head = (
        "| system | episodes | success | 95% CI | steps/ep | calls/ep | slm share | tokens/ep "
        "| $/ep | $/success | p50 s/step | invalid actions | refused | repeats refused "
        "| skills used | errors |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for s in summaries:
        per = f"{s['cost_per_success']:.2e}" if s["cost_per_success"] else "-"
        rows.append(
            f"| {s['system']} | {s['episodes']} | {s['success_rate']:.1%} | {s['ci95'][0]:.1%}-"
            f"{s['ci95'][1]:.1%} | {s['steps_per_episode']} | {s['calls_per_episode']} | "
            f"{s['slm_call_share']:.0%} | {s['tokens_per_episode']} | {s['cost_per_episode']:.2e}"
            f" | {per} | {s['p50_s_per_step']} | {s['invalid_actions']} | "
            f"{s['refused_actions']} | {s.get('repeats_refused', 0)} | {s['skills_used']} | "
            f"{s['run_errors']} |"
        )
    return head + "\n".join(rows) + "\n"


def by_task_table(summaries: list[dict[str, Any]]) -> str:
    tasks = sorted({t for s in summaries for t in s["by_task"]})
    head = "| task | " + " | ".join(s["system"] for s in summaries) + " |\n"
    head += "|---|" + "---|" * len(summaries) + "\n"
    rows = [f"| {t} | " + " | ".join(
        f"{s['by_task'][t]:.0%}" if t in s["by_task"] else "-" for s in summaries) + " |"
        for t in tasks]  # fmt: skip
    return head + "\n".join(rows) + "\n"


__all__ = ["by_task_table", "markdown", "paired_rows", "summarize"]
