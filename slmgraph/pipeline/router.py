"""A router trained on the project's own outcomes, and thresholds calibrated to a stated target.

**Train** (``slmgraph router train``): texts (what the router will see at run time, e.g. the
question) with whether the small model succeeded on them; embeddings (MiniLM offline, TF-IDF as
fallback) and a logistic regression predict P(slm succeeds). Saved as one JSON file (weights,
the embedder, TF-IDF vocabulary if used) that the ``classifier`` router loads.

**Calibrate** (``slmgraph router calibrate``): held-out records, each with a score (P(slm
succeeds) from the router, or a cascade's confidence), whether the small and the large model got
it right, and what each cost. For every threshold t, questions scoring below t go to the large
model: quality, cost per question, escalation rate. A cascade pays for the small model's try
on an escalated question too (``mode="cascade"``); a router decides first and pays one model
(``mode="router"``). The choice: for ``quality>=…`` (e.g. ``quality>=llm-0.01``, within a
point of LLM-only) the cheapest threshold that meets it; for ``escalations<=0.25`` or
``cost<=0.4*llm``, the best quality within the bound — so a threshold means something on *your*
traffic. Calibrate on records the scorer was not fitted on.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from slmgraph.errors import SlmgraphError
from slmgraph.telemetry.calllog import is_shadow


@dataclass
class RouterModel:
    embedder: str
    coef: list[float]
    intercept: float
    threshold: float
    tfidf: dict[str, Any] | None = None
    trained_on: int = 0
    positive_rate: float = 0.0

    def _features(self, texts: Sequence[str]) -> Any:
        import numpy as np

        if self.embedder == "minilm":
            from slmgraph.embeddings import minilm

            return minilm().encode(list(texts))
        from slmgraph.pipeline.cluster import _tfidf_apply

        x = _tfidf_apply(texts, self.tfidf)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)

    def p_slm(self, texts: Sequence[str]) -> list[float]:
        """P(the small model succeeds) for each text."""
        import numpy as np

        z = self._features(texts) @ np.asarray(self.coef) + self.intercept
        return [float(v) for v in 1 / (1 + np.exp(-z))]

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_text(json.dumps(asdict(self)) + "\n")
        return p

    @classmethod
    def load(cls, path: str | Path) -> RouterModel:
        p = Path(path)
        if not p.exists():
            raise SlmgraphError(f"no router model at {p} (train one with 'slmgraph router train')")
        try:
            return cls(**json.loads(p.read_text()))
        except (json.JSONDecodeError, TypeError) as exc:
            raise SlmgraphError(f"{p} is not a router model: {exc}") from None


def train(
    texts: Sequence[str], success: Sequence[bool], *, embedder: str = "auto", c: float = 1.0
) -> RouterModel:
    """Fit P(slm succeeds | text). ``embedder``: minilm, tfidf, or auto (MiniLM if installed)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    if len(texts) != len(success) or len(texts) < 4:
        raise SlmgraphError(f"router training needs >= 4 labelled texts, got {len(texts)}")
    if len(set(success)) < 2:
        raise SlmgraphError("router training needs both successes and failures of the slm")
    tfidf = None
    if embedder in ("auto", "minilm"):
        try:
            from slmgraph.embeddings import minilm, model_dir

            model_dir()
            x = minilm().encode(list(texts))
            embedder = "minilm"
        except SlmgraphError:
            if embedder == "minilm":
                raise
            embedder = "tfidf"
    if embedder == "tfidf":
        from slmgraph.pipeline.cluster import _tfidf_part

        x, tfidf = _tfidf_part(texts)
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)
    clf = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
    clf.fit(x, np.asarray(success, dtype=int))
    return RouterModel(
        embedder=embedder,
        coef=[float(v) for v in clf.coef_[0]],
        intercept=float(clf.intercept_[0]),
        threshold=0.5,
        tfidf=tfidf,
        trained_on=len(texts),
        positive_rate=float(np.mean(success)),
    )


def labelled_from_log(rows: Sequence[dict[str, Any]], node: str) -> tuple[list[str], list[bool]]:
    """Texts (the node's last user message) and outcomes (the user's feedback on the call's
    run: > 0 a success, < 0 a failure; unrated calls are left out) from call-log rows. One
    example per model call as the node made it: the first attempt of each call group, neither a
    shadow call nor a fallback's retry (those carry the same rating but not the same model)."""
    texts, labels = [], []
    seen: set[str] = set()
    for r in rows:
        if r.get("node") != node or r.get("feedback") is None or float(r["feedback"]) == 0:
            continue
        if is_shadow(r):
            continue
        group = str(r.get("call_group") or r.get("call_id"))
        if group in seen or int(r.get("attempt") or 1) != 1:
            continue
        seen.add(group)
        messages = json.loads(r["messages"]) if isinstance(r["messages"], str) else r["messages"]
        users = [m["content"] for m in messages if m.get("role") != "system"]
        if users:
            texts.append(str(users[-1]))
            labels.append(float(r["feedback"]) > 0)
    return texts, labels


def read_labelled(path: str | Path) -> tuple[list[str], list[bool]]:
    """JSONL with ``text`` and ``success`` (e.g. a question and whether the slm got it right)."""
    p = Path(path)
    if not p.exists():
        raise SlmgraphError(f"no training file at {p}")
    texts, labels = [], []
    for i, line in enumerate(p.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            texts.append(str(d["text"]))
            labels.append(bool(d["success"]))
        except (json.JSONDecodeError, KeyError) as exc:
            raise SlmgraphError(f"{p}:{i}: a line needs 'text' and 'success': {exc}") from None
    return texts, labels


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
