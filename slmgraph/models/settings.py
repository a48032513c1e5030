"""The ``settings:`` each backend accepts in a tier (validated before anything runs).

Kept apart from the backends so that validating a spec never imports llama-cpp-python, openai
or outlines.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LlamaCppSettings(_Settings):
    n_ctx: int = Field(4096, ge=64, description="Context window (tokens)")
    n_threads: int | None = Field(None, ge=1, description="CPU threads; default: all cores")
    n_batch: int = Field(512, ge=1)
    n_gpu_layers: int = Field(0, description="Layers to offload to a GPU (-1: all)")
    seed: int = 0
    lora_path: str | None = Field(None, description="A GGUF LoRA adapter applied on load")
    chat_template: str | None = Field(
        None,
        description="Jinja chat template overriding the GGUF's own (default: the GGUF's, "
        "else ChatML)",
    )
    verbose: bool = Field(False, description="Let llama.cpp print its load and timing logs")


class OpenAICompatSettings(_Settings):
    base_url: str = Field(description="e.g. http://127.0.0.1:8000/v1")
    server: Literal["vllm", "llamacpp", "openai"] = Field(
        "openai",
        description="How constraints are sent: vllm structured_outputs, llama.cpp grammar, "
        "or OpenAI response_format",
    )
    api_key_env: str | None = Field(
        None, description="Environment variable holding the API key (never the key itself)"
    )
    headers: dict[str, str] = Field(default_factory=dict)
    max_retries: int = Field(0, ge=0, description="Client-level retries on connection errors")
    extra_body: dict[str, Any] = Field(default_factory=dict)
    logprobs: bool | None = Field(
        None,
        description="Request token logprobs (default: yes for vllm/openai; no for llamacpp, "
        "whose server returns them only for models loaded with logits_all)",
    )


class LangChainSettings(_Settings):
    chat_model: str = Field(description="'module:Class' of a LangChain BaseChatModel")
    kwargs: dict[str, Any] = Field(default_factory=dict)
    structured_output: Literal["auto", "prompt"] = Field(
        "auto",
        description="auto: use with_structured_output for JSON schemas when the model supports "
        "it; prompt: ask in the prompt and validate",
    )


class OutlinesSettings(_Settings):
    engine: Literal["llamacpp", "transformers"] = "llamacpp"
    n_ctx: int = Field(4096, ge=64)
    n_threads: int | None = Field(None, ge=1)
    device: str = "cpu"


class ScriptedRule(_Settings):
    match: str | None = Field(None, description="Regex searched in the last user message")
    node: str | None = Field(None, description="Only for calls from this node")
    output: str | None = None
    outputs: list[str] | None = Field(None, description="Returned in turn on successive calls")
    error: Literal["timeout", "connection", "server", "invalid_output"] | None = None
    logprob: float = Field(-0.05, le=0)

    @model_validator(mode="after")
    def _one(self) -> ScriptedRule:
        if sum(x is not None for x in (self.output, self.outputs, self.error)) != 1:
            raise ValueError("a scripted rule needs exactly one of output, outputs, error")
        return self


class ScriptedSettings(_Settings):
    rules: list[ScriptedRule] = Field(default_factory=list)
    default: str | None = Field(None, description="Output when no rule matches")
    echo: bool = Field(False, description="With no rule and no default, echo the last message")
    latency_s: float = Field(0.0, ge=0)


SETTINGS: dict[str, type[BaseModel]] = {
    "llamacpp": LlamaCppSettings,
    "openai_compat": OpenAICompatSettings,
    "langchain": LangChainSettings,
    "outlines": OutlinesSettings,
    "scripted": ScriptedSettings,
}
