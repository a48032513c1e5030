"""Plots the benchmarks share: a rate with its interval against cost, beside the calls of each
system by tier (HumanEval's pass@1 per solved task, MiniWoB++'s success per success)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def rate_cost_calls(
    summaries: list[dict[str, Any]],
    path: Path,
    *,
    rate: str,
    cost: str,
    calls: str,
    rate_label: str,
    cost_label: str,
    calls_label: str,
) -> None:
    """Left: ``rate`` (with ``ci95``) against ``cost``; right: ``calls`` split by the slm
    share. Keys name each summary's fields."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    for s in summaries:
        x = (s[cost] or 0.0) * 1e6
        y = s[rate] * 100
        a.errorbar(x, y, fmt="o", yerr=[[y - s["ci95"][0] * 100], [s["ci95"][1] * 100 - y]])
        a.annotate(s["system"], (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    a.set_xlabel(f"{cost_label} (micro-dollars, catalog prices)")
    a.set_ylabel(f"{rate_label} (%), 95% interval")
    a.set_title(f"{rate_label} against cost")
    a.grid(alpha=0.3)
    names = [s["system"] for s in summaries]
    small = [s[calls] * s["slm_call_share"] for s in summaries]
    large = [s[calls] * (1 - s["slm_call_share"]) for s in summaries]
    b.bar(names, small, label="slm calls")
    b.bar(names, large, bottom=small, label="llm calls")
    b.set_ylabel(calls_label)
    b.set_title("calls by tier")
    b.tick_params(axis="x", labelrotation=30, labelsize=8)
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
