"""Constrained generation through outlines, for llama.cpp and transformers models.

The path for HF-format models (a freshly fine-tuned student before it is converted to GGUF),
and a second constrained-decoding engine beside llama.cpp's GBNF whose speed the benchmarks
compare. JSON schemas and regexes compile with outlines-core; Lark grammars with llguidance.
(Installed without xgrammar, which pulls an unpinned torch.)
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Sequence
from typing import Any

from slmgraph.constraints.base import Constraint
from slmgraph.errors import ModelError
from slmgraph.models.base import Completion, Message, Usage
from slmgraph.models.catalog import CatalogError, resolve_model_path
from slmgraph.models.settings import LlamaCppSettings, OutlinesSettings


def output_type(constraint: Constraint | None) -> Any:
    """The outlines output type for a constraint (None: unconstrained)."""
    if constraint is None:
        return None
    from outlines.types import CFG, JsonSchema, Regex

    if constraint.kind == "json_schema":
        return JsonSchema(json.dumps(constraint.json_schema))
    if constraint.kind == "regex":
        return Regex(constraint.regex or "")
    if constraint.kind == "choice":
        return Regex("|".join(re.escape(c) for c in constraint.choices))
    if constraint.lark is None:
        raise ModelError(
            "outlines takes Lark grammars; this constraint has only GBNF",
            kind="unsupported",
            backend="outlines",
        )
    return CFG(constraint.lark)


class OutlinesBackend:
    """Wraps an outlines model (``outlines.from_llamacpp(...)`` or ``from_transformers(...)``).

    ``count_tokens(text) -> int`` measures usage (outlines returns only text).
    """

    name = "outlines"

    def __init__(
        self, model: Any, *, model_name: str, count_tokens: Any, engine: str = "llamacpp"
    ) -> None:
        self.outlines_model = model
        self.model = model_name
        self.engine = engine
        self._count = count_tokens
        self._generators: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _generator(self, constraint: Constraint | None) -> Any:
        import outlines

        key = json.dumps(constraint.to_dict(), sort_keys=True) if constraint else ""
        if key not in self._generators:
            try:
                self._generators[key] = outlines.Generator(
                    self.outlines_model, output_type(constraint)
                )
            except ModelError:
                raise
            except Exception as exc:  # outlines raises several types for unsupported schemas
                raise ModelError(
                    f"outlines cannot compile the constraint: {exc}",
                    kind="config",
                    backend=self.name,
                    model=self.model,
                ) from None
        return self._generators[key]

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
        from outlines.inputs import Chat

        start = time.perf_counter()
        kwargs: dict[str, Any]
        if self.engine == "llamacpp":
            kwargs = {"max_tokens": max_tokens, "temperature": temperature}
            if stop:
                kwargs["stop"] = list(stop)
            if seed is not None:
                kwargs["seed"] = seed
        else:
            kwargs = {"max_new_tokens": max_tokens, "do_sample": temperature > 0}
            if temperature > 0:
                kwargs["temperature"] = temperature
        with self._lock:
            gen = self._generator(constraint)
            try:
                text = gen(Chat([dict(m) for m in messages]), **kwargs)
            except Exception as exc:
                raise ModelError(
                    f"outlines generation failed: {type(exc).__name__}: {exc}",
                    kind="server",
                    backend=self.name,
                    model=self.model,
                ) from None
        prompt_text = "\n".join(m["content"] for m in messages)
        return Completion(
            text=str(text),
            usage=Usage(self._count(prompt_text), self._count(str(text))),
            latency_s=time.perf_counter() - start,
            model=self.model,
            backend=self.name,
            logprobs=None,
        )


def from_tier(model: str | None, settings: OutlinesSettings) -> OutlinesBackend:
    import outlines

    if not model:
        raise ModelError("an outlines tier needs `model:`", kind="config", backend="outlines")
    if settings.engine == "llamacpp":
        from slmgraph.models.llamacpp import load_llama

        try:
            path = resolve_model_path(model)
        except CatalogError as exc:
            raise ModelError(str(exc), kind="config", backend="outlines", model=model) from None
        llama = load_llama(
            path, LlamaCppSettings(n_ctx=settings.n_ctx, n_threads=settings.n_threads)
        )

        def count(text: str) -> int:
            return len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

        return OutlinesBackend(
            outlines.from_llamacpp(llama), model_name=model, count_tokens=count, engine="llamacpp"
        )
    try:
        import transformers
    except ImportError:
        raise ModelError(
            "the transformers engine needs the `finetune` extra (pip install 'slmgraph[finetune]')",
            kind="config",
            backend="outlines",
        ) from None
    # Any: transformers' own annotations disagree with outlines' between their releases.
    tok: Any = transformers.AutoTokenizer.from_pretrained(model)
    auto: Any = transformers.AutoModelForCausalLM
    hf: Any = auto.from_pretrained(model).to(settings.device)
    return OutlinesBackend(
        outlines.from_transformers(hf, tok),
        model_name=model,
        count_tokens=lambda t: len(tok.encode(t)),
        engine="transformers",
    )
