"""Few-shot example retrieval for the SQL writer."""

from __future__ import annotations

import json
from pathlib import Path

from slmgraph.tools.sql.examples import ExampleBank, render


def test_similar_examples(tmp_path: Path) -> None:
    rows = [
        {
            "question": "How many singers are there?",
            "query": "SELECT count(*) FROM singer",
            "db_id": "a",
        },
        {
            "question": "How many heads of departments are older than 56?",
            "query": "SELECT count(*) FROM head WHERE age > 56",
            "db_id": "b",
        },
        {
            "question": "List the name of singers in descending order of age",
            "query": "SELECT name FROM singer ORDER BY age DESC",
            "db_id": "a",
        },
    ]
    path = tmp_path / "train.json"
    path.write_text(json.dumps(rows))
    bank = ExampleBank.from_file(path)
    top = bank.similar("How many students are older than 20?", k=2)
    assert top[0].sql == "SELECT count(*) FROM head WHERE age > 56"
    assert [e.db_id for e in bank.similar("heads of departments", exclude_db="a")] == ["b"]
    assert bank.similar("singers", exclude_db="a") == []
    text = render(top)
    assert text.startswith("Examples from other databases:") and "SQL: SELECT" in text
    assert render([]) == ""


def test_examples_are_shown_in_the_writers_style() -> None:
    """Spider's double-quoted strings become single-quoted (the 0.5B copied them, and the
    grammar reads double quotes as identifiers); padding collapses; `||` stays concatenation."""
    from slmgraph.tools.sql.examples import house_style

    assert house_style('SELECT loc FROM club WHERE name  =  "Tennis Club"') == (
        "SELECT loc FROM club WHERE name = 'Tennis Club'"
    )
    assert house_style("SELECT a || b FROM t") == "SELECT a || b FROM t"
    assert house_style("SELECT  (  FROM") == "SELECT ( FROM"
