"""In-process GGUF models through llama-cpp-python, with GBNF grammars and token logprobs.

Why a decoding loop of our own instead of ``create_chat_completion``: llama-cpp-python returns
logprobs only for models loaded with ``logits_all=True``, which keeps logits for every prompt
token (vocab x context floats: ~1.2 GB for Qwen at 2k context) and slows prompt processing. We
read the last position's logits straight from the context after each sampled token, so the mean
token logprob (a confidence signal for cascades) costs one log-sum-exp per generated token.
The logprob is that of the model's *unconstrained* distribution; the grammar only masks.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from slmgraph.constraints.base import Constraint
from slmgraph.constraints.json_gbnf import gbnf_literal, json_schema_to_gbnf
from slmgraph.errors import ModelError
from slmgraph.models.base import Completion, Message, Usage
from slmgraph.models.settings import LlamaCppSettings

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def constraint_to_gbnf(constraint: Constraint) -> str:
    """Compile any constraint to GBNF (llama.cpp's grammar format)."""
    if constraint.kind == "json_schema":
        return json_schema_to_gbnf(constraint.json_schema or {})
    if constraint.kind == "choice":
        return "root ::= " + " | ".join(gbnf_literal(c) for c in constraint.choices) + "\n"
    if constraint.kind == "grammar":
        if constraint.gbnf is None:
            raise ModelError(
                "llama.cpp needs a GBNF grammar (this constraint has only Lark)",
                kind="unsupported",
                backend="llamacpp",
            )
        return constraint.gbnf
    from slmgraph.constraints.regex_gbnf import regex_to_gbnf

    return regex_to_gbnf(constraint.regex or "")


class LlamaCppBackend:
    """A GGUF model loaded in this process. Pass a ready ``llama_cpp.Llama`` (tests build a tiny
    one) or let :func:`from_tier` load one from the catalog or a path.

    One model instance serves one call at a time (llama.cpp contexts are not thread-safe); calls
    from parallel graph branches queue on a lock.
    """

    name = "llamacpp"

    def __init__(self, llama: Any, *, model: str, chat_template: str | None = None) -> None:
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.llama = llama
        self.model = model
        self._lib = llama_cpp
        self._lock = threading.Lock()
        self._grammars: dict[str, Any] = {}
        meta = getattr(llama, "metadata", {}) or {}
        template = chat_template or meta.get("tokenizer.chat_template") or CHATML
        vocab = llama._model.vocab
        eos_id = llama.token_eos()
        bos_id = llama.token_bos()
        self._eos_text = llama._model.token_get_text(eos_id) if eos_id >= 0 else ""
        bos_text = llama._model.token_get_text(bos_id) if bos_id >= 0 else ""
        self._formatter = Jinja2ChatFormatter(
            template, eos_token=self._eos_text, bos_token=bos_text
        )
        self._vocab = vocab
        self._n_vocab = llama.n_vocab()

    def _grammar(self, constraint: Constraint) -> Any:
        from llama_cpp.llama_grammar import LlamaGrammar

        gbnf = constraint_to_gbnf(constraint)
        if gbnf not in self._grammars:
            try:
                self._grammars[gbnf] = LlamaGrammar.from_string(gbnf, verbose=False)
            except (ValueError, RuntimeError) as exc:
                raise ModelError(
                    f"invalid grammar: {exc}", kind="config", backend=self.name, model=self.model
                ) from None
        return self._grammars[gbnf]

    def prompt_tokens(self, messages: Sequence[Message]) -> list[int]:
        rendered = self._formatter(messages=list(messages))  # type: ignore[arg-type]
        tokens: list[int] = self.llama.tokenize(
            rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True
        )
        return tokens

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
        import numpy as np

        start = time.perf_counter()
        grammar = self._grammar(constraint) if constraint is not None else None
        prompt = self.prompt_tokens(messages)
        n_ctx = self.llama.n_ctx()
        if len(prompt) >= n_ctx:
            raise ModelError(
                f"prompt has {len(prompt)} tokens, more than the context window "
                f"({n_ctx}); raise the tier's settings.n_ctx or shorten the prompt",
                kind="config",
                backend=self.name,
                model=self.model,
            )
        max_tokens = min(max_tokens, n_ctx - len(prompt))
        stops = [s for s in (stop or ()) if s]
        out_bytes = bytearray()
        out_tokens: list[int] = []
        lps: list[float] = []
        finish = "length"
        first_token_s: float | None = None
        deadline = start + timeout_s if timeout_s else None
        with self._lock:
            if seed is not None:
                self.llama.set_seed(seed)
            ctx = self.llama._ctx.ctx
            gen = self.llama.generate(
                prompt,
                temp=temperature,
                top_p=top_p if top_p is not None else 1.0,
                top_k=0 if temperature == 0 else 40,
                min_p=0.0,
                repeat_penalty=1.0,
                grammar=grammar,
                reset=True,
            )
            try:
                for token in gen:
                    if self._lib.llama_vocab_is_eog(self._vocab, token):
                        finish = "stop"
                        break
                    if logprobs:
                        ptr = self._lib.llama_get_logits_ith(ctx, -1)
                        logits = np.ctypeslib.as_array(ptr, shape=(self._n_vocab,))
                        peak = float(logits.max())
                        lse = peak + math.log(float(np.exp(logits - peak).sum()))
                        lps.append(float(logits[token]) - lse)
                    if not out_tokens:
                        first_token_s = time.perf_counter() - start
                    out_tokens.append(token)
                    out_bytes += self.llama.detokenize([token], prev_tokens=out_tokens[:-1])
                    if stops:
                        text = out_bytes.decode("utf-8", errors="ignore")
                        if any(s in text for s in stops):
                            finish = "stop"
                            break
                    if len(out_tokens) >= max_tokens:
                        break
                    if deadline is not None and time.perf_counter() > deadline:
                        raise ModelError(
                            f"generation exceeded {timeout_s} s",
                            kind="timeout",
                            backend=self.name,
                            model=self.model,
                            output=out_bytes.decode("utf-8", errors="replace"),
                        )
            finally:
                gen.close()
        text = out_bytes.decode("utf-8", errors="replace")
        if grammar is not None:
            try:
                out_bytes.decode("utf-8")
            except UnicodeDecodeError:
                # llama.cpp's grammar engine decodes byte tokens leniently (overlong forms), so a
                # model that emits raw byte tokens can satisfy a grammar with bytes that are not
                # UTF-8. Rare with real models; a defined, retryable failure when it happens.
                raise ModelError(
                    "constrained output is not valid UTF-8",
                    kind="invalid_output",
                    backend=self.name,
                    model=self.model,
                    output=text,
                ) from None
        for s in stops:
            if s in text:
                text = text[: text.index(s)]
        if grammar is not None and finish == "length":
            raise ModelError(
                f"constrained output hit max_tokens={max_tokens} before the grammar completed",
                kind="invalid_output",
                backend=self.name,
                model=self.model,
                output=text,
            )
        return Completion(
            text=text,
            usage=Usage(len(prompt), len(out_tokens)),
            latency_s=time.perf_counter() - start,
            model=self.model,
            backend=self.name,
            logprobs=lps if logprobs else None,
            finish_reason=finish,
            # Prompt processing ends at the first token: decode speed = (n - 1) / (latency - this).
            raw={"first_token_s": first_token_s},
        )


_MODELS: dict[tuple[str, str], Any] = {}
_MODELS_LOCK = threading.Lock()


def load_llama(path: Path, settings: LlamaCppSettings) -> Any:
    """Load (or reuse) a llama.cpp model; one instance per file and settings in this process."""
    from llama_cpp import Llama

    key = (str(path.resolve()), settings.model_dump_json())
    with _MODELS_LOCK:
        if key not in _MODELS:
            try:
                _MODELS[key] = Llama(
                    model_path=str(path),
                    n_ctx=settings.n_ctx,
                    n_threads=settings.n_threads,
                    n_threads_batch=settings.n_threads,
                    n_batch=settings.n_batch,
                    n_gpu_layers=settings.n_gpu_layers,
                    seed=settings.seed,
                    lora_path=settings.lora_path,
                    verbose=settings.verbose,
                )
            except (ValueError, RuntimeError) as exc:
                raise ModelError(
                    f"cannot load {path}: {exc}", kind="config", backend="llamacpp", model=str(path)
                ) from None
        return _MODELS[key]


def from_tier(model: str | None, settings: LlamaCppSettings) -> LlamaCppBackend:
    from slmgraph.models.catalog import CatalogError, resolve_model_path

    if not model:
        raise ModelError(
            "a llamacpp tier needs `model:` (a catalog name or a GGUF path)",
            kind="config",
            backend="llamacpp",
        )
    try:
        path = resolve_model_path(model)
    except CatalogError as exc:
        raise ModelError(str(exc), kind="config", backend="llamacpp", model=model) from None
    return LlamaCppBackend(
        load_llama(path, settings), model=model, chat_template=settings.chat_template
    )
