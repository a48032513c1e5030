"""Spider-layout splits: ``<split>.json`` (id, db_id, question, query, optional hardness),
``database/<db>/<db>.sqlite``; a deterministic sample stratified by hardness."""

from __future__ import annotations

import json
import random
from collections import defaultdict
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
    db_path: Path


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


def stratified_sample(items: list[Item], n: int | None, seed: int = 0) -> list[Item]:
    """``n`` items drawn in proportion to each hardness level (largest remainders), the same
    for the same seed; the order of the split is kept. ``None`` or ``n >= len``: all items."""
    if n is None or n >= len(items):
        return list(items)
    groups: dict[str, list[Item]] = defaultdict(list)
    for it in items:
        groups[it.hardness].append(it)
    quotas = {h: n * len(g) / len(items) for h, g in groups.items()}
    take = {h: int(q) for h, q in quotas.items()}
    for h in sorted(quotas, key=lambda h: (-(quotas[h] - take[h]), h))[: n - sum(take.values())]:
        take[h] += 1
    rng = random.Random(seed)
    chosen: set[str] = set()
    for h, g in sorted(groups.items()):
        chosen.update(it.id for it in rng.sample(g, take[h]))
    return [it for it in items if it.id in chosen]
