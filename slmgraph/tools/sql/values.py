"""Value hints: stored values the question *names*, so a small model writes
``WHERE country = 'USA'`` rather than guessing ``'United States'``.

A value is hinted only when the question contains it whole — as a run of the question's words,
ignoring case and punctuation ("albums by AC/DC" names ``AC/DC``; "the Rock genre" names
``Rock``) — never because a word of the question appears inside a longer value: "How many
artists are there?" does not name ``Various Artists``, "Which genre has the most tracks?" does
not name ``Most High``, and those hints had become ``WHERE`` filters the question never asked
for. Also left out: a value that only repeats a table or column name ("How many customers?"
is about the table ``Customers``, not the value ``'Customers'`` of some column); a value of
stop words or digits alone ("more than 100" compares, it names no postal code); and a value
whose words lie inside a longer value the question also names ("the album Let There Be Rock"
names that title, not the genre ``Rock``).
"""

from __future__ import annotations

import re

from slmgraph.tools.sql.database import Database
from slmgraph.tools.sql.prefilter import _STOP

_TEXT_TYPES = ("CHAR", "TEXT", "CLOB", "VARCHAR", "NVARCHAR", "STRING", "")
#: Longer stored values are prose, not something a question names.
MAX_VALUE_WORDS = 8


def tokens(text: str) -> list[str]:
    """Lower-cased words (letters and digits of any script), punctuation dropped."""
    return re.findall(r"\w+", text.lower())


def _spans(question: list[str], value: list[str]) -> list[tuple[int, int]]:
    n = len(value)
    return [(i, i + n) for i in range(len(question) - n + 1) if question[i : i + n] == value]


def _schema_words(db: Database) -> set[str]:
    """Table and column names as words, singular and plural ("customers", "customer")."""
    names: set[str] = set()
    for table in db.schema().tables.values():
        for name in [table.name, *(c.name for c in table.columns)]:
            for form in (name, re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)):
                joined = " ".join(tokens(form))
                names |= {joined, joined.rstrip("s"), joined + "s", joined + "es"}
    return names


def value_hints(
    db: Database, columns: dict[str, list[str]], question: str, per_column: int = 3
) -> dict[str, dict[str, list[str]]]:
    """``{table: {column: [values the question names]}}`` for text columns of the given tables."""
    words = tokens(question)
    if not words:
        return {}
    schema = db.schema()
    schema_words = _schema_words(db)
    found: list[tuple[str, str, str, tuple[int, int]]] = []  # table, column, value, span
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
            for value in db.distinct_values(table.name, col.name):
                vt = tokens(value)
                if not vt or len(vt) > MAX_VALUE_WORDS or all(t in _STOP for t in vt):
                    continue
                if all(t.isdigit() for t in vt):  # "more than 100" compares, it names no code
                    continue
                if " ".join(vt) in schema_words:
                    continue
                spans = _spans(words, vt)
                if spans:
                    found.append((table.name, col.name, value, max(spans, key=lambda s: s[0])))
    out: dict[str, dict[str, list[str]]] = {}
    for tname, cname, value, (start, end) in found:
        inside = any(s <= start and end <= e and (e - s) > (end - start) for *_, (s, e) in found)
        if inside:
            continue
        hits = out.setdefault(tname, {}).setdefault(cname, [])
        if value not in hits and len(hits) < per_column:
            hits.append(value)
    return {t: cols for t, cols in out.items() if cols}


__all__ = ["MAX_VALUE_WORDS", "tokens", "value_hints"]
