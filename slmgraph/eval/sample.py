"""Deterministic samples of an evaluation split, stratified (by hardness, by task type)."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar


class _Item(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_Item)


def stratified_sample(
    items: Sequence[T], n: int | None, seed: int = 0, key: Callable[[T], str] | None = None
) -> list[T]:
    """``n`` items drawn in proportion to each stratum (``key``, default the item's
    ``hardness``; largest remainders), the same for the same seed; the order of the split is
    kept. ``None`` or ``n >= len``: all items. Items need a unique ``id``."""
    stratum: Callable[[Any], str] = key or (lambda it: str(getattr(it, "hardness", "")))
    if n is None or n >= len(items):
        return list(items)
    groups: dict[str, list[T]] = defaultdict(list)
    for it in items:
        groups[stratum(it)].append(it)
    quotas = {h: n * len(g) / len(items) for h, g in groups.items()}
    take = {h: int(q) for h, q in quotas.items()}
    for h in sorted(quotas, key=lambda h: (-(quotas[h] - take[h]), h))[: n - sum(take.values())]:
        take[h] += 1
    rng = random.Random(seed)
    chosen: set[str] = set()
    for h, g in sorted(groups.items()):
        chosen.update(it.id for it in rng.sample(g, take[h]))
    return [it for it in items if it.id in chosen]
