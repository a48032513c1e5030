"""The graph spec: pydantic models (``extra="forbid"``) with a JSON Schema.

A spec declares *tiers* (backend + model + size class + generation settings + prices +
fallback), *agents* (reusable roles with a default tier), *nodes* (an agent or a tool, each on a
tier), *edges* (static or routed), the *state* the nodes share, and the Python modules it may
import (``imports:``). :func:`slmgraph.loader.load_spec` reads YAML into these models and then
validates the whole graph (:mod:`slmgraph.validate`) before anything runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_RE = r"^[A-Za-z_][A-Za-z0-9_\-]*$"
START = "START"
END = "END"
#: Names no node may take: slmgraph's and LangGraph's start and end.
RESERVED = frozenset({START, END, "__start__", "__end__"})
#: Keys every run's state has (the builder keeps them); a spec cannot redeclare them.
RESERVED_STATE = frozenset({"trace", "visits", "error", "failed_node", "budget"})
#: A module path in ``imports:`` (``package.module``).
MODULE_RE = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"

Name = Annotated[str, Field(pattern=NAME_RE)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Price(_Model):
    """Price of a tier in US dollars per one million tokens (for cost accounting)."""

    input_per_1m: float = Field(0.0, ge=0)
    output_per_1m: float = Field(0.0, ge=0)


class Generation(_Model):
    """Default generation settings of a tier; a node's params may override them per call."""

    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(256, ge=1)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: int | None = None
    stop: list[str] | None = None


TierSize = Literal["small", "large"]


class TierSpec(_Model):
    """A named model tier. ``settings`` are the backend's own (checked against its schema)."""

    backend: str = Field(description="llamacpp | openai_compat | langchain | outlines | scripted")
    model: str | None = Field(
        None, description="Catalog name, a file path, or the served model's name"
    )
    size: TierSize = Field(
        "large",
        description="The tier's size class: reports count calls on 'small' tiers as small-model "
        "calls (a tier is large unless it says so, so the small-model share is never overstated)",
    )
    settings: dict[str, Any] = Field(default_factory=dict)
    generation: Generation = Field(default_factory=Generation)
    price: Price = Field(default_factory=Price)
    fallback: str | None = Field(None, description="Tier to try when this one fails retryably")
    timeout_s: float = Field(120.0, gt=0, le=86_400)
    retries: int = Field(0, ge=0, le=5, description="Extra attempts on this tier before fallback")
    description: str | None = None


class AgentSpec(_Model):
    """A reusable role: an agent implementation with a default tier and default params."""

    uses: str = Field(description="Registered agent implementation, or 'module:factory'")
    tier: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    description: str | None = None


class NodeSpec(_Model):
    """A node runs an agent (on a tier) or a tool (no model)."""

    agent: str | None = Field(None, description="An agent from `agents:` or a registered one")
    tool: str | None = Field(None, description="A registered tool, or 'module:function'")
    tier: str | None = Field(None, description="Overrides the agent's and the graph's default")
    shadow: str | None = Field(
        None,
        description="A candidate tier run beside the node's tier on each call, in the "
        "background: its output is logged (never used), and its agreement with the answer is "
        "the evidence 'slmgraph promote' asks for before moving the node to it",
    )
    params: dict[str, Any] = Field(default_factory=dict)
    max_visits: int | None = Field(
        None, ge=1, le=1000, description="Bound for loops: after this many visits, go to `on_limit`"
    )
    on_limit: str | None = Field(None, description="Where to go once `max_visits` is reached")
    interrupt_before: bool = Field(False, description="Pause for a human before this node runs")
    description: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> NodeSpec:
        if (self.agent is None) == (self.tool is None):
            raise ValueError("a node needs exactly one of 'agent' or 'tool'")
        if self.tool is not None and self.tier is not None:
            raise ValueError("a tool node runs no model, so it takes no 'tier'")
        if self.tool is not None and self.shadow is not None:
            raise ValueError("a tool node runs no model, so it takes no 'shadow'")
        return self


def _label(key: Any) -> Any:
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key) if isinstance(key, int | float) else key


class EdgeSpec(_Model):
    """A static edge (``from``/``to``) or a routed one (``from``/``router``/``routes``)."""

    source: str = Field(alias="from")
    to: str | None = None
    router: str | None = Field(None, description="Registered router, or 'module:function'")
    params: dict[str, Any] = Field(default_factory=dict)
    routes: dict[str, str] | None = Field(None, description="Router label -> target node")
    default: str | None = Field(None, description="Target for labels not in `routes`")

    @field_validator("routes", mode="before")
    @classmethod
    def _label_keys(cls, value: Any) -> Any:
        """YAML reads ``true:``/``1:`` as a bool/int; route labels are the router's strings."""
        if isinstance(value, dict):
            return {_label(k): v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> EdgeSpec:
        if self.to is not None and (self.router or self.routes or self.default):
            raise ValueError("an edge has either 'to' or 'router'/'routes', not both")
        if self.to is None and self.routes is None and self.router is None:
            raise ValueError("an edge needs 'to', or 'router' with 'routes'")
        if self.to is None and not self.routes and self.default is None:
            raise ValueError("a routed edge needs 'routes' (label: node) or a 'default'")
        return self


StateType = Literal["str", "int", "float", "bool", "list", "dict", "any"]


class StateField(_Model):
    """A state key. ``reducer`` says how a node's update combines with the current value."""

    type: StateType = "any"
    reducer: Literal["replace", "append", "merge"] = "replace"
    description: str | None = None


class Defaults(_Model):
    tier: str | None = Field(None, description="Tier of agent nodes that name none")


class Limits(_Model):
    max_steps: int = Field(
        50,
        ge=1,
        le=10_000,
        description="LangGraph recursion limit for one run; validation checks that every loop "
        "bound (`max_visits`) fits in it",
    )
    max_tokens: int | None = Field(
        None,
        ge=1,
        description="Budget: model tokens (in + out, every tier) one run may use; checked after "
        "each node, so a run overshoots by at most one node's calls",
    )
    max_cost_usd: float | None = Field(
        None, gt=0, description="Budget: dollars one run may spend (tier prices), checked likewise"
    )
    on_budget: str | None = Field(
        None,
        description="Node the run goes to once a budget is spent (it should call no model: "
        "e.g. one that reports the best result so far); without it the run ends with an error",
    )


class CallLogSpec(_Model):
    enabled: bool = True
    path: str | None = Field(
        None,
        description="SQLite file or postgresql:// URL (keep passwords out of specs: prefer "
        "$SLMGRAPH_CALL_LOG); default: $SLMGRAPH_CALL_LOG or the XDG state dir",
    )


class GraphSpec(_Model):
    """A whole graph. See the README for a worked example."""

    version: Literal[1] = 1
    name: Name
    description: str | None = None
    imports: list[Annotated[str, Field(pattern=MODULE_RE)]] = Field(
        default_factory=list,
        description="Python modules (and their submodules) that 'module:attr' references in "
        "this spec may import; validation imports nothing else",
    )
    state: dict[Name, StateField | StateType] = Field(default_factory=dict)
    output: list[str] | None = Field(None, description="State keys to print as the result")
    tiers: dict[Name, TierSpec] = Field(default_factory=dict)
    defaults: Defaults = Field(default_factory=Defaults)
    agents: dict[Name, AgentSpec] = Field(default_factory=dict)
    nodes: dict[Name, NodeSpec]
    edges: list[EdgeSpec]
    limits: Limits = Field(default_factory=Limits)
    call_log: CallLogSpec = Field(default_factory=CallLogSpec)

    # Where the spec came from (not part of the YAML): prompt files are resolved next to it.
    source: str | None = Field(None, exclude=True, description="(set by the loader)")

    def state_fields(self) -> dict[str, StateField]:
        return {
            k: (v if isinstance(v, StateField) else StateField(type=v))
            for k, v in self.state.items()
        }

    @property
    def base_dir(self) -> Path | None:
        if self.source and not self.source.startswith("<"):
            return Path(self.source).resolve().parent
        return None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a spec file (for editors: `slmgraph schema > spec.schema.json`)."""
    schema = GraphSpec.model_json_schema(by_alias=True)
    schema["properties"].pop("source", None)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "slmgraph graph spec"
    return schema


def default_tiers() -> dict[str, dict[str, Any]]:
    """Tiers every spec has unless it defines its own of the same name: the catalog's defaults,
    in process. ``slm``: Qwen2.5-Coder-0.5B; ``llm``: Qwen2.5-Coder-1.5B (both Q4_K_M GGUF)."""
    return {
        "slm": {
            "backend": "llamacpp",
            "model": "qwen2.5-coder-0.5b-instruct-q4_k_m",
            "size": "small",
            "price": {"input_per_1m": 0.02, "output_per_1m": 0.06},
            "fallback": "llm",
        },
        "llm": {
            "backend": "llamacpp",
            "model": "qwen2.5-coder-1.5b-instruct-q4_k_m",
            "size": "large",
            "price": {"input_per_1m": 0.20, "output_per_1m": 0.60},
        },
    }
