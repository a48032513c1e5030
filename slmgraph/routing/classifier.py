"""A router trained on the project's own outcomes (``slmgraph router train``).

Texts (what the router will see at run time, e.g. the question) with whether the small model
succeeded on them; embeddings (MiniLM offline, TF-IDF as fallback) and a logistic regression
predict P(slm succeeds). Saved as one JSON file (weights, the embedder, TF-IDF vocabulary if
used) that the ``classifier`` edge router (:mod:`slmgraph.routing.edges`) loads. Thresholds are
chosen by :mod:`slmgraph.routing.calibrate`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from slmgraph.embeddings import minilm, model_dir, tfidf_apply, tfidf_fit
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
            return minilm().encode(list(texts))
        x = tfidf_apply(texts, self.tfidf)
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
            data = json.loads(p.read_text(encoding="utf-8"))
            model = cls(**data)
            model.coef = [float(c) for c in model.coef]
            model.intercept, model.threshold = float(model.intercept), float(model.threshold)
        except (OSError, UnicodeDecodeError, ValueError, TypeError) as exc:
            raise SlmgraphError(f"{p} is not a router model: {exc}") from None
        return model


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
            model_dir()
            x = minilm().encode(list(texts))
            embedder = "minilm"
        except SlmgraphError:
            if embedder == "minilm":
                raise
            embedder = "tfidf"
    if embedder == "tfidf":
        x, tfidf = tfidf_fit(texts)
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
