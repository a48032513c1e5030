"""Spider-layout splits: ``<split>.json`` (id, db_id, question, query, optional hardness),
``database/<db>/<db>.sqlite``; samples stratified by hardness come from
:func:`slmgraph.eval.sample.stratified_sample`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from slmgraph.errors import SlmgraphError


@dataclass(frozen=True)
class Item:
    id: str
    db_id: str
    question: str
    gold: str
    hardness: str
    #: The database the system answers on: a SQLite file, or a URL of another engine.
    db_path: Path | str
    #: Where the gold query runs, when not on ``db_path`` (the same data on SQLite: an engine's
    #: answer is judged against the reference engine's result).
    gold_db: Path | str | None = None


def load_split(data_dir: str | Path, split: str = "dev") -> list[Item]:
    root = Path(data_dir)
    path = root / f"{split}.json"
    if not path.exists():
        raise SlmgraphError(
            f"no {split}.json in {root} (expected the layout of Spider: "
            f"{split}.json, tables.json, database/<db>/<db>.sqlite)"
        )
    items = []
    for i, row in enumerate(json.loads(path.read_text())):
        db = root / "database" / row["db_id"] / f"{row['db_id']}.sqlite"
        items.append(
            Item(
                str(row.get("id", f"{split}-{i:05d}")),
                row["db_id"],
                row["question"],
                row["query"],
                row.get("hardness", "unknown"),
                db,
            )
        )
    return items
