"""Small general-purpose tools: render a template into a state key, set constant values."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from slmgraph.errors import RunError
from slmgraph.prompts import template_fields
from slmgraph.registry import NodeEnv, NodeFn, State, Update, register_tool


class TemplateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    template: str = Field(description="Python format string over state keys")
    output: str


def _template_reads(p: TemplateParams, base_dir: object = None) -> list[str]:
    return template_fields(p.template)  # PromptError (a ValueError) for a broken template


@register_tool(
    "template",
    TemplateParams,
    writes=lambda p: [p.output],
    reads=_template_reads,
    description="Render a format string over the state into a key",
)
def template_tool(env: NodeEnv) -> NodeFn:
    params: TemplateParams = env.params

    def run(state: State) -> Update:
        values = {k: ("" if v is None else v) for k, v in state.items()}
        try:
            return {params.output: params.template.format_map(values)}
        except KeyError as exc:
            raise RunError(f"template needs state key {exc.args[0]!r}", node=env.name) from None

    return run


class SetParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    values: dict[str, Any]


@register_tool(
    "set",
    SetParams,
    writes=lambda p: list(p.values),
    description="Write constant values into state keys",
)
def set_tool(env: NodeEnv) -> NodeFn:
    params: SetParams = env.params

    def run(state: State) -> Update:
        return dict(params.values)

    return run
