"""One client for OpenAI-compatible servers, sending each constraint the way the server expects.

=========  ==============================================================================
server     how a constraint travels
=========  ==============================================================================
vllm       ``extra_body={"structured_outputs": {"json"|"regex"|"grammar"|"choice": …}}``.
           Never the old ``guided_json``/``guided_regex``… fields: current vLLM ignores them
           silently and the output comes back unconstrained.
llamacpp   ``grammar`` (GBNF) for every kind. JSON schemas are compiled by our converter
           rather than sent as ``response_format={"type": "json_object", "schema": …}``,
           because llama-cpp-python's server converts schemas with the converter that lets
           raw control characters into strings (see ``constraints/json_gbnf.py``).
openai     ``response_format={"type": "json_schema", "json_schema": {…, "strict": true}}``;
           a choice is sent as a one-field object with an ``enum`` and unwrapped. Regexes and
           grammars are not supported by the OpenAI API (a ``ModelError(kind="unsupported")``).
=========  ==============================================================================
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from typing import Any

from slmgraph.constraints.base import Constraint
from slmgraph.constraints.gbnf import constraint_to_gbnf
from slmgraph.errors import ModelError
from slmgraph.models.base import Completion, Message, Usage
from slmgraph.models.settings import OpenAICompatSettings

_CHOICE_KEY = "choice"


def constraint_fields(server: str, constraint: Constraint | None) -> dict[str, Any]:
    """The request-body fields that carry ``constraint`` to ``server`` (merged into the body)."""
    if constraint is None:
        return {}
    if server == "vllm":
        if constraint.kind == "json_schema":
            return {"structured_outputs": {"json": constraint.json_schema}}
        if constraint.kind == "regex":
            return {"structured_outputs": {"regex": constraint.regex}}
        if constraint.kind == "choice":
            return {"structured_outputs": {"choice": list(constraint.choices)}}
        grammar = constraint.gbnf or constraint.lark
        return {"structured_outputs": {"grammar": grammar}}
    if server == "llamacpp":
        return {"grammar": constraint_to_gbnf(constraint)}
    if constraint.kind == "json_schema":
        schema = constraint.json_schema
        return {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": schema, "strict": True},
            }
        }
    if constraint.kind == "choice":
        schema = {
            "type": "object",
            "properties": {_CHOICE_KEY: {"type": "string", "enum": list(constraint.choices)}},
            "required": [_CHOICE_KEY],
            "additionalProperties": False,
        }
        return {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "choice", "schema": schema, "strict": True},
            }
        }
    raise ModelError(
        f"OpenAI-style servers do not accept {constraint.kind} constraints; use "
        "`server: vllm` or `server: llamacpp` if your server is one of those",
        kind="unsupported",
        backend="openai_compat",
    )


class OpenAICompatBackend:
    name = "openai_compat"

    def __init__(self, model: str, settings: OpenAICompatSettings, client: Any = None) -> None:
        self.model = model
        self.settings = settings
        if client is None:
            import openai

            key = os.environ.get(settings.api_key_env, "") if settings.api_key_env else ""
            client = openai.OpenAI(
                base_url=settings.base_url,
                api_key=key or "not-needed",
                default_headers=settings.headers or None,
                max_retries=settings.max_retries,
            )
        self.client = client

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
        import openai

        server = self.settings.server
        want_lp = logprobs and (
            self.settings.logprobs if self.settings.logprobs is not None else server != "llamacpp"
        )
        extra = {**self.settings.extra_body, **constraint_fields(server, constraint)}
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": list(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if stop:
            kwargs["stop"] = list(stop)
        if seed is not None:
            kwargs["seed"] = seed
        if top_p is not None:
            kwargs["top_p"] = top_p
        if want_lp:
            kwargs["logprobs"] = True
        # response_format is a first-class argument of the SDK; everything else is extra_body.
        if "response_format" in extra:
            kwargs["response_format"] = extra.pop("response_format")
        start = time.perf_counter()
        try:
            resp = self.client.chat.completions.create(
                **kwargs, extra_body=extra or None, timeout=timeout_s
            )
        except openai.APITimeoutError as exc:
            raise self._err(f"timed out: {exc}", "timeout") from None
        except openai.APIConnectionError as exc:
            raise self._err(f"cannot reach {self.settings.base_url}: {exc}", "connection") from None
        except openai.APIStatusError as exc:
            body = str(exc.body or exc.message)[:300]
            if exc.status_code >= 500 or exc.status_code == 429:
                raise self._err(f"server error {exc.status_code}: {body}", "server") from None
            raise self._err(f"request rejected ({exc.status_code}): {body}", "config") from None
        latency = time.perf_counter() - start
        if not resp.choices:
            raise self._err("the server returned no choices", "server")
        choice = resp.choices[0]
        text = choice.message.content or ""
        if constraint is not None and constraint.kind == "choice" and server == "openai":
            try:
                text = str(json.loads(text)[_CHOICE_KEY])
            except (ValueError, KeyError, TypeError):
                raise ModelError(
                    f"expected {{'{_CHOICE_KEY}': …}}, got {text[:80]!r}",
                    kind="invalid_output",
                    backend=self.name,
                    model=self.model,
                    output=text,
                ) from None
        lps: list[float] | None = None
        lp_obj = getattr(choice, "logprobs", None)
        if lp_obj is not None and getattr(lp_obj, "content", None):
            lps = [float(t.logprob) for t in lp_obj.content]
        usage = resp.usage
        return Completion(
            text=text,
            usage=Usage(
                usage.prompt_tokens if usage else 0, usage.completion_tokens if usage else 0
            ),
            latency_s=latency,
            model=self.model,
            backend=self.name,
            logprobs=lps,
            finish_reason=choice.finish_reason,
        )

    def _err(self, message: str, kind: Any) -> ModelError:
        return ModelError(message, kind=kind, backend=self.name, model=self.model)


def from_tier(model: str | None, settings: OpenAICompatSettings) -> OpenAICompatBackend:
    if not model:
        raise ModelError(
            "an openai_compat tier needs `model:` (the served model's name)",
            kind="config",
            backend="openai_compat",
        )
    return OpenAICompatBackend(model, settings)
