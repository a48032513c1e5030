"""Lexical (BM25) prefilter: narrow hundreds of tables to the few a small model should see.

Each table is a document of its name, its column names (split on ``_`` and camelCase) and a few
sample values; the question is the query. Pure Python, no index to build ahead of time.
"""

from __future__ import annotations

import math
import re
from collections import Counter

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


def prefilter(schema: Schema, question: str, k: int) -> list[str]:
    """The ``k`` best tables for the question, plus tables one foreign key away from the top
    ones while room remains (a join often needs a table the question does not name)."""
    ranked = [name for name, _ in rank_tables(schema, question)]
    chosen = ranked[:k]
    if len(chosen) < len(ranked):
        for name in list(chosen[: max(1, k // 2)]):
            for nb in sorted(schema.neighbours(name)):
                if nb not in chosen and len(chosen) < k + k // 2:
                    chosen.append(nb)
    return chosen
