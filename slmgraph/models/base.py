"""The one interface every backend implements, and the factory that builds them from tier specs.

Nodes never import a backend: they call ``complete(messages, constraint=…)`` on the client the
builder gave them, and the tier (YAML) decides which backend answers. Backends split into
*steerable* ones (llama.cpp in process: grammars, token logprobs) and *black-box* ones (HTTP
servers: constraints travel as request fields); each compiles a :class:`Constraint` its own way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict, runtime_checkable

from pydantic import BaseModel, ValidationError

from slmgraph.constraints.base import Constraint
from slmgraph.errors import ModelError
from slmgraph.models.settings import SETTINGS


class Message(TypedDict):
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class Completion:
    """What one model call returned.

    ``logprobs`` are the model's log-probabilities of the generated tokens (one per token) where
    the backend exposes them, else None. For grammar-constrained llama.cpp decoding they are taken
    from the model's *unconstrained* distribution, which is what a confidence score needs.
    """

    text: str
    usage: Usage
    latency_s: float
    model: str
    backend: str
    logprobs: list[float] | None = None
    tokens: list[str] | None = None
    finish_reason: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def mean_logprob(self) -> float | None:
        if not self.logprobs:
            return None
        finite = [lp for lp in self.logprobs if math.isfinite(lp)]
        return sum(finite) / len(finite) if finite else None


@runtime_checkable
class Backend(Protocol):
    """A model that completes chat messages, optionally under a constraint."""

    name: str  # backend kind, e.g. "llamacpp"
    model: str  # model identifier as logged

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
    ) -> Completion: ...


BackendFactory = Callable[[str | None, dict[str, Any]], Backend]

# Backend kind -> module with its `from_tier(model, settings)` factory (settings: settings.py).
# Modules are imported lazily so that e.g. llama-cpp-python is needed only by llamacpp tiers.
BACKENDS: dict[str, str] = {
    "llamacpp": "slmgraph.models.llamacpp",
    "openai_compat": "slmgraph.models.openai_compat",
    "langchain": "slmgraph.models.langchain",
    "outlines": "slmgraph.models.outlines",
    "scripted": "slmgraph.models.scripted",
}


def settings_model(backend: str) -> type[BaseModel]:
    """The pydantic model of a backend's ``settings:`` (importable without the backend's deps)."""
    return SETTINGS[backend]


def create_backend(backend: str, model: str | None, settings: dict[str, Any]) -> Backend:
    """Build a backend from a tier's ``backend``, ``model`` and ``settings``."""
    import importlib

    if backend not in BACKENDS:
        raise ModelError(f"unknown backend {backend!r}", kind="config")
    try:
        parsed = settings_model(backend).model_validate(settings)
    except ValidationError as exc:
        raise ModelError(
            f"invalid settings for backend {backend!r}: {exc}", kind="config"
        ) from None
    try:
        module = importlib.import_module(BACKENDS[backend])
    except ImportError as exc:
        extra = {"llamacpp": "llamacpp", "openai_compat": "openai", "outlines": "outlines"}.get(
            backend, backend
        )
        raise ModelError(
            f"backend {backend!r} needs an optional dependency ({exc.name}); "
            f"install it with: pip install 'slmgraph[{extra}]'",
            kind="config",
        ) from None
    result: Backend = module.from_tier(model, parsed)
    return result
