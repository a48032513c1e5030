"""The generic agent: render a prompt from state, call the node's tier under an optional
constraint, write the (parsed) output to a state key.

Most narrow agent steps — classify, extract fields, write a short reply — are this agent with a
different prompt and constraint.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from slmgraph.constraints.base import ConstraintSpec
from slmgraph.errors import RunError
from slmgraph.models.base import Message
from slmgraph.prompts import PromptTemplate, load_prompt
from slmgraph.registry import NodeEnv, NodeFn, State, Update, register_agent


class PromptParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str | None = Field(None, description="Built-in prompt name or a YAML file path")
    system: str | None = Field(None, description="Inline system template (instead of `prompt`)")
    user: str | None = Field(None, description="Inline user template (instead of `prompt`)")
    output: str = Field(description="State key the output is written to")
    constraint: ConstraintSpec | None = None
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    stop: list[str] | None = None
    strip: bool = Field(True, description="Strip surrounding whitespace from text outputs")

    @model_validator(mode="after")
    def _source(self) -> PromptParams:
        if (self.prompt is None) == (self.user is None):
            raise ValueError("give either 'prompt' (a file) or an inline 'user' template")
        if self.prompt is not None and self.system is not None:
            raise ValueError("'system' goes with an inline 'user' template, not with 'prompt'")
        return self

    def template(self, base_dir: Path | None = None) -> PromptTemplate:
        if self.prompt is not None:
            return load_prompt(self.prompt, base_dir)
        assert self.user is not None
        return PromptTemplate(system=self.system, user=self.user, source="<inline>")


def render(env: NodeEnv, template: PromptTemplate, state: State) -> list[Message]:
    """The node's messages from state (unset keys render empty; a key the state lacks is a
    run error naming the prompt and the key)."""
    values = {k: ("" if v is None else v) for k, v in state.items()}
    try:
        return list(template.render(values))
    except KeyError as exc:
        raise RunError(
            f"prompt {template.source} needs state key {exc.args[0]!r}, which is not set",
            node=env.name,
        ) from None


def _writes(params: PromptParams) -> list[str]:
    return [params.output]


def _reads(params: PromptParams, base_dir: Path | None) -> list[str]:
    return params.template(base_dir).placeholders()


@register_agent(
    "prompt",
    PromptParams,
    reads=_reads,
    writes=_writes,
    description="Render a prompt from state, call the tier, write the output",
)
def prompt_agent(env: NodeEnv) -> NodeFn:
    params: PromptParams = env.params
    template = params.template(env.spec.base_dir)
    constraint = params.constraint.build() if params.constraint else None
    assert env.model is not None

    def run(state: State) -> Update:
        messages = render(env, template, state)
        result = env.model.complete(  # type: ignore[union-attr]
            messages,
            constraint,
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            stop=params.stop,
        )
        value = result.value
        if isinstance(value, str) and params.strip:
            value = value.strip()
        return {params.output: value}

    return run
