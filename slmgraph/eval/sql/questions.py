"""Question sets of one's own on any SQLite databases: a YAML file of ``{db_name: [{q, gold}]}``
read as evaluation items (``tests/fixtures/first_questions.yaml``: the first questions a new
user asks of the sample databases)."""

from __future__ import annotations

from pathlib import Path

from slmgraph import yamlfile
from slmgraph.errors import SlmgraphError
from slmgraph.eval.sql.spider import Item


def load_questions(path: str | Path, databases: str | Path) -> list[Item]:
    """Items from a question file; ``databases`` holds ``<db_name>.sqlite`` for each name."""
    p = Path(path)
    data = yamlfile.parse_bytes(p.read_bytes(), str(p)).data
    if not isinstance(data, dict):
        raise SlmgraphError(f"{p}: expected a mapping of database name -> list of {{q, gold}}")
    items = []
    for db, questions in data.items():
        db_path = Path(databases) / f"{db}.sqlite"
        if not db_path.is_file():
            raise SlmgraphError(f"{p}: no database {db_path}")
        for i, entry in enumerate(questions or []):
            if not isinstance(entry, dict) or not {"q", "gold"} <= set(entry):
                raise SlmgraphError(f"{p}: {db}[{i}] needs 'q' and 'gold'")
            items.append(Item(f"{db}-{i:02d}", str(db), str(entry["q"]), str(entry["gold"]),
                              "first", db_path))  # fmt: skip
    return items
