"""Replaying a logged run: a backend that answers a call the call log holds with the logged
answer (at no cost) and sends any other call to the real backend. With greedy decoding the
replay is exact, so substituting one node's tier and replaying the rest computes only what the
substitution changed — the measured replaceability of a role or module (the software team's
``eval/team/replace.py``, the operator's ``eval/operator/replace.py``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from slmgraph.constraints.base import Constraint
from slmgraph.models.base import Backend, Completion, Message, Usage


def _key(messages: Sequence[Message], constraint: Constraint | dict[str, Any] | None) -> str:
    cons = constraint.to_dict() if isinstance(constraint, Constraint) else constraint
    msgs = [{"role": m["role"], "content": m["content"]} for m in messages]
    return json.dumps([msgs, cons], sort_keys=True, ensure_ascii=False)


@dataclass
class ReplayBackend:
    """Answers a call seen in the log with the logged answer; any other call goes to
    ``inner`` (and is remembered). ``hits`` and ``misses`` count what was replayed."""

    inner: Backend
    answers: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0
    name: str = ""
    model: str = ""

    def __post_init__(self) -> None:
        self.name, self.model = self.inner.name, self.inner.model

    @classmethod
    def from_log(cls, inner: Backend, rows: Sequence[dict[str, Any]]) -> ReplayBackend:
        """From call-log rows (``CallLog.rows``): the successful calls of ``inner``'s model."""
        out = cls(inner)
        for row in rows:
            if row.get("status") != "ok" or row.get("model") != inner.model:
                continue
            messages, cons = row["messages"], row.get("constraint_json")
            messages = json.loads(messages) if isinstance(messages, str) else messages
            cons = json.loads(cons) if isinstance(cons, str) else cons
            out.answers[_key(messages, cons)] = (
                str(row["output"]),
                int(row.get("tokens_in") or 0),
                int(row.get("tokens_out") or 0),
            )
        return out

    def complete(
        self, messages: Sequence[Message], constraint: Constraint | None = None, **kwargs: Any
    ) -> Completion:
        key = _key(messages, constraint)
        if key in self.answers:
            self.hits += 1
            text, tin, tout = self.answers[key]
            return Completion(
                text, Usage(tin, tout), 0.0, self.model, self.name, finish_reason="replayed"
            )
        self.misses += 1
        result = self.inner.complete(messages, constraint, **kwargs)
        self.answers[key] = (result.text, result.usage.input_tokens, result.usage.output_tokens)
        return result


__all__ = ["ReplayBackend"]
