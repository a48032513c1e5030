"""Routing strategies on Spider, calibrated on *train* logs, measured on the public dev sample.

    .venv/bin/python benchmarks/routing.py            # after benchmarks/conversion.py

Inputs are answers the conversion benchmark already produced with the same query-writer (grammar
on, no escalation) on two models — the slm (0.5B, ``student-before``) and the llm (1.5B,
``teacher``) — on train questions (``slm-train``, ``teach``) and on the dev sample (``eval``).
Each answer carries its trace: per call the tier, tokens, latency, cost and mean token logprob.

Strategies, each a point (EX, $/question, share of model calls on the slm, p50 seconds):

- ``slm_only``, ``llm_only``;
- ``cascade``: run the slm; escalate to the llm when the confidence score is below a
  threshold. The score is a logistic regression, fitted on *train*, over what the query-writer
  knows at that moment: the writer's mean token logprob, the lowest logprob of its calls,
  whether its SQL executed, how many model calls it took. Several thresholds, plus the one
  ``calibrate`` chooses on train for "EX within 1 point of LLM-only";
- ``router``: before any model runs, a classifier on the question (MiniLM + logistic
  regression, trained on which train questions the slm got right) sends it to one model;
- ``parallel``: both models answer every question concurrently; the slm's answer stands when the
  two return the same rows, the llm's otherwise.

A cascade answer here is the slm system's answer or, escalated, the llm system's answer to the
same question (greedy decoding: the same answer the llm gives alone); its cost and latency are
the slm run's plus, when escalated, the llm run's. Router and parallel alike. Parallel's latency
is the slower side's (two processes on separate cores would give that; on this 2-core machine
they share cores — the note says so).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
WORK = HERE / "runs" / "conversion"
DATA = HERE.parent.parent / "shared" / "data" / "spider"


def load(path: Path) -> dict[str, dict[str, Any]]:
    f = path / "predictions.jsonl"
    if not f.exists():
        sys.exit(f"no {f}: run benchmarks/conversion.py (stages teach, slm-train, eval) first")
    return {r["id"]: r for r in map(json.loads, f.read_text().splitlines()) if r}


def _prices() -> dict[str, tuple[float, float]]:
    """$ per 1M input/output tokens by model, from the default tiers (slm: the 0.5B, llm: the
    1.5B). Costs are recomputed from tokens: the conversion benchmark runs either model on a
    tier named ``slm``, whose logged price is the slm's."""
    from slmgraph.spec import default_tiers

    out = {}
    for tier in default_tiers().values():
        p = tier.get("price") or {}
        out[str(tier["model"])] = (
            float(p.get("input_per_1m", 0)),
            float(p.get("output_per_1m", 0)),
        )
    return out


PRICES = _prices()


def cost(rec: dict[str, Any]) -> float:
    total = 0.0
    for t in rec.get("trace") or []:
        p_in, p_out = PRICES.get(str(t.get("model")), (0.0, 0.0))
        total += ((t.get("tokens_in") or 0) * p_in + (t.get("tokens_out") or 0) * p_out) / 1e6
    return total


def latency(rec: dict[str, Any]) -> float:
    return float(rec.get("seconds") or 0.0)


def features(rec: dict[str, Any]) -> list[float]:
    calls = [t for t in rec.get("trace") or [] if t.get("model")]
    lps = [float(t["mean_logprob"]) for t in calls if t.get("mean_logprob") is not None]
    first = lps[0] if lps else -5.0
    return [
        first,
        min(lps) if lps else -5.0,
        1.0 if rec.get("valid") else 0.0,
        float(len(calls)),
    ]


def fit_scorer(x: Any, y: Any) -> tuple[Any, list[float]]:
    """A logistic regression fitted on all of train (to score dev), and out-of-fold train
    scores (5-fold) to calibrate on: a threshold chosen on the scores a model gives its own
    training data would be optimistic."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    clf = LogisticRegression(max_iter=2000, class_weight="balanced")
    oof = cross_val_predict(clf, x, y, cv=5, method="predict_proba")[:, 1]
    clf.fit(x, y)
    return clf, [float(v) for v in np.asarray(oof)]


def point(name: str, threshold: float | None, rows: list[tuple[bool, float, int, int, float]]):  # type: ignore[no-untyped-def]
    n = len(rows)
    slm_calls = sum(r[2] for r in rows)
    all_calls = sum(r[2] + r[3] for r in rows)
    return {
        "strategy": name,
        "threshold": threshold,
        "ex": round(sum(r[0] for r in rows) / n, 4),
        "cost_per_question": sum(r[1] for r in rows) / n,
        "slm_call_share": round(slm_calls / all_calls, 4) if all_calls else 0.0,
        "p50_s": round(statistics.median(r[4] for r in rows), 3),
    }


def n_calls(rec: dict[str, Any]) -> int:
    return sum(1 for t in rec.get("trace") or [] if t.get("model"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-eval", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    ev = WORK / "eval" / f"n{args.n_eval}-seed{args.seed}"
    train_slm, train_llm = load(WORK / "slm-train"), load(WORK / "teach")
    dev_slm, dev_llm = load(ev / "student-before"), load(ev / "teacher")
    common_train = sorted(set(train_slm) & set(train_llm))
    dev = sorted(set(dev_slm) & set(dev_llm))
    if len(common_train) < 20 or not dev:
        sys.exit(f"too few answers: {len(common_train)} train, {len(dev)} dev")

    import numpy as np

    from slmgraph.routing.calibrate import Record, calibrate

    y_train = np.array([bool(train_slm[i]["correct"]) for i in common_train])
    conf_clf, conf_oof = fit_scorer(
        np.array([features(train_slm[i]) for i in common_train]), y_train
    )

    def score(rec: dict[str, Any]) -> float:
        return float(conf_clf.predict_proba(np.array([features(rec)]))[0, 1])

    def records(scores: list[float]) -> list[Record]:
        return [
            Record(s, bool(train_slm[i]["correct"]), bool(train_llm[i]["correct"]),
                   cost(train_slm[i]), cost(train_llm[i]))
            for s, i in zip(scores, common_train, strict=True)
        ]  # fmt: skip

    # calibrate on train (out-of-fold scores): the threshold for "EX within 1 point of llm-only"
    cal = calibrate(records(conf_oof), "quality>=llm-0.01", "cascade")
    chosen_t = cal["chosen"]["threshold"] if cal["chosen"] else None

    def cascade_rows(t: float) -> list[tuple[bool, float, int, int, float]]:
        rows = []
        for i in dev:
            s, l_ = dev_slm[i], dev_llm[i]
            up = score(s) < t
            rows.append(
                (
                    bool(l_["correct"] if up else s["correct"]),
                    cost(s) + (cost(l_) if up else 0.0),
                    n_calls(s),
                    n_calls(l_) if up else 0,
                    latency(s) + (latency(l_) if up else 0.0),
                )
            )
        return rows

    points = [
        point("slm_only", None, [(bool(dev_slm[i]["correct"]), cost(dev_slm[i]),
                                  n_calls(dev_slm[i]), 0, latency(dev_slm[i])) for i in dev]),
        point("llm_only", None, [(bool(dev_llm[i]["correct"]), cost(dev_llm[i]), 0,
                                  n_calls(dev_llm[i]), latency(dev_llm[i])) for i in dev]),
    ]  # fmt: skip
    train_scores = sorted(conf_oof)
    grid = sorted({train_scores[int(q * (len(train_scores) - 1))] for q in
                   (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)})  # fmt: skip
    for t in [*grid, *([chosen_t] if chosen_t is not None else [])]:
        name = "cascade (calibrated on train)" if t == chosen_t else "cascade"
        points.append(point(name, round(t, 4), cascade_rows(t)))

    # router on the question text (MiniLM + logistic regression), trained on train outcomes
    from slmgraph.embeddings import minilm

    emb = minilm()
    router_clf, router_oof = fit_scorer(
        emb.encode([train_slm[i]["question"] for i in common_train]), y_train
    )
    dev_p = router_clf.predict_proba(emb.encode([dev_slm[i]["question"] for i in dev]))[:, 1]
    p_dev = {i: float(p) for i, p in zip(dev, dev_p, strict=True)}
    rcal = calibrate(records(router_oof), "quality>=llm-0.01", "router")
    rchosen = rcal["chosen"]
    for t in sorted({0.3, 0.5, 0.7, *([rchosen["threshold"]] if rchosen else [])}):
        rows = []
        for i in dev:
            s, l_ = dev_slm[i], dev_llm[i]
            to_slm = p_dev[i] >= t
            r = s if to_slm else l_
            rows.append((bool(r["correct"]), cost(r), n_calls(s) if to_slm else 0,
                         0 if to_slm else n_calls(l_), latency(r)))  # fmt: skip
        points.append(point("router", round(t, 4), rows))

    # parallel verification: both answer; same rows -> the slm's answer, else the llm's
    from slmgraph.tools.sql.match import execution_match

    rows = []
    for i in dev:
        s, l_ = dev_slm[i], dev_llm[i]
        db = DATA / "database" / s["db_id"] / f"{s['db_id']}.sqlite"
        same = bool(s.get("sql") and l_.get("sql")) and execution_match(db, l_["sql"], s["sql"])[0]
        rows.append((bool(s["correct"] if same else l_["correct"]), cost(s) + cost(l_),
                     n_calls(s), n_calls(l_), max(latency(s), latency(l_))))  # fmt: skip
    points.append(point("parallel", None, rows))

    llm, slm = points[1], points[0]
    met = [
        p for p in points[2:]
        if p["ex"] >= llm["ex"] and p["cost_per_question"] <= 0.4 * llm["cost_per_question"]
        and p["slm_call_share"] >= 0.7
    ]  # fmt: skip
    met_by = [f"{p['strategy']}@{p['threshold']}" for p in met]
    result: dict[str, Any] = {
        "machine": f"{platform.node()} ({platform.machine()})",
        "date": dt.date.today().isoformat(),
        "n_train": len(common_train),
        "n_eval": len(dev),
        "llm_only": {k: llm[k] for k in ("ex", "cost_per_question", "p50_s")},
        "slm_only": {k: slm[k] for k in ("ex", "cost_per_question", "p50_s")},
        "calibrated_threshold": chosen_t,
        "points": points,
        "target_met_by": met_by,
    }
    res = HERE / "results"
    (res / "routing-latest.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(points, res / "routing-latest.png")
    md = [
        f"# Routing on Spider ({result['date']})",
        "",
        f"Calibrated and trained on {len(common_train)} train questions; measured on "
        f"{len(dev)} stratified dev questions. slm: query-writer on Qwen2.5-Coder 0.5B; llm: the "
        "same on 1.5B (grammar on, no escalation inside the query-writer).",
        "",
        "| strategy | threshold | EX | $/question | slm call share | p50 s |",
        "|---|---|---|---|---|---|",
        *[
            f"| {p['strategy']} | {p['threshold']} | {p['ex']:.1%} | {p['cost_per_question']:.2e} "
            f"| {p['slm_call_share']:.0%} | {p['p50_s']} |"
            for p in points
        ],
        "",
        "Target (EX >= llm-only, cost <= 40% of llm-only, >= 70% of calls on the slm): "
        + (", ".join(met_by) or "not met by any point"),
        "",
    ]
    notes = HERE / "routing-notes.md"  # the hand-written analysis, kept beside the numbers
    if notes.exists():
        md += ["", notes.read_text()]
    (res / f"routing-{result['date']}.md").write_text("\n".join(md))
    print("\n".join(md))


def plot(points: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, marker in (("cascade", "o-"), ("router", "^-")):
        pts = sorted(
            (p for p in points if p["strategy"] == name), key=lambda p: p["cost_per_question"]
        )
        ax.plot([p["cost_per_question"] for p in pts], [p["ex"] for p in pts], marker, label=name)
    for p in points:
        if p["strategy"] in ("slm_only", "llm_only", "parallel", "cascade (calibrated on train)"):
            ax.plot([p["cost_per_question"]], [p["ex"]], "s", label=p["strategy"])
    ax.set_xlabel("$ per question (catalog prices)")
    ax.set_ylabel("execution accuracy")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
