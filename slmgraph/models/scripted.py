"""A deterministic backend for tests and demos: drives the real graph without a model.

Answers come from rules (regex on the last user message, optionally only for one node), from a
Python callable, or from a default. A rule may return outputs in turn (a repair loop: first a
wrong answer, then the fix) or raise a normalised error (to exercise fallback).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence

from slmgraph.constraints.base import Constraint
from slmgraph.errors import ModelError
from slmgraph.models.base import Completion, Message, Usage
from slmgraph.models.settings import ScriptedRule, ScriptedSettings
from slmgraph.telemetry.context import current_node

Responder = Callable[[Sequence[Message], Constraint | None], str]


class ScriptedBackend:
    name = "scripted"

    def __init__(
        self,
        rules: Sequence[ScriptedRule] = (),
        *,
        default: str | None = None,
        responder: Responder | None = None,
        echo: bool = False,
        latency_s: float = 0.0,
        model: str = "scripted",
    ) -> None:
        self.rules = list(rules)
        self.default = default
        self.responder = responder
        self.echo = echo
        self.latency_s = latency_s
        self.model = model
        self.calls: list[tuple[list[Message], Constraint | None]] = []
        self._turns: dict[int, int] = {}
        self._lock = threading.Lock()

    def complete(
        self,
        messages: Sequence[Message],
        constraint: Constraint | None = None,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
        top_p: float | None = None,
        logprobs: bool = True,
        timeout_s: float | None = None,
    ) -> Completion:
        start = time.perf_counter()
        with self._lock:
            self.calls.append((list(messages), constraint))
        if self.latency_s:
            time.sleep(self.latency_s)
        text, lp = self._answer(messages, constraint)
        for s in stop or ():
            if s and s in text:
                text = text[: text.index(s)]
        prompt_words = sum(len(m["content"].split()) for m in messages)
        out_tokens = max(1, len(text.split())) if text else 0
        return Completion(
            text=text,
            usage=Usage(prompt_words, out_tokens),
            latency_s=time.perf_counter() - start,
            model=self.model,
            backend=self.name,
            logprobs=[lp] * out_tokens if logprobs else None,
            finish_reason="stop",
        )

    def _answer(
        self, messages: Sequence[Message], constraint: Constraint | None
    ) -> tuple[str, float]:
        last = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        node = current_node.get()
        for i, rule in enumerate(self.rules):
            if rule.node is not None and rule.node != node:
                continue
            if rule.match is not None and re.search(rule.match, last, re.S) is None:
                continue
            if rule.error is not None:
                raise ModelError(
                    f"scripted {rule.error}", kind=rule.error, backend=self.name, model=self.model
                )
            if rule.outputs is not None:
                with self._lock:
                    turn = self._turns.get(i, 0)
                    self._turns[i] = turn + 1
                return rule.outputs[min(turn, len(rule.outputs) - 1)], rule.logprob
            assert rule.output is not None
            return rule.output, rule.logprob
        if self.responder is not None:
            return self.responder(messages, constraint), -0.05
        if self.default is not None:
            return self.default, -0.05
        if self.echo:
            return last, -0.05
        raise ModelError(
            f"scripted backend has no rule for node {node!r} and no default "
            f"(last message: {last[:80]!r})",
            kind="config",
            backend=self.name,
            model=self.model,
        )


def from_tier(model: str | None, settings: ScriptedSettings) -> ScriptedBackend:
    return ScriptedBackend(
        settings.rules,
        default=settings.default,
        echo=settings.echo,
        latency_s=settings.latency_s,
        model=model or "scripted",
    )
