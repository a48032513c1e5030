"""LangChain interop, both ways.

- :class:`LangChainBackend`: any LangChain ``BaseChatModel`` serves as a tier
  (``backend: langchain`` with ``settings.chat_model: "langchain_openai:ChatOpenAI"``).
  JSON schemas go through ``with_structured_output`` when the model supports it; otherwise
  (and for choice/regex) the shape is asked for in the prompt and the output is validated, so
  a model that ignores it fails with ``invalid_output`` and the fallback tier gets a turn.
- :class:`SlmgraphChatModel`: an slmgraph backend (or a whole tier with fallback and logging)
  as a LangChain chat model, e.g. to run LangChain's own agents on our llama.cpp models.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict

from slmgraph.constraints.base import Constraint
from slmgraph.errors import ModelError
from slmgraph.models.base import Backend, Completion, Message, Usage
from slmgraph.models.settings import LangChainSettings


def to_langchain(messages: Sequence[Message]) -> list[BaseMessage]:
    out: list[BaseMessage] = []
    for m in messages:
        if m["role"] == "system":
            out.append(SystemMessage(m["content"]))
        elif m["role"] == "assistant":
            out.append(AIMessage(m["content"]))
        else:
            out.append(HumanMessage(m["content"]))
    return out


def from_langchain(messages: Sequence[BaseMessage]) -> list[Message]:
    roles = {"system": "system", "human": "user", "ai": "assistant", "tool": "user"}
    return [Message(role=roles.get(m.type, "user"), content=str(m.content)) for m in messages]


def _instruction(constraint: Constraint) -> str:
    if constraint.kind == "json_schema":
        return (
            "Answer with only a JSON value that matches this JSON schema, no prose:\n"
            + json.dumps(constraint.json_schema)
        )
    if constraint.kind == "choice":
        return "Answer with exactly one of: " + ", ".join(constraint.choices)
    if constraint.kind == "regex":
        return f"Answer with text that fully matches the regular expression /{constraint.regex}/"
    return "Answer following this grammar:\n" + (constraint.gbnf or constraint.lark or "")


class LangChainBackend:
    name = "langchain"

    def __init__(
        self,
        chat_model: BaseChatModel,
        *,
        model: str | None = None,
        structured_output: str = "auto",
    ) -> None:
        self.chat_model = chat_model
        self.model = (
            model
            or getattr(chat_model, "model_name", None)
            or getattr(chat_model, "model", None)
            or type(chat_model).__name__
        )
        self.structured_output = structured_output

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
        lc_messages = to_langchain(messages)
        stop_list = list(stop) if stop else None
        try:
            if (
                constraint is not None
                and constraint.kind == "json_schema"
                and self.structured_output == "auto"
            ):
                try:
                    runnable = self.chat_model.with_structured_output(
                        constraint.json_schema or {}, method="json_schema", include_raw=True
                    )
                except (NotImplementedError, TypeError, ValueError):
                    runnable = None
                if runnable is not None:
                    result = runnable.invoke(lc_messages, stop=stop_list)
                    raw: Any = result["raw"] if isinstance(result, dict) else result
                    parsed = result.get("parsed") if isinstance(result, dict) else None
                    text = json.dumps(parsed) if parsed is not None else str(raw.content)
                    return self._completion(raw, text, start)
            if constraint is not None:
                lc_messages = [*lc_messages, HumanMessage(_instruction(constraint))]
            msg = self.chat_model.invoke(lc_messages, stop=stop_list)
        except ModelError:
            raise
        except TimeoutError as exc:
            raise ModelError(
                str(exc), kind="timeout", backend=self.name, model=self.model
            ) from None
        except ConnectionError as exc:
            raise ModelError(
                str(exc), kind="connection", backend=self.name, model=self.model
            ) from None
        except Exception as exc:  # LangChain providers raise their own types; normalise them
            raise ModelError(
                f"{type(exc).__name__}: {exc}", kind="server", backend=self.name, model=self.model
            ) from None
        return self._completion(msg, str(msg.content), start)

    def _completion(self, msg: Any, text: str, start: float) -> Completion:
        usage = getattr(msg, "usage_metadata", None) or {}
        lp_meta = (getattr(msg, "response_metadata", None) or {}).get("logprobs") or {}
        lps = [float(t["logprob"]) for t in lp_meta.get("content", []) if "logprob" in t] or None
        return Completion(
            text=text,
            usage=Usage(int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))),
            latency_s=time.perf_counter() - start,
            model=str(self.model),
            backend=self.name,
            logprobs=lps,
        )


def from_tier(model: str | None, settings: LangChainSettings) -> LangChainBackend:
    module_name, _, attr = settings.chat_model.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ModelError(
            f"cannot import chat model {settings.chat_model!r}: {exc}",
            kind="config",
            backend="langchain",
        ) from None
    kwargs = dict(settings.kwargs)
    if model and "model" not in kwargs:
        kwargs["model"] = model
    return LangChainBackend(
        cls(**kwargs), model=model, structured_output=settings.structured_output
    )


class SlmgraphChatModel(BaseChatModel):
    """An slmgraph backend — or a tier's ``ModelClient``, with its fallback chain and call
    logging — as a LangChain chat model.

    ``constraint`` (optional) constrains every call, e.g. ``Constraint.json(schema)``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    backend: Any
    constraint: Constraint | None = None
    max_tokens: int = 256
    temperature: float = 0.0

    @property
    def _llm_type(self) -> str:
        return f"slmgraph-{getattr(self.backend, 'name', 'backend')}"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model": getattr(self.backend, "model", None),
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        backend: Backend = self.backend
        out: Any = backend.complete(
            from_langchain(messages),
            kwargs.get("constraint", self.constraint),
            max_tokens=kwargs.get("max_tokens", self.max_tokens),
            temperature=kwargs.get("temperature", self.temperature),
            stop=stop,
        )
        # A ModelClient (a tier with fallback and logging) returns a Result wrapping the completion.
        c: Completion = getattr(out, "completion", out)
        msg = AIMessage(
            content=c.text,
            usage_metadata={
                "input_tokens": c.usage.input_tokens,
                "output_tokens": c.usage.output_tokens,
                "total_tokens": c.usage.input_tokens + c.usage.output_tokens,
            },
            response_metadata={
                "model_name": c.model,
                "latency_s": c.latency_s,
                "mean_logprob": c.mean_logprob,
            },
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])
