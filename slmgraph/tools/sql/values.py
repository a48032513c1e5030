"""Value hints: distinct values of text columns that match words of the question, so a small
model writes ``WHERE country = 'USA'`` rather than guessing ``'United States'``."""

from __future__ import annotations

import re

from slmgraph.tools.sql.database import Database
from slmgraph.tools.sql.prefilter import _STOP, words

_TEXT_TYPES = ("CHAR", "TEXT", "CLOB", "VARCHAR", "NVARCHAR", "STRING", "")


def question_terms(question: str) -> list[str]:
    """Words and quoted phrases of the question worth looking up (3+ characters)."""
    quoted = re.findall(r"['\"]([^'\"]{2,60})['\"]", question)
    raw = [w.rstrip(".'") for w in re.findall(r"[A-Za-z0-9][A-Za-z0-9\-\./&']*", question)]
    stems = set(words(question))
    terms = quoted + [
        w
        for w in raw
        if len(w) >= 3
        and w.lower() not in _STOP
        and (w[0].isupper() or w.lower() in stems or w.lower().rstrip("s") in stems)
    ]
    return list(dict.fromkeys(t.strip("'\" .") for t in terms if t.strip()))


def value_hints(
    db: Database, columns: dict[str, list[str]], question: str, per_column: int = 3
) -> dict[str, dict[str, list[str]]]:
    """``{table: {column: [matching values]}}`` for text columns of the given tables."""
    terms = [t.lower() for t in question_terms(question)]
    if not terms:
        return {}
    schema = db.schema()
    out: dict[str, dict[str, list[str]]] = {}
    for tname, cols in columns.items():
        table = schema.table(tname)
        if table is None:
            continue
        for cname in cols:
            col = table.column(cname)
            if col is None or col.primary_key:
                continue
            if not any(t in col.type for t in _TEXT_TYPES if t) and col.type:
                continue
            values = db.distinct_values(table.name, col.name)
            exact = [v for v in values if v.lower() in terms]
            partial = [
                v
                for v in values
                if v not in exact
                and any(re.search(rf"\b{re.escape(t)}\b", v.lower()) for t in terms if len(t) >= 4)
            ]
            hits = (exact + sorted(partial, key=len))[:per_column]
            if hits:
                out.setdefault(table.name, {})[col.name] = hits
    return out
