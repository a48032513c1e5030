"""Cost and latency accounting from the call log (``slmgraph report``).

Per node, tier and model: calls, failures, tokens in/out, p50/p95 latency and dollars from the
tiers' prices (as logged). Headlines: the share of model calls answered on small-model tiers,
and the dollars against an all-LLM counterfactual — every call's tokens priced at the LLM
tier's prices, which is what the same traffic would have cost with no small model at all.

A call is a small-model call when its tier said ``size: small`` (logged with every call as
``tier_size``); tier names are the user's and mean nothing here. Rows logged before the size
class existed count as large and are counted apart (``unsized_calls``), and a caller may name the
small tiers instead (``slmgraph report --slm-tiers``). Shadow calls (a candidate answering
beside the live tier) are reported apart: they cost money but answered nothing.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from slmgraph.telemetry.calllog import is_shadow


def _pct(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(q * (len(s) - 1))))
    return round(s[k], 4)


@dataclass
class Line:
    node: str
    tier: str
    model: str
    calls: int
    failed: int
    tokens_in: int
    tokens_out: int
    p50_s: float | None
    p95_s: float | None
    cost_usd: float


@dataclass
class CostReport:
    lines: list[Line]
    calls: int
    slm_calls: int
    slm_call_share: float
    cost_usd: float
    all_llm_cost_usd: float
    shadow_calls: int
    shadow_cost_usd: float
    runs: int
    unsized_calls: int = 0

    @property
    def saving(self) -> float | None:
        """Fraction of the all-LLM cost saved (None when that cost is zero)."""
        if self.all_llm_cost_usd <= 0:
            return None
        return 1 - self.cost_usd / self.all_llm_cost_usd

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "saving": self.saving}

    def markdown(self) -> str:
        rows = [
            "| node | tier | model | calls | failed | tokens in | tokens out | p50 s | p95 s | $ |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for ln in self.lines:
            rows.append(
                f"| {ln.node} | {ln.tier} | {ln.model} | {ln.calls} | {ln.failed} "
                f"| {ln.tokens_in} | {ln.tokens_out} | {ln.p50_s} | {ln.p95_s} "
                f"| {ln.cost_usd:.6f} |"
            )
        saving = f"{self.saving:.0%}" if self.saving is not None else "n/a"
        rows += [
            "",
            f"{self.calls} model calls in {self.runs} runs; {self.slm_call_share:.0%} on "
            f"small-model tiers. Cost ${self.cost_usd:.6f} against ${self.all_llm_cost_usd:.6f} "
            f"had every call gone to the LLM tier (saving {saving}).",
        ]
        if self.unsized_calls:
            rows.append(
                f"{self.unsized_calls} calls were logged without their tier's size class "
                "(before slmgraph 0.2) and count as large; pass --slm-tiers to name the small "
                "tiers of those runs."
            )
        if self.shadow_calls:
            rows.append(
                f"Shadow calls (not counted above): {self.shadow_calls}, "
                f"${self.shadow_cost_usd:.6f}."
            )
        return "\n".join(rows) + "\n"


def is_small(row: dict[str, Any]) -> bool:
    """Was the call answered on a small tier (the size class its tier declared)?"""
    return row.get("tier_size") == "small"


def cost_report(
    rows: Iterable[dict[str, Any]],
    *,
    llm_price: tuple[float, float] = (0.20, 0.60),
    small: Callable[[dict[str, Any]], bool] = is_small,
) -> CostReport:
    """``llm_price``: the LLM tier's dollars per million input and output tokens (the default
    tiers' ``llm`` prices), for the all-LLM counterfactual. ``small`` says which calls ran on a
    small model (default: the logged size class)."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    shadow_calls, shadow_cost = 0, 0.0
    runs: set[str] = set()
    # The counterfactual prices one call per call group — the one that answered (else the
    # first try): without small models, failed small-model attempts would never have happened.
    answer_of: dict[str, dict[str, Any]] = {}
    n_small = unsized = 0
    for r in rows:
        if is_shadow(r):
            shadow_calls += 1
            shadow_cost += float(r.get("cost_usd") or 0.0)
            continue
        n_small += bool(small(r))
        unsized += r.get("tier_size") is None
        groups[(str(r.get("node")), str(r.get("tier")), str(r.get("model")))].append(r)
        if r.get("run_id"):
            runs.add(str(r["run_id"]))
        group = str(r.get("call_group") or r.get("call_id") or id(r))
        if group not in answer_of or (r["status"] == "ok" and answer_of[group]["status"] != "ok"):
            answer_of[group] = r
    counterfactual = sum(
        ((r.get("tokens_in") or 0) * llm_price[0] + (r.get("tokens_out") or 0) * llm_price[1]) / 1e6
        for r in answer_of.values()
    )
    lines = []
    for (node, tier, model), rs in sorted(groups.items()):
        lat = [float(r["latency_s"]) for r in rs if r.get("latency_s") is not None]
        lines.append(
            Line(
                node=node,
                tier=tier,
                model=model,
                calls=len(rs),
                failed=sum(r["status"] != "ok" for r in rs),
                tokens_in=sum(int(r.get("tokens_in") or 0) for r in rs),
                tokens_out=sum(int(r.get("tokens_out") or 0) for r in rs),
                p50_s=round(statistics.median(lat), 4) if lat else None,
                p95_s=_pct(lat, 0.95),
                cost_usd=sum(float(r.get("cost_usd") or 0.0) for r in rs),
            )
        )
    calls = sum(ln.calls for ln in lines)
    return CostReport(
        lines=lines,
        calls=calls,
        slm_calls=n_small,
        slm_call_share=n_small / calls if calls else 0.0,
        cost_usd=sum(ln.cost_usd for ln in lines),
        all_llm_cost_usd=counterfactual,
        shadow_calls=shadow_calls,
        shadow_cost_usd=shadow_cost,
        runs=len(runs),
        unsized_calls=unsized if small is is_small else 0,
    )


def plot(report: CostReport, path: str, curve: dict[str, Any] | None = None) -> None:
    """A PNG: dollars per tier against the all-LLM counterfactual, and (given a calibration
    from ``slmgraph router calibrate``) its quality-cost curve over thresholds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 2 if curve else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4), squeeze=False)
    ax = axes[0][0]
    by_tier: dict[str, float] = defaultdict(float)
    for ln in report.lines:
        by_tier[ln.tier] += ln.cost_usd
    names = [*by_tier, "all-LLM\ncounterfactual"]
    ax.bar(names, [*by_tier.values(), report.all_llm_cost_usd], color="#4a7")
    ax.set_ylabel("$ (from the tiers' prices)")
    ax.set_title(f"{report.calls} calls, {report.slm_call_share:.0%} on small-model tiers")
    if curve:
        ax2 = axes[0][1]
        pts = curve["points"]
        ax2.plot([p["cost_per_question"] for p in pts], [p["quality"] for p in pts], "o-")
        for p in pts[:: max(1, len(pts) // 8)]:
            ax2.annotate(f"{p['threshold']:.2g}", (p["cost_per_question"], p["quality"]))
        chosen = curve.get("chosen")
        if chosen:
            ax2.plot([chosen["cost_per_question"]], [chosen["quality"]], "r*", markersize=14)
        ax2.set_xlabel("$ per question")
        ax2.set_ylabel(curve.get("quality_name", "quality"))
        ax2.set_title("cascade over thresholds")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_curve(curve: dict[str, Any], path: str) -> None:
    """The calibration alone: quality against cost per question over thresholds, with the
    slm-only and llm-only points and the chosen threshold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    pts = curve["points"]
    ax.plot(
        [p["cost_per_question"] for p in pts], [p["quality"] for p in pts], ".-", label="cascade"
    )
    for name in ("slm_only", "llm_only"):
        p = curve[name]
        ax.plot([p["cost_per_question"]], [p["quality"]], "s", label=name.replace("_", "-"))
    if curve.get("chosen"):
        c = curve["chosen"]
        ax.plot([c["cost_per_question"]], [c["quality"]], "r*", markersize=14, label="chosen")
    ax.set_xlabel("$ per question")
    ax.set_ylabel(curve.get("quality_name", "quality"))
    ax.set_title(f"target: {curve['target']}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_summary(trace: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-tier calls, tokens and dollars of one run's trace (in every run's result)."""
    out: dict[str, dict[str, Any]] = {}
    for t in trace:
        if not t.get("model"):
            continue
        d = out.setdefault(
            str(t.get("tier")),
            {"calls": 0, "size": t.get("size"), "tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0},
        )
        d["calls"] += 1
        d["tokens_in"] += int(t.get("tokens_in") or 0)
        d["tokens_out"] += int(t.get("tokens_out") or 0)
        d["cost_usd"] = round(d["cost_usd"] + float(t.get("cost_usd") or 0.0), 10)
    return out


def dumps(report: CostReport) -> str:
    return json.dumps(report.as_dict(), indent=2) + "\n"
