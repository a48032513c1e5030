"""HumanEval summaries: pass@1 with its interval, calls by role and tier, the small tier's
share, cost per task and per solved task, wall time, schema failures and loop bounds hit."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from slmgraph.eval.stats import paired_rows, percentile, wilson

#: Roles whose output is decoded under a constraint (a schema or the code-only pattern).
CONSTRAINED = ("product_manager", "architect", "qa", "engineer", "debug")


def summarize(records: list[dict[str, Any]], system: str = "") -> dict[str, Any]:
    n = len(records)
    solved = sum(bool(r["correct"]) for r in records)
    calls = [
        t for r in records for t in r["trace"] if t.get("tier") and t.get("status") != "budget"
    ]
    model_calls = [t for t in calls if t.get("tokens_in") or t.get("tokens_out")]
    small = sum(t.get("size") == "small" for t in model_calls)
    cost = sum(float(t.get("cost_usd") or 0.0) for t in model_calls)
    by_role: dict[str, Counter[str]] = defaultdict(Counter)
    failures: Counter[str] = Counter()
    for t in model_calls:
        by_role[str(t["node"])][str(t["tier"])] += 1
    for t in calls:
        if t["node"] in CONSTRAINED and t.get("status") not in ("ok", None):
            failures[str(t["node"])] += 1
    seconds = [float(r.get("seconds") or 0.0) for r in records]
    lo, hi = wilson(solved, n) if n else (0.0, 0.0)
    return {
        "system": system,
        "n": n,
        "solved": solved,
        "pass_at_1": round(solved / n, 4) if n else 0.0,
        "ci95": (round(lo, 4), round(hi, 4)),
        "model_calls": len(model_calls),
        "calls_per_task": round(len(model_calls) / n, 2) if n else 0.0,
        "calls_by_role": {role: dict(c) for role, c in sorted(by_role.items())},
        "slm_call_share": round(small / len(model_calls), 4) if model_calls else 0.0,
        "tokens_per_task": round(
            sum(int(t.get("tokens_in") or 0) + int(t.get("tokens_out") or 0) for t in model_calls)
            / max(n, 1)
        ),
        "cost_per_task": round(cost / n, 8) if n else 0.0,
        "cost_per_solved": round(cost / solved, 8) if solved else None,
        "p50_s": round(percentile(seconds, 0.5), 2) if seconds else 0.0,
        "p95_s": round(percentile(seconds, 0.95), 2) if seconds else 0.0,
        "schema_failures": dict(failures),
        "loop_bound_hits": sum(
            int((r.get("visits") or {}).get("engineer", 0)) >= 3 for r in records
        ),
        "debug_runs": sum(int((r.get("visits") or {}).get("debug", 0)) > 0 for r in records),
        "budget_stops": sum(bool(r.get("budget")) for r in records),
        "outcomes": dict(Counter(str(r.get("outcome")) for r in records)),
        "run_errors": sum(bool(r.get("error")) for r in records),
        **_drafts(records),
        "by_hardness": {
            h: round(sum(bool(r["correct"]) for r in rs) / len(rs), 4)
            for h, rs in sorted(_group(records).items())
        },
    }


def _drafts(records: list[dict[str, Any]]) -> dict[str, Any]:
    """What the fix loop did, from the official verdict on every version the engineer (or
    debug) wrote: how often the first version already passed, how often the run ended with
    worse code than a version it had (a right version rewritten to satisfy a wrong test, or
    not chosen), and how often the loop turned a failing first version into a passing one.
    Empty where the records predate ``drafts``."""
    rows = [r for r in records if r.get("drafts")]
    if not rows:
        return {}
    first = sum(bool(r["drafts"][0]["correct"]) for r in rows)
    return {
        "drafts_n": len(rows),
        "first_draft_pass": round(first / len(rows), 4),
        "lost_by_loop": sum(
            not r["correct"] and any(d["correct"] for d in r["drafts"]) for r in rows
        ),
        "gained_by_loop": sum(bool(r["correct"]) and not r["drafts"][0]["correct"] for r in rows),
    }


def _group(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        out[str(r.get("hardness"))].append(r)
    return out


def markdown(summaries: list[dict[str, Any]]) -> str:
    head = (
        "| system | n | pass@1 | 95% CI | calls/task | slm share | $/task | $/solved | p50 s "
        "| p95 s | schema failures | loop bound | debug | budget stops | run errors |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for s in summaries:
        per_solved = f"{s['cost_per_solved']:.2e}" if s["cost_per_solved"] else "-"
        rows.append(
            f"| {s['system']} | {s['n']} | {s['pass_at_1']:.1%} | {s['ci95'][0]:.1%}-"
            f"{s['ci95'][1]:.1%} | {s['calls_per_task']} | {s['slm_call_share']:.0%} | "
            f"{s['cost_per_task']:.2e} | {per_solved} | {s['p50_s']} | {s['p95_s']} | "
            f"{sum(s['schema_failures'].values())} | {s['loop_bound_hits']} | "
            f"{s['debug_runs']} | {s['budget_stops']} | {s['run_errors']} |"
        )
    out = head + "\n".join(rows) + "\n"
    looped = [s for s in summaries if s.get("drafts_n")]
    if looped:  # the official tests on every version each run wrote
        out += (
            "\n| system | runs | first version passes | loop gained | loop lost |\n"
            "|---|---|---|---|---|\n"
        )
        out += "".join(
            f"| {s['system']} | {s['drafts_n']} | {s['first_draft_pass']:.1%} | "
            f"{s['gained_by_loop']} | {s['lost_by_loop']} |\n"
            for s in looped
        )
    return out


__all__ = ["markdown", "paired_rows", "summarize"]
