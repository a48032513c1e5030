"""Thresholds calibrated to a stated target (``slmgraph router calibrate``).

Held-out records, each with a score (P(slm succeeds) from the classifier router, or a cascade's
confidence), whether the small and the large model got it right, and what each cost. For every
threshold t, questions scoring below t go to the large model: quality, cost per question,
escalation rate. A cascade pays for the small model's try on an escalated question too
(``mode="cascade"``); a router decides first and pays one model (``mode="router"``). The
choice: for ``quality>=…`` (e.g. ``quality>=llm-0.01``, within a point of LLM-only) the
cheapest threshold that meets it; for ``escalations<=0.25`` or ``cost<=0.4*llm``, the best
quality within the bound — so a threshold means something on *your* traffic. Calibrate on
records the scorer was not fitted on.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slmgraph.errors import SlmgraphError


@dataclass
class Record:
    score: float
    slm_correct: bool
    llm_correct: bool
    slm_cost: float
    llm_cost: float


def curve(records: Sequence[Record], mode: str = "cascade") -> list[dict[str, float]]:
    """Quality and cost at every distinct threshold (plus never/always escalating)."""
    if mode not in ("cascade", "router"):
        raise SlmgraphError(f"mode {mode!r}: cascade or router")
    if not records:
        raise SlmgraphError("no records to calibrate on")
    n = len(records)
    cuts = sorted({r.score for r in records})
    mids = [(a + b) / 2 for a, b in itertools.pairwise(cuts)]
    thresholds = [cuts[0] - 1e-9, *mids, cuts[-1] + 1e-9]
    points = []
    for t in thresholds:
        up = [r.score < t for r in records]
        quality = (
            sum((r.llm_correct if u else r.slm_correct) for r, u in zip(records, up, strict=True))
            / n
        )
        pairs = list(zip(records, up, strict=True))
        if mode == "cascade":  # an escalated question paid for the small model's try too
            cost = sum(r.slm_cost + (r.llm_cost if u else 0.0) for r, u in pairs) / n
        else:
            cost = sum((r.llm_cost if u else r.slm_cost) for r, u in pairs) / n
        points.append(
            {
                "threshold": t,
                "quality": quality,
                "cost_per_question": cost,
                "escalation_rate": sum(up) / n,
            }
        )
    return points


_TARGET = re.compile(
    r"^\s*(escalations|quality|cost)\s*(<=|>=)\s*(?:(llm)\s*([-+*])\s*)?([0-9.]+)\s*(\*\s*llm)?\s*$"
)


def choose(points: Sequence[dict[str, float]], target: str, records: Sequence[Record]) -> Any:
    """The point meeting ``target`` (see the module docstring for which), or None."""
    m = _TARGET.match(target)
    if not m:
        raise SlmgraphError(
            f"target {target!r}: use e.g. 'escalations<=0.25', 'quality>=llm-0.01' or "
            "'cost<=0.4*llm'"
        )
    what, op, llm_ref, llm_op, number, times_llm = m.groups()
    try:
        float(number)
    except ValueError:
        raise SlmgraphError(f"target {target!r}: {number!r} is not a number") from None
    if what == "escalations" and (llm_ref or times_llm):
        raise SlmgraphError(f"target {target!r}: an escalation rate is a plain share, e.g. 0.25")
    n = len(records)
    llm_quality = sum(r.llm_correct for r in records) / n
    llm_cost = sum(r.llm_cost for r in records) / n
    value = float(number)
    ref = {"quality": llm_quality, "cost": llm_cost}.get(what, 0.0)
    if llm_ref:
        value = {"-": ref - value, "+": ref + value, "*": ref * value}[llm_op]
    elif times_llm:
        value = value * ref
    key = {"escalations": "escalation_rate", "quality": "quality", "cost": "cost_per_question"}[
        what
    ]
    ok = [p for p in points if (p[key] <= value if op == "<=" else p[key] >= value)]
    if not ok:
        return None
    if what == "cost" or what == "escalations":
        return max(ok, key=lambda p: (p["quality"], -p["cost_per_question"]))
    return min(ok, key=lambda p: (p["cost_per_question"], -p["quality"]))


def calibrate(records: Sequence[Record], target: str, mode: str = "cascade") -> dict[str, Any]:
    points = curve(records, mode)
    chosen = choose(points, target, records)
    n = len(records)
    return {
        "target": target,
        "mode": mode,
        "n": n,
        "quality_name": "quality",
        "slm_only": {
            "quality": sum(r.slm_correct for r in records) / n,
            "cost_per_question": sum(r.slm_cost for r in records) / n,
        },
        "llm_only": {
            "quality": sum(r.llm_correct for r in records) / n,
            "cost_per_question": sum(r.llm_cost for r in records) / n,
        },
        "points": points,
        "chosen": chosen,
    }


def read_records(path: str | Path) -> list[Record]:
    """JSONL with ``score``, ``slm_correct``, ``llm_correct``, ``slm_cost``, ``llm_cost``."""
    p = Path(path)
    if not p.exists():
        raise SlmgraphError(f"no records file at {p}")
    out = []
    for i, line in enumerate(p.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            out.append(
                Record(
                    float(d["score"]),
                    bool(d["slm_correct"]),
                    bool(d["llm_correct"]),
                    float(d.get("slm_cost", 0.0)),
                    float(d.get("llm_cost", 0.0)),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise SlmgraphError(
                f"{p}:{i}: a record needs score, slm_correct, llm_correct (and slm_cost, "
                f"llm_cost): {exc}"
            ) from None
    return out
