"""Lexical (BM25) prefilter: narrow hundreds of tables to the few a small model should see.

Each table is a document of its name, its column names (split on ``_`` and camelCase) and a few
sample values; the question is the query. Pure Python, no index to build ahead of time.

:class:`DenseIndex` adds a sentence-embedding ranking (MiniLM, offline, numpy); :func:`fuse`
combines rankings by reciprocal rank (the hybrid the table-linking benchmark measures).
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from typing import Any

from slmgraph.embeddings import minilm
from slmgraph.tools.sql.schema import Schema, Table

_STOP = frozenset(
    (
        "a an the of in on at to for from by with and or not is are was were be been what which "
        "who whom whose how many much list show give find return all each every that this these "
        "those there their its it do does did have has had than then as per please me us"
    ).split()
)


def words(text: str) -> list[str]:
    """Lower-case word stems: split camelCase and snake_case, drop stop words, naive plural."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    out = []
    for w in re.findall(r"[A-Za-z0-9]+", text.lower()):
        if w in _STOP:
            continue
        if len(w) > 3 and w.endswith("ies"):
            w = w[:-3] + "y"
        elif len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]
        out.append(w)
    return out


def table_document(table: Table) -> list[str]:
    doc = words(table.name) * 3  # the table's own name weighs more
    for c in table.columns:
        doc += words(c.name)
        for s in c.samples[:2]:
            doc += words(s)[:4]
    return doc


class BM25:
    def __init__(self, docs: dict[str, list[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.docs = {k: Counter(v) for k, v in docs.items()}
        self.lengths = {k: len(v) for k, v in docs.items()}
        self.avg = (sum(self.lengths.values()) / len(docs)) if docs else 0.0
        df: Counter[str] = Counter()
        for tf in self.docs.values():
            df.update(tf.keys())
        n = len(docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self.k1, self.b = k1, b

    def scores(self, query: list[str]) -> dict[str, float]:
        out = {}
        for key, tf in self.docs.items():
            s = 0.0
            norm = self.k1 * (1 - self.b + self.b * self.lengths[key] / (self.avg or 1))
            for t in query:
                f = tf.get(t, 0)
                if f:
                    s += self.idf.get(t, 0.0) * f * (self.k1 + 1) / (f + norm)
            out[key] = s
        return out


def rank_tables(schema: Schema, question: str) -> list[tuple[str, float]]:
    """All tables, best first, with their BM25 scores for the question."""
    index = BM25({name: table_document(t) for name, t in schema.tables.items()})
    scores = index.scores(words(question))
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def prefilter(schema: Schema, question: str, k: int, method: str = "bm25") -> list[str]:
    """The ``k`` best tables for the question, plus tables one foreign key away from the top
    ones while room remains (a join often needs a table the question does not name).

    ``method``: ``bm25`` (lexical, pure Python) or ``hybrid`` (BM25 fused with MiniLM sentence
    embeddings; needs the ``embed`` extra; the tables are embedded once per schema)."""
    ranked = [name for name, _ in rank_tables(schema, question)]
    if method == "hybrid":
        ranked = fuse(ranked, dense_index(schema).rank(question))
    elif method != "bm25":
        raise ValueError(f"unknown prefilter method {method!r} (bm25 or hybrid)")
    return expand(schema, ranked, k)


_DENSE: dict[int, tuple[Schema, DenseIndex]] = {}
_DENSE_LOCK = threading.Lock()


def dense_index(schema: Schema) -> DenseIndex:
    """The embedding index of a schema, built on first use and kept for the process."""
    with _DENSE_LOCK:
        hit = _DENSE.get(id(schema))
        if hit is None or hit[0] is not schema:
            hit = (schema, DenseIndex(schema))
            _DENSE[id(schema)] = hit
        return hit[1]


def table_text(table: Table) -> str:
    """A table as a sentence for a sentence-embedding model: its name and column names, split
    into words ("singer in concert: concert id, singer id")."""
    cols = ", ".join(" ".join(words(c.name)) or c.name for c in table.columns)
    return f"{' '.join(words(table.name)) or table.name}: {cols}"


class DenseIndex:
    """Tables embedded once (all-MiniLM-L6-v2, the ``embed`` extra); ranks by cosine."""

    def __init__(self, schema: Schema, model: Any = None) -> None:
        self.model = model or minilm()
        self.names = list(schema.tables)
        self.vectors = self.model.encode([table_text(schema.tables[n]) for n in self.names])

    def rank(self, question: str) -> list[str]:
        q = self.model.encode([question])[0]
        sims = self.vectors @ q
        order = sorted(range(len(self.names)), key=lambda i: (-float(sims[i]), self.names[i]))
        return [self.names[i] for i in order]


def fuse(*rankings: list[str], k: int = 60) -> list[str]:
    """Reciprocal-rank fusion: score 1/(k + rank) summed over the rankings."""
    score: dict[str, float] = {}
    for ranking in rankings:
        for rank, name in enumerate(ranking):
            score[name] = score.get(name, 0.0) + 1.0 / (k + rank + 1)
    return sorted(score, key=lambda n: (-score[n], n))


def expand(schema: Schema, ranked: list[str], k: int) -> list[str]:
    """The ``k`` best tables plus foreign-key neighbours of the top half, up to 1.5 k."""
    chosen = ranked[:k]
    if len(chosen) < len(ranked):
        for name in list(chosen[: max(1, k // 2)]):
            for nb in sorted(schema.neighbours(name)):
                if nb not in chosen and len(chosen) < k + k // 2:
                    chosen.append(nb)
    return chosen
