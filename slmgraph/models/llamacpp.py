"""In-process GGUF models through llama-cpp-python, with GBNF grammars and token logprobs.

Why a decoding loop of our own instead of ``create_chat_completion``: llama-cpp-python returns
logprobs only for models loaded with ``logits_all=True``, which keeps logits for every prompt
token (vocab x context floats: ~1.2 GB for Qwen at 2k context) and slows prompt processing. We
read the last position's logits straight from the context after each sampled token, so the mean
token logprob (a confidence signal for cascades) costs one log-sum-exp per generated token.
The logprob is that of the model's *unconstrained* distribution; the grammar only masks.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import math
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from slmgraph.constraints.base import Constraint
from slmgraph.constraints.gbnf import constraint_to_gbnf
from slmgraph.errors import ModelError
from slmgraph.models.base import Completion, Message, Usage
from slmgraph.models.catalog import CatalogError, resolve_model_path
from slmgraph.models.settings import LlamaCppSettings

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class _Grammar:
    """A llama.cpp grammar sampler used *outside* the sampler chain.

    llama-cpp-python puts the grammar in its sampler chain, which checks every vocabulary token
    (151,936 for Qwen) against the grammar at every step and halves decoding speed. Like
    llama.cpp's own ``common_sampler``, we pick the token first and ask the grammar about that
    one token; only when it is rejected do we mask the whole vocabulary and pick again.
    """

    def __init__(self, lib: Any, vocab: Any, gbnf: str, n_vocab: int) -> None:
        import numpy as np

        self._lib = lib
        self._ptr = lib.llama_sampler_init_grammar(vocab, gbnf.encode("utf-8"), b"root")
        if not self._ptr:
            raise ModelError(
                "llama.cpp could not parse the grammar", kind="config", backend="llamacpp"
            )
        dtype = np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)], align=True)
        self._one = np.zeros(1, dtype=dtype)
        self._all = np.zeros(n_vocab, dtype=dtype)
        self._all["id"] = np.arange(n_vocab, dtype=np.intc)

    def _apply(self, cands: Any) -> None:
        arr = self._lib.llama_token_data_array(
            data=cands.ctypes.data_as(self._lib.llama_token_data_p),
            size=len(cands),
            selected=-1,
            sorted=False,
        )
        self._lib.llama_sampler_apply(self._ptr, ctypes.byref(arr))

    def allows(self, token: int) -> bool:
        self._one["id"][0] = token
        self._one["logit"][0] = 0.0
        self._apply(self._one)
        return bool(np.isfinite(self._one["logit"][0]))

    def mask(self, logits: Any, top_k: int = 64) -> Any:
        """``logits`` with the tokens the grammar rejects set to -inf (a new array).

        The ``top_k`` most likely tokens are tried first; only when the grammar rejects all of
        them is the whole vocabulary checked (a full check costs ~1 s with a large grammar and a
        151k vocabulary on 2 cores). Greedy decoding is unchanged by this: the best allowed
        token is within the top k whenever any of the top k is allowed.
        """
        if top_k and top_k < len(logits):
            ids = np.argpartition(-logits, top_k)[:top_k].astype(np.intc)
            few = np.zeros(top_k, dtype=self._one.dtype)
            few["id"] = ids
            few["logit"] = logits[ids]
            self._apply(few)
            if np.isfinite(few["logit"]).any():
                out = np.full_like(logits, -np.inf)
                out[few["id"]] = few["logit"]
                return out
        self._all["logit"] = logits
        self._apply(self._all)
        return self._all["logit"].copy()

    def accept(self, token: int) -> None:
        self._lib.llama_sampler_accept(self._ptr, token)

    def reset(self) -> None:
        self._lib.llama_sampler_reset(self._ptr)

    def __del__(self) -> None:
        ptr, self._ptr = getattr(self, "_ptr", None), None
        if ptr:
            self._lib.llama_sampler_free(ptr)


def _pick(logits: Any, temperature: float, top_p: float | None, rng: Any) -> int:
    """Greedy at temperature 0, else sampling with temperature and nucleus (top-p)."""
    if temperature <= 0:
        return int(np.argmax(logits))
    z = logits / temperature
    z = z - np.max(z)
    probs = np.exp(z)
    probs /= probs.sum()
    if top_p is not None and top_p < 1.0:
        order = np.argsort(-probs)
        keep = order[: int(np.searchsorted(np.cumsum(probs[order]), top_p)) + 1]
        sub = probs[keep] / probs[keep].sum()
        return int(keep[rng.choice(len(keep), p=sub)])
    return int(rng.choice(len(probs), p=probs))


class LlamaCppBackend:
    """A GGUF model loaded in this process. Pass a ready ``llama_cpp.Llama`` (tests build a tiny
    one) or let :func:`from_tier` load one from the catalog or a path.

    One model instance serves one call at a time (llama.cpp contexts are not thread-safe); calls
    from parallel graph branches queue on a lock. The prompt's longest prefix already in the KV
    cache is reused (a graph's nodes often share a system prompt).
    """

    name = "llamacpp"

    def __init__(self, llama: Any, *, model: str, chat_template: str | None = None) -> None:
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.llama = llama
        self.model = model
        self._lib = llama_cpp
        self._lock = threading.Lock()
        self._grammars: dict[str, _Grammar] = {}
        meta = getattr(llama, "metadata", {}) or {}
        template = chat_template or meta.get("tokenizer.chat_template") or CHATML
        eos_id = llama.token_eos()
        bos_id = llama.token_bos()
        self._eos_text = llama._model.token_get_text(eos_id) if eos_id >= 0 else ""
        bos_text = llama._model.token_get_text(bos_id) if bos_id >= 0 else ""
        self._formatter = Jinja2ChatFormatter(
            template, eos_token=self._eos_text, bos_token=bos_text
        )
        self._vocab = llama._model.vocab
        self._n_vocab = llama.n_vocab()

    def _grammar(self, constraint: Constraint) -> _Grammar:
        gbnf = constraint_to_gbnf(constraint)
        if gbnf not in self._grammars:
            self._grammars[gbnf] = _Grammar(self._lib, self._vocab, gbnf, self._n_vocab)
        grammar = self._grammars[gbnf]
        grammar.reset()
        return grammar

    def prompt_tokens(self, messages: Sequence[Message]) -> list[int]:
        rendered = self._formatter(messages=list(messages))  # type: ignore[arg-type]
        tokens: list[int] = self.llama.tokenize(
            rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True
        )
        return tokens

    def _prefill(self, prompt: list[int]) -> None:
        """Evaluate the prompt, reusing the longest prefix already in the KV cache."""
        llm = self.llama
        cached = llm.input_ids[: llm.n_tokens].tolist()
        keep = 0
        for a, b in zip(cached, prompt, strict=False):
            if a != b:
                break
            keep += 1
        keep = min(keep, len(prompt) - 1)  # evaluate at least one token to get fresh logits
        if keep > 0 and llm._ctx.kv_cache_seq_rm(-1, keep, -1):
            llm.n_tokens = keep
        else:
            llm.reset()
            keep = 0
        llm.eval(prompt[keep:])

    def _logits(self) -> Any:
        ptr = self._lib.llama_get_logits_ith(self.llama._ctx.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self._n_vocab,))

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
        rng = np.random.default_rng(seed)
        out_bytes = bytearray()
        out_tokens: list[int] = []
        lps: list[float] = []
        finish = "length"
        first_token_s: float | None = None
        deadline = start + timeout_s if timeout_s else None
        with self._lock:
            grammar = self._grammar(constraint) if constraint is not None else None
            self._prefill(prompt)
            while len(out_tokens) < max_tokens:
                logits = self._logits()
                token = _pick(logits, temperature, top_p, rng)
                if grammar is not None and not grammar.allows(token):
                    masked = grammar.mask(logits)
                    if not np.isfinite(masked).any():
                        raise ModelError(
                            "the grammar allows no token here",
                            kind="invalid_output",
                            backend=self.name,
                            model=self.model,
                            output=out_bytes.decode("utf-8", errors="replace"),
                        )
                    token = _pick(masked, temperature, top_p, rng)
                if logprobs:
                    peak = float(logits.max())
                    lse = peak + math.log(float(np.exp(logits - peak).sum()))
                    lps.append(float(logits[token]) - lse)
                if first_token_s is None:
                    first_token_s = time.perf_counter() - start
                if self._lib.llama_vocab_is_eog(self._vocab, token):
                    lps = lps[:-1] if logprobs else lps
                    finish = "stop"
                    break
                if grammar is not None:
                    grammar.accept(token)
                out_tokens.append(token)
                out_bytes += self.llama.detokenize([token], prev_tokens=out_tokens[:-1])
                if stops:
                    text = out_bytes.decode("utf-8", errors="ignore")
                    if any(s in text for s in stops):
                        finish = "stop"
                        break
                if deadline is not None and time.perf_counter() > deadline:
                    raise ModelError(
                        f"generation exceeded {timeout_s} s",
                        kind="timeout",
                        backend=self.name,
                        model=self.model,
                        output=out_bytes.decode("utf-8", errors="replace"),
                    )
                self.llama.eval([token])
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
                    tokens=(len(prompt), len(out_tokens)),
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
                tokens=(len(prompt), len(out_tokens)),
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


@atexit.register
def _close_models() -> None:
    """Free cached models while the interpreter can still run llama.cpp's finalisers (left to
    garbage collection at shutdown, they fail noisily once module globals are gone)."""
    with _MODELS_LOCK:
        for llm in _MODELS.values():
            with contextlib.suppress(Exception):
                llm.close()
        _MODELS.clear()


def reset_kv_caches() -> int:
    """Forget every loaded model's cached prompt (the weights stay loaded); returns how many.

    llama.cpp reuses the longest common prefix of the previous prompt, which is what makes a
    schema cheap on its second question; a latency benchmark that compares runs on the same
    questions clears it before each run so that no run inherits another's warm cache."""
    with _MODELS_LOCK:
        for llm in _MODELS.values():
            llm.reset()
        return len(_MODELS)


def release_llama(llm: Any) -> None:
    """Drop a model from the cache and free it now (tools that load one model after another)."""
    with _MODELS_LOCK:
        for key in [k for k, v in _MODELS.items() if v is llm]:
            del _MODELS[key]
    with contextlib.suppress(Exception):
        llm.close()


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
