"""Summaries of a text-to-SQL evaluation: EX with 95% intervals, validity, hallucinated
identifiers, latency percentiles, tokens and call shares per tier, the share of calls on small
tiers (by their size class), cost per question and per correct answer; the Spider targets."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from slmgraph.eval.stats import percentile, wilson

HARDNESS_ORDER = ["easy", "medium", "hard", "extra", "unknown"]


def summarize(records: list[dict[str, Any]], system: str = "") -> dict[str, Any]:
    n = len(records)
    correct = sum(bool(r["correct"]) for r in records)
    by_h: dict[str, list[bool]] = defaultdict(list)
    for r in records:
        by_h[r.get("hardness") or "unknown"].append(bool(r["correct"]))
    tokens: dict[str, dict[str, int]] = defaultdict(lambda: {"in": 0, "out": 0})
    calls: dict[str, int] = defaultdict(int)
    cost = 0.0
    slm_calls = 0
    for r in records:
        for t in r.get("trace") or []:
            tier = t.get("tier") or "?"
            tokens[tier]["in"] += int(t.get("tokens_in") or 0)
            tokens[tier]["out"] += int(t.get("tokens_out") or 0)
            calls[tier] += 1
            slm_calls += t.get("size") == "small"
            cost += float(t.get("cost_usd") or 0.0)
    total_calls = sum(calls.values())
    seconds = [float(r["seconds"]) for r in records]
    return {
        "name": system,
        "n": n,
        "ex": round(correct / n, 4) if n else 0.0,
        "ex_ci95": wilson(correct, n),
        "ex_by_hardness": {
            h: {"n": len(v), "ex": round(sum(v) / len(v), 4), "ci95": wilson(sum(v), len(v))}
            for h, v in sorted(
                by_h.items(),
                key=lambda kv: HARDNESS_ORDER.index(kv[0]) if kv[0] in HARDNESS_ORDER else 99,
            )
        },
        "parse_rate": round(sum(bool(r.get("parses")) for r in records) / n, 4) if n else 0.0,
        "valid_sql_rate": round(sum(bool(r["valid"]) for r in records) / n, 4) if n else 0.0,
        "hallucinated_identifier_rate": round(sum(bool(r["hallucinated"]) for r in records) / n, 4)
        if n
        else 0.0,
        "escalation_rate": round(sum(bool(r["escalated"]) for r in records) / n, 4) if n else 0.0,
        "p50_s": round(statistics.median(seconds), 3) if seconds else 0.0,
        "p95_s": round(percentile(seconds, 0.95), 3),
        "tokens_by_tier": dict(tokens),
        "call_share_by_tier": {k: round(v / total_calls, 4) for k, v in calls.items()}
        if total_calls
        else {},
        "slm_call_share": round(slm_calls / total_calls, 4) if total_calls else 0.0,
        "cost_per_question": round(cost / n, 8) if n else 0.0,
        "cost_per_correct": round(cost / correct, 8) if correct else None,
    }


def markdown(summaries: list[dict[str, Any]]) -> str:
    hard = [h for h in HARDNESS_ORDER if any(h in s["ex_by_hardness"] for s in summaries)]
    head = [
        "system",
        "n",
        "EX (95% CI)",
        *[f"EX {h}" for h in hard],
        "valid SQL",
        "halluc. ids",
        "p50 s",
        "p95 s",
        "slm calls",
        "$/question",
        "$/correct",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summaries:
        lo, hi = s["ex_ci95"]
        cells = [s["name"], str(s["n"]), f"{s['ex']:.1%} ({lo:.1%}–{hi:.1%})"]
        cells += [
            f"{s['ex_by_hardness'][h]['ex']:.1%}" if h in s["ex_by_hardness"] else "–" for h in hard
        ]
        cpc = s["cost_per_correct"]
        cells += [
            f"{s['valid_sql_rate']:.1%}",
            f"{s['hallucinated_identifier_rate']:.1%}",
            f"{s['p50_s']:.1f}",
            f"{s['p95_s']:.1f}",
            f"{s['slm_call_share']:.0%}",
            f"{s['cost_per_question']:.2e}",
            f"{cpc:.2e}" if cpc else "–",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def spider_targets(
    summaries: list[dict[str, Any]], micro: dict[str, dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """The benchmark issue's targets, each with the measured value, met or not, and the gap.

    ``summaries``: the Spider systems by name; ``micro``: the micro-benchmarks' latest results
    (``overhead``, ``constrained-decoding``, ``table-linking``). A target whose systems were not
    run is reported as not measured, never as met."""
    by = {s["name"]: s for s in summaries}
    out: list[dict[str, Any]] = []

    def add(target: str, value: str, met: bool | None, gap: str = "") -> None:
        out.append({"target": target, "measured": value, "met": met, "gap": gap})

    def pts(x: float) -> str:
        return f"{x * 100:+.1f} pts"

    slm, z05, z15, cas = (
        by.get(k) for k in ("slmgraph-slm", "zeroshot-0.5b", "zeroshot-1.5b", "slmgraph-cascade")
    )
    if slm and z05:
        d = slm["ex"] - (z05["ex"] + 0.15)
        add(
            "slmgraph-slm EX >= zeroshot-0.5b + 15 pts",
            f"{slm['ex']:.1%} vs {z05['ex']:.1%} + 15",
            d >= 0,
            "" if d >= 0 else pts(d),
        )
    else:
        add("slmgraph-slm EX >= zeroshot-0.5b + 15 pts", "not measured", None)
    if slm and z15:
        d = slm["ex"] - z15["ex"]
        add(
            "slmgraph-slm EX >= zeroshot-1.5b",
            f"{slm['ex']:.1%} vs {z15['ex']:.1%}",
            d >= 0,
            "" if d >= 0 else pts(d),
        )
        ok = slm["p50_s"] <= z15["p50_s"]
        add(
            "slmgraph-slm p50 s <= zeroshot-1.5b's",
            f"{slm['p50_s']:.1f} s vs {z15['p50_s']:.1f} s",
            ok,
            "" if ok else f"+{slm['p50_s'] - z15['p50_s']:.1f} s",
        )
    else:
        add("slmgraph-slm EX >= zeroshot-1.5b", "not measured", None)
        add("slmgraph-slm p50 s <= zeroshot-1.5b's", "not measured", None)
    if cas and z15:
        d = cas["ex"] - z15["ex"]
        add(
            "slmgraph-cascade EX >= zeroshot-1.5b",
            f"{cas['ex']:.1%} vs {z15['ex']:.1%}",
            d >= 0,
            "" if d >= 0 else pts(d),
        )
        share = cas["slm_call_share"]
        add(
            "slmgraph-cascade >= 70% of model calls on slm",
            f"{share:.0%}",
            share >= 0.7,
            "" if share >= 0.7 else pts(share - 0.7),
        )
        ratio = (
            cas["cost_per_question"] / z15["cost_per_question"] if z15["cost_per_question"] else 0
        )
        add(
            "slmgraph-cascade cost/question <= 40% of zeroshot-1.5b's",
            f"{ratio:.0%}",
            ratio <= 0.4,
            "" if ratio <= 0.4 else f"{(ratio - 0.4) * 100:+.0f} pts of cost",
        )
    else:
        for t in (
            "slmgraph-cascade EX >= zeroshot-1.5b",
            "slmgraph-cascade >= 70% of model calls on slm",
            "slmgraph-cascade cost/question <= 40% of zeroshot-1.5b's",
        ):
            add(t, "not measured", None)
    for s in summaries:
        if s["name"].startswith("slmgraph-") and "nogrammar" not in s["name"]:
            ok = s["valid_sql_rate"] >= 1.0 and s["hallucinated_identifier_rate"] == 0.0
            add(
                f"{s['name']}: valid SQL 100%, hallucinated identifiers 0%",
                f"valid {s['valid_sql_rate']:.1%} (parses {s.get('parse_rate', 0):.1%}), "
                f"hallucinated {s['hallucinated_identifier_rate']:.1%}",
                ok,
                "" if ok else f"{(1 - s['valid_sql_rate']) * 100:.1f}% invalid",
            )
    micro = micro or {}
    if "overhead" in micro:
        per_node = micro["overhead"].get("overhead_per_node_ms", {})
        v = float(per_node.get("slmgraph-sqlite-log", float("nan")))
        add("framework overhead <= 1 ms per node", f"{v:.2f} ms (with the call log)", v <= 1.0)
    if "constrained-decoding" in micro:
        m = micro["constrained-decoding"]
        for key, label in (
            ("json_ratio_to_unconstrained", "JSON"),
            ("sql_ratio_to_unconstrained", "SQL"),
        ):
            if key in m:
                r = float(m[key])
                add(
                    f"constrained tokens/s >= 0.9x unconstrained ({label})",
                    f"{r:.2f}x",
                    r >= 0.9,
                    "" if r >= 0.9 else f"{r - 0.9:+.2f}x",
                )
    if "table-linking" in micro:
        m = micro["table-linking"]
        methods = m.get("methods") or {
            "bm25": {
                "recall_at_k": m.get("recall_at_k", {}),
                "recall_at_k_with_fk_expansion": m.get("recall_at_k_with_fk_expansion", {}),
                "latency_s_per_question": m.get("latency_s_per_question", {}),
            }
        }
        parts, met = [], False
        for name, v in methods.items():
            r = float(v.get("recall_at_k", {}).get("10", 0.0))
            fk = v.get("recall_at_k_with_fk_expansion", {}).get("10")
            worst = float(v.get("latency_s_per_question", {}).get("max", float("nan")))
            met = met or (r >= 0.95 and worst < 2.0)
            extra = f" ({float(fk):.1%} with FK expansion)" if fk is not None else ""
            parts.append(f"{name} {r:.1%}{extra}, slowest {worst:.2f} s")
        best = max(float(v.get("recall_at_k", {}).get("10", 0.0)) for v in methods.values())
        add(
            "table-linking recall@10 >= 95% at < 2 s per question",
            "; ".join(parts),
            met,
            "" if met else pts(best - 0.95) + " (plain top 10)",
        )
    return out


def targets_markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| target | measured | met | gap |", "|---|---|---|---|"]
    for r in rows:
        met = {True: "yes", False: "**no**", None: "not measured"}[r["met"]]
        lines.append(f"| {r['target']} | {r['measured']} | {met} | {r['gap']} |")
    return "\n".join(lines) + "\n"


def paired_markdown(rows: list[dict[str, Any]]) -> str:
    """``rows``: ``paired`` results with ``a`` and ``b`` (system names) added."""
    lines = [
        "| a | b | n | EX a - b (95% CI) | right only in a | right only in b | McNemar p |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lo, hi = r["ci95"]
        lines.append(
            f"| {r['a']} | {r['b']} | {r['n']} | {r['diff'] * 100:+.1f} pts "
            f"({lo * 100:+.1f} to {hi * 100:+.1f}) | {r['only_a']} | {r['only_b']} "
            f"| {r['p_mcnemar']:.3g} |"
        )
    return "\n".join(lines) + "\n"
