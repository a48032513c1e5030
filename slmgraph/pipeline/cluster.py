"""S3 Cluster: group curated calls into task types without trusting node names.

A node is the workload id the log knows, but a node can do several tasks (one prompt agent used
for routing and for extraction) and several nodes can do one task; the replacement SLM is
chosen and trained per *task*. Each call becomes one text — its instruction (system message),
the head and tail of its request (where a question usually sits after a long schema) and the
head of its output (SQL, JSON or prose are different tasks even under similar prompts) — which
is embedded (all-MiniLM-L6-v2 offline, the ``embed`` extra; TF-IDF as fallback) and clustered:
k-means with k chosen by silhouette (default), a fixed k, or HDBSCAN (density-based; may leave
calls unclustered as noise, cluster ``-1``).

The report gives each cluster's size, a label from its most distinctive terms, sample prompts,
and which nodes and tiers produced it; when calls carry node names it also gives the adjusted
Rand index between clusters and nodes (1.0: clusters are exactly the nodes).
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from slmgraph.embeddings import MiniLM, model_dir, tfidf_apply, tfidf_fit, tfidf_vectorizer
from slmgraph.errors import SlmgraphError

Method = Literal["kmeans", "hdbscan"]
Embedder = Literal["minilm", "tfidf", "auto"]


def call_parts(example: dict[str, Any], tail: int = 300, out: int = 200) -> tuple[str, str, str]:
    """What a call is clustered by: its instruction (system message), the tail of its request
    (where the question and what failed sit, after a long schema) and the head of its output."""
    messages = example.get("messages") or []
    system = " ".join(str(m["content"]) for m in messages if m.get("role") == "system")
    users = [str(m["content"]) for m in messages if m.get("role") != "system"]
    request = users[-1] if users else ""
    if len(request) > tail:
        request = "… " + request[-tail:]
    return system[:tail].strip(), request.strip(), str(example.get("output") or "")[:out].strip()


def call_text(example: dict[str, Any]) -> str:
    """The three parts as one text (labels, samples, the TF-IDF of the report)."""
    system, request, output = call_parts(example)
    return f"{system}\n{request}\n=> {output}"


def embed(
    examples: Sequence[dict[str, Any]],
    embedder: Embedder = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Any, str]:
    """``(matrix, embedder used)``: each call's three parts embedded separately and joined, so
    a long schema cannot drown the few words that tell writing a query from fixing one. MiniLM
    vectors (each distinct text once: prompts repeat), or TF-IDF when the ``embed`` extra is
    missing and ``embedder`` is ``auto``."""
    import numpy as np

    parts = [call_parts(e) for e in examples]
    columns = [[p[i] for p in parts] for i in range(3)]
    if embedder in ("minilm", "auto"):
        try:
            model_dir()
        except SlmgraphError:
            if embedder == "minilm":
                raise
        else:
            model = MiniLM(max_length=96)
            unique = sorted({t for col in columns for t in col})
            vectors: dict[str, Any] = {}
            step = 64
            for i in range(0, len(unique), step):
                batch = unique[i : i + step]
                vectors.update(zip(batch, model.encode(batch), strict=True))
                if progress is not None:
                    progress(min(i + step, len(unique)), len(unique))
            blocks = [np.stack([vectors[t] for t in col]) for col in columns]
            return np.hstack(blocks) / np.sqrt(3.0), "minilm"
    fitted = [tfidf_fit(col) for col in columns]
    _LAST_TFIDF[:] = [v for _, v in fitted]
    return np.hstack([m for m, _ in fitted]) / np.sqrt(3.0), "tfidf"


#: The TF-IDF vocabularies of the last :func:`embed` (saved beside the clusters, so later
#: calls are embedded in the same space).
_LAST_TFIDF: list[dict[str, Any] | None] = []


def embed_with(
    examples: Sequence[dict[str, Any]], embedder: str, tfidf_file: Path | None = None
) -> Any:
    """Embed new calls as a finished clustering did (``drift`` assigns them to its clusters)."""
    import numpy as np

    parts = [call_parts(e) for e in examples]
    columns = [[p[i] for p in parts] for i in range(3)]
    if embedder == "minilm":
        return embed(examples, "minilm")[0]
    if tfidf_file is None:
        raise SlmgraphError("TF-IDF clusters need their tfidf.json to embed new calls")
    fitted = json.loads(Path(tfidf_file).read_text())
    blocks = [tfidf_apply(col, f) for col, f in zip(columns, fitted, strict=True)]
    return np.hstack(blocks) / np.sqrt(3.0)


def _labels_kmeans(x: Any, k: int | None, seed: int, k_max: int) -> tuple[Any, dict[int, float]]:
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    n = x.shape[0]
    if k is not None:
        if not 1 <= k <= n:
            raise SlmgraphError(f"--k {k}: needs 1 <= k <= the number of calls ({n})")
        return KMeans(k, n_init=10, random_state=seed).fit_predict(x), {}
    import numpy as np

    scores: dict[int, float] = {}
    best: Any = None
    distinct = len(np.unique(np.round(x, 6), axis=0))  # repeated prompts are one point
    for kk in range(2, min(k_max, n - 1, distinct) + 1):
        labels = KMeans(kk, n_init=10, random_state=seed).fit_predict(x)
        if len(set(labels)) < 2:
            continue
        scores[kk] = float(silhouette_score(x, labels, metric="cosine"))
        if best is None or scores[kk] > scores[best[0]]:
            best = (kk, labels)
    if best is None:  # too few distinct calls to compare k: one cluster
        return np.zeros(n, dtype=int), scores
    return best[1], scores


def _labels_hdbscan(x: Any, min_cluster_size: int | None) -> Any:
    from sklearn.cluster import HDBSCAN

    size = min_cluster_size or max(3, x.shape[0] // 50)
    return HDBSCAN(min_cluster_size=size, metric="euclidean", copy=True).fit_predict(x)


@dataclass
class Cluster:
    id: int
    size: int
    label: str
    terms: list[str]
    nodes: dict[str, int]
    tiers: dict[str, int]
    samples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "size": self.size,
            "label": self.label,
            "terms": self.terms,
            "nodes": self.nodes,
            "tiers": self.tiers,
            "samples": self.samples,
        }


@dataclass
class ClusterReport:
    n: int
    method: str
    embedder: str
    k: int
    clusters: list[Cluster]
    silhouette_by_k: dict[int, float]
    ari_vs_node: float | None
    assignments: list[int]
    centroids: Any = None
    centroid_ids: list[int] = field(default_factory=list)
    floor: float = 0.0
    tfidf: list[dict[str, Any] | None] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "method": self.method,
            "embedder": self.embedder,
            "k": self.k,
            "silhouette_by_k": self.silhouette_by_k,
            "ari_vs_node": self.ari_vs_node,
            "clusters": [c.as_dict() for c in self.clusters],
        }

    def markdown(self) -> str:
        lines = [
            f"{self.n} calls, {self.k} clusters ({self.method} on {self.embedder} embeddings).",
        ]
        if self.ari_vs_node is not None:
            lines.append(
                f"Adjusted Rand index against node names: {self.ari_vs_node:.3f} "
                "(1.0: each cluster is exactly one node's calls)."
            )
        lines += ["", "| cluster | size | label | nodes | tiers |", "|---|---|---|---|---|"]
        for c in self.clusters:
            nodes = ", ".join(f"{k} {v}" for k, v in sorted(c.nodes.items(), key=lambda i: -i[1]))
            tiers = ", ".join(f"{k} {v}" for k, v in sorted(c.tiers.items(), key=lambda i: -i[1]))
            lines.append(f"| {c.id} | {c.size} | {c.label} | {nodes} | {tiers} |")
        for c in self.clusters:
            lines += ["", f"### Cluster {c.id}: {c.label}", ""]
            lines += [f"- `{_one_line(s)}`" for s in c.samples]
        return "\n".join(lines) + "\n"


def _one_line(text: str, width: int = 160) -> str:
    flat = re.sub(r"\s+", " ", text).replace("`", "'")
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _cluster_terms(
    texts: Sequence[str], labels: Sequence[int], top: int = 4
) -> dict[int, list[str]]:
    """The terms that set each cluster apart: its mean TF-IDF minus the mean over all calls."""
    import numpy as np

    vec, m = tfidf_vectorizer(texts)
    names = vec.get_feature_names_out()
    overall = np.asarray(m.mean(axis=0)).ravel()
    out: dict[int, list[str]] = {}
    arr = np.asarray(labels)
    for cid in sorted(set(labels)):
        mean = np.asarray(m[arr == cid].mean(axis=0)).ravel()
        order = np.argsort(-(mean - overall))
        out[cid] = [str(names[i]) for i in order[:top] if mean[i] > 0]
    return out


def cluster(
    examples: Sequence[dict[str, Any]],
    *,
    method: Method = "kmeans",
    k: int | None = None,
    k_max: int = 12,
    embedder: Embedder = "auto",
    min_cluster_size: int | None = None,
    seed: int = 0,
    samples: int = 3,
    progress: Callable[[int, int], None] | None = None,
) -> ClusterReport:
    """Cluster curated calls (dicts with ``messages``, ``output``, ``node``, ``tier``)."""
    try:
        import numpy as np
        from sklearn.metrics import adjusted_rand_score
    except ImportError as exc:
        raise SlmgraphError("clustering needs scikit-learn: pip install -e '.[cluster]'") from exc

    if len(examples) < 2:
        raise SlmgraphError(f"clustering needs at least 2 calls, got {len(examples)}")
    texts = [call_text(e) for e in examples]
    x, used = embed(examples, embedder, progress)
    if method == "kmeans":
        labels, scores = _labels_kmeans(x, k, seed, k_max)
    elif method == "hdbscan":
        labels, scores = _labels_hdbscan(x, min_cluster_size), {}
    else:
        raise SlmgraphError(f"unknown clustering method {method!r}: use kmeans or hdbscan")
    labels = [int(v) for v in labels]
    terms = _cluster_terms(texts, labels)
    nodes = [str(e.get("node")) for e in examples]
    ari = (
        float(adjusted_rand_score(nodes, labels)) if any(e.get("node") for e in examples) else None
    )
    rng = np.random.default_rng(seed)
    clusters = []
    for cid in sorted(set(labels), key=lambda c: (c == -1, -labels.count(c), c)):
        members = [i for i, v in enumerate(labels) if v == cid]
        pick = sorted(rng.choice(members, size=min(samples, len(members)), replace=False))
        user = [_request(examples[i]) for i in pick]
        clusters.append(
            Cluster(
                id=cid,
                size=len(members),
                label="noise" if cid == -1 else " / ".join(terms[cid][:3]) or f"cluster {cid}",
                terms=terms[cid],
                nodes=dict(Counter(nodes[i] for i in members)),
                tiers=dict(Counter(str(examples[i].get("tier")) for i in members)),
                samples=user,
            )
        )
    ids = sorted(c for c in set(labels) if c != -1)
    arr = np.asarray(labels)
    centroids = np.stack([x[arr == c].mean(axis=0) for c in ids]) if ids else np.zeros((0, 1))
    floor = 0.0
    if ids:
        unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)
        cunit = centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-9)
        own = [float(unit[i] @ cunit[ids.index(c)]) for i, c in enumerate(labels) if c != -1]
        floor = min(own) - 0.05  # a little below the loosest member seen
    return ClusterReport(
        n=len(examples),
        method=method,
        embedder=used,
        k=len({v for v in labels if v != -1}),
        clusters=clusters,
        silhouette_by_k=scores,
        ari_vs_node=ari,
        assignments=labels,
        centroids=centroids,
        centroid_ids=ids,
        floor=floor,
        tfidf=list(_LAST_TFIDF) if used == "tfidf" else None,
    )


def _request(example: dict[str, Any]) -> str:
    users = [str(m["content"]) for m in example.get("messages") or [] if m.get("role") != "system"]
    text = users[-1] if users else ""
    return text if len(text) <= 240 else "… " + text[-240:]


def read_examples(path: str | Path) -> list[dict[str, Any]]:
    """Curated examples (``slmgraph curate`` output), one JSON object per line."""
    p = Path(path)
    if not p.exists():
        raise SlmgraphError(f"no examples file at {p} (write one with 'slmgraph curate --out')")
    out = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise SlmgraphError(f"{p}:{n}: not a JSON line ({exc.msg})") from None
    return out


def write(report: ClusterReport, examples: Sequence[dict[str, Any]], out: str | Path) -> Path:
    """Write ``clusters.jsonl`` (each example with its ``cluster``), ``report.json`` and
    ``report.md`` into ``out``."""
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    with (d / "clusters.jsonl").open("w", encoding="utf-8") as f:
        for e, c in zip(examples, report.assignments, strict=True):
            f.write(json.dumps({**e, "cluster": c}, ensure_ascii=False) + "\n")
    (d / "report.json").write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    if report.centroids is not None:
        import numpy as np

        np.savez(
            d / "centroids.npz",
            centroids=report.centroids,
            ids=np.asarray(report.centroid_ids, dtype=np.int64),
            floor=np.asarray(report.floor),
            embedder=np.asarray(report.embedder),
        )
    if report.tfidf is not None:
        (d / "tfidf.json").write_text(json.dumps(report.tfidf) + "\n")
    (d / "report.md").write_text(report.markdown())
    return d


def stderr_progress(done: int, total: int) -> None:
    end = "" if done < total else "\n"
    print(f"\rembedding {done}/{total} distinct texts", end=end, file=sys.stderr)
