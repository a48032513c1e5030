"""What a text-to-SQL system answers (:class:`Prediction`), and the fingerprint that names
what it would answer, so benchmark runs keep each version's answers apart."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from slmgraph.eval.sql.spider import Item
from slmgraph.eval.tiers import code_fingerprint


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
    config = getattr(system, "config", None)
    return code_fingerprint(
        system.name,
        config() if callable(config) else config,
        getattr(system, "decisive", _DECISIVE),
    )
