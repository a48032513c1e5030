"""Statistics of evaluations: intervals and paired tests (every domain's benchmarks use them).

Two systems measured on the same items have correlated errors, so compare them with
:func:`paired` (McNemar's exact test and a paired interval), not by their separate intervals.
"""

from __future__ import annotations

import math
from typing import Any


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for k successes out of n."""
    if n == 0:
        return (0.0, 0.0)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def paired(a: list[dict[str, Any]], b: list[dict[str, Any]], z: float = 1.96) -> dict[str, Any]:
    """Two systems' EX on the same questions (records matched by ``id``): the difference
    ``ex(a) - ex(b)`` with a 95% interval for paired proportions, and McNemar's exact two-sided
    p-value on the discordant questions.

    Two systems answer the same questions, so their errors are correlated: the unpaired
    intervals of each EX overlap long after a paired test tells them apart (and vice versa)."""
    right_b = {r["id"]: bool(r["correct"]) for r in b}
    pairs = [(bool(r["correct"]), right_b[r["id"]]) for r in a if r["id"] in right_b]
    n = len(pairs)
    only_a = sum(x and not y for x, y in pairs)
    only_b = sum(y and not x for x, y in pairs)
    both = sum(x and y for x, y in pairs)
    if n == 0:
        return {"n": 0, "both": 0, "only_a": 0, "only_b": 0, "diff": 0.0,
                "ci95": (0.0, 0.0), "p_mcnemar": 1.0}  # fmt: skip
    diff = (only_a - only_b) / n
    half = z * math.sqrt(max(0.0, only_a + only_b - (only_a - only_b) ** 2 / n)) / n
    m = only_a + only_b
    tail = sum(math.comb(m, k) for k in range(min(only_a, only_b) + 1)) / 2**m if m else 1.0
    return {
        "n": n,
        "both": both,
        "only_a": only_a,
        "only_b": only_b,
        "diff": round(diff, 4),
        "ci95": (round(diff - half, 4), round(diff + half, 4)),
        "p_mcnemar": float(f"{min(1.0, 2 * tail):.3g}"),  # 3 significant digits, never 0
    }


def paired_rows(
    by_system: dict[str, list[dict[str, Any]]], pairs: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """:func:`paired` for each pair ``(a, b)`` of systems that both have records."""
    return [{"a": a, "b": b, **paired(by_system[a], by_system[b])}
            for a, b in pairs if a in by_system and b in by_system]  # fmt: skip


def paired_markdown(rows: list[dict[str, Any]]) -> str:
    """:func:`paired_rows` as a Markdown table."""
    head = "| a | b | n | only a | only b | diff | 95% CI | McNemar p |\n" + "|---" * 8 + "|\n"
    return head + "".join(
        f"| {p['a']} | {p['b']} | {p['n']} | {p['only_a']} | {p['only_b']} | "
        f"{p['diff']:+.1%} | {p['ci95'][0]:+.1%}..{p['ci95'][1]:+.1%} | {p['p_mcnemar']} |\n"
        for p in rows
    )


__all__ = ["paired", "paired_markdown", "paired_rows", "percentile", "wilson"]
