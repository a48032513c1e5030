"""Fallback is a wrapper, not if/else in nodes: try a tier (with its retries), and on a
retryable error (timeout, connection, server, invalid output) move to the next tier."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from slmgraph.constraints.base import Constraint
from slmgraph.errors import AllTiersFailed, ModelError
from slmgraph.models.base import Message

if TYPE_CHECKING:
    from slmgraph.tiers import Result, TierRegistry


class FallbackChain:
    def __init__(self, registry: TierRegistry, tiers: Sequence[str]) -> None:
        self.registry = registry
        self.tiers = list(tiers)

    def complete(
        self, messages: Sequence[Message], constraint: Constraint | None = None, **kwargs: Any
    ) -> Result:
        group = kwargs.pop("call_group", None) or uuid.uuid4().hex
        errors: list[tuple[str, ModelError]] = []
        attempt = 0
        previous: str | None = None
        for tier in self.tiers:
            try:
                client = self.registry.client(tier)
            except ModelError as err:  # e.g. the backend's package is missing
                errors.append((tier, err))
                previous = tier
                continue
            for _ in range(1 + client.spec.retries):
                attempt += 1
                try:
                    return client.complete(
                        messages,
                        constraint,
                        call_group=group,
                        attempt=attempt,
                        fallback_from=previous,
                        **kwargs,
                    )
                except ModelError as err:
                    errors.append((tier, err))
                    if not err.retryable:
                        break
            previous = tier
            if errors and not errors[-1][1].retryable and errors[-1][1].kind != "config":
                break
        if len(errors) == 1:
            raise errors[0][1]
        raise AllTiersFailed(errors)
