"""What a text-to-SQL system answers (:class:`Prediction`), and the fingerprint that names
what it would answer, so benchmark runs keep each version's answers apart."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from slmgraph import yamlfile
from slmgraph.errors import SlmgraphError
from slmgraph.eval.sql.spider import Item
from slmgraph.loader import TIERS_ENV
from slmgraph.spec import default_tiers


@dataclass
class Prediction:
    sql: str | None
    error: str | None = None
    escalated: bool = False
    trace: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


class System(Protocol):
    name: str

    def predict(self, item: Item) -> Prediction: ...


_PACKAGE = Path(__file__).resolve().parents[2]
# The code that decides what a system answers: a change here makes earlier predictions stale.
# Each system may name a narrower list (``decisive``), so that, say, a change of the
# query-writer's prompts does not throw away the zero-shot baselines' answers.
MODEL_CODE = (
    "models/base.py",
    "models/llamacpp.py",
    "models/settings.py",
    "models/catalog.py",
    "tiers.py",
    "constraints",
)
_DECISIVE: tuple[str, ...] = (
    *MODEL_CODE,
    "agents",
    "tools/sql",
    "prompts",
    "graphs",
    "routing",
    "registry.py",
    "context.py",
    "spec.py",
)


def fingerprint(system: System) -> str:
    """12 hex digits naming what ``system`` would answer: its configuration (the spec for the
    query-writer) and the source of the code that decides its answers. Benchmarks keep each
    system's predictions under ``<name>-<fingerprint>`` so that runs of any sample size reuse
    them, and a change of prompt, spec or decoding starts afresh."""
    h = hashlib.sha256(system.name.encode())
    config = getattr(system, "config", None)
    h.update(repr(config() if callable(config) else config).encode())
    for part in getattr(system, "decisive", _DECISIVE):
        root = _PACKAGE / part
        files = sorted(root.rglob("*")) if root.is_dir() else [root]
        for f in files:
            if f.is_file() and f.suffix in (".py", ".yaml"):
                h.update(f.relative_to(_PACKAGE).as_posix().encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:12]


def bench_tiers(n_threads: int | None) -> dict[str, Any]:
    """The benchmark's tiers: the default ones with a 4k context (and a thread count);
    ``$SLMGRAPH_TIERS`` wins."""
    if os.environ.get(TIERS_ENV):
        path = Path(os.environ[TIERS_ENV])
        data = yamlfile.parse_bytes(path.read_bytes(), str(path)).data
        if not isinstance(data, dict):
            raise SlmgraphError(f"${TIERS_ENV} ({path}) is not a YAML mapping of tiers")
        return dict(data.get("tiers", data))
    tiers = default_tiers()
    for t in tiers.values():
        t["settings"] = {"n_ctx": 4096, **({"n_threads": n_threads} if n_threads else {})}
    return tiers
