"""Few-shot examples for SQL writers: the questions of a bank (e.g. Spider *train*) most similar
to the question at hand (BM25 over question words), with their SQL.

The bank is a JSON list of objects with ``question`` and ``query`` (Spider's train.json works
as is). Never point it at the questions you evaluate on.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import sqlglot
import sqlglot.errors

from slmgraph.tools.sql.prefilter import BM25, words


@dataclass(frozen=True)
class Example:
    question: str
    sql: str
    db_id: str | None = None


class ExampleBank:
    def __init__(self, examples: list[Example]) -> None:
        self.examples = examples
        self.index = BM25({str(i): words(e.question) for i, e in enumerate(examples)})

    @classmethod
    def from_file(cls, path: str | Path) -> ExampleBank:
        rows = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls([Example(r["question"], r["query"], r.get("db_id")) for r in rows])

    def similar(self, question: str, k: int = 3, *, exclude_db: str | None = None) -> list[Example]:
        scores = self.index.scores(words(question))
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], int(kv[0])))
        out: list[Example] = []
        seen: set[str] = set()
        for key, score in ranked:
            ex = self.examples[int(key)]
            if score <= 0 or ex.sql in seen or (exclude_db and ex.db_id == exclude_db):
                continue
            seen.add(ex.sql)
            out.append(ex)
            if len(out) == k:
                break
        return out


_BANKS: dict[str, ExampleBank] = {}
_LOCK = threading.Lock()


def bank(path: str | Path) -> ExampleBank:
    """The example bank of a file, loaded once per process."""
    key = str(Path(path).resolve())
    with _LOCK:
        if key not in _BANKS:
            _BANKS[key] = ExampleBank.from_file(key)
        return _BANKS[key]


def house_style(sql: str) -> str:
    """An example's SQL as the writer is to write it: Spider's gold queries quote strings with
    double quotes (``WHERE name = "Tennis Club"``) and pad operators (``a  =  b``); shown as
    they are, the 0.5B copied the double quotes, which the grammar reads as identifiers
    (``= "Club"."ClubName"``). MySQL's reading takes ``"…"`` as a string, which is what
    these queries mean (but ``||`` is OR there, so a query with it is kept as it is); a query
    that does not parse is shown as it is, spaces collapsed."""
    if "||" in sql:
        return " ".join(sql.split())
    try:
        return sqlglot.transpile(sql, read="mysql", write="sqlite")[0]
    except (sqlglot.errors.SqlglotError, IndexError):
        return " ".join(sql.split())


def render(examples: list[Example]) -> str:
    if not examples:
        return ""
    parts = [f"Question: {e.question}\nSQL: {house_style(e.sql)}" for e in examples]
    return "Examples from other databases:\n\n" + "\n\n".join(parts) + "\n\n"
