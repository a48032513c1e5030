"""The graph spec: pydantic models (``extra="forbid"``) loaded from YAML, with a JSON Schema.

A spec declares *tiers* (backend + model + generation settings + prices + fallback), *agents*
(reusable roles with a default tier), *nodes* (an agent or a tool, each on a tier), *edges*
(static or routed) and the *state* the nodes share. :func:`load_spec` parses YAML, validates the
shape with pydantic and then the whole graph (names, reachability, loops, prompts) before anything
runs; every problem becomes a :class:`~slmgraph.errors.SpecIssue` naming its YAML path.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from slmgraph.errors import SpecError, SpecIssue

NAME_RE = r"^[A-Za-z_][A-Za-z0-9_\-]*$"
START = "START"
END = "END"
RESERVED = frozenset({START, END, "__start__", "__end__"})

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


class TierSpec(_Model):
    """A named model tier. ``settings`` are the backend's own (checked against its schema)."""

    backend: str = Field(description="llamacpp | openai_compat | langchain | outlines | scripted")
    model: str | None = Field(
        None, description="Catalog name, a file path, or the served model's name"
    )
    settings: dict[str, Any] = Field(default_factory=dict)
    generation: Generation = Field(default_factory=Generation)
    price: Price = Field(default_factory=Price)
    fallback: str | None = Field(None, description="Tier to try when this one fails retryably")
    timeout_s: float = Field(120.0, gt=0)
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
        None, ge=1, description="Bound for loops: after this many visits, go to `on_limit`"
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


class EdgeSpec(_Model):
    """A static edge (``from``/``to``) or a routed one (``from``/``router``/``routes``)."""

    source: str = Field(alias="from")
    to: str | None = None
    router: str | None = Field(None, description="Registered router, or 'module:function'")
    params: dict[str, Any] = Field(default_factory=dict)
    routes: dict[str, str] | None = Field(None, description="Router label -> target node")
    default: str | None = Field(None, description="Target for labels not in `routes`")

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
    max_steps: int = Field(50, ge=1, description="LangGraph recursion limit for one run")


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


# ---------------------------------------------------------------------------------------------
# Loading


def load_spec(
    source: str | Path | dict[str, Any],
    *,
    validate: bool = True,
    tier_overrides: dict[str, Any] | None = None,
) -> GraphSpec:
    """Load a spec from a YAML file path, a YAML string or a dict, and validate the whole graph.

    ``tier_overrides`` (or the YAML file named by ``$SLMGRAPH_TIERS``) replaces tiers by name, so
    the same spec runs on scripted models in tests or on a server in production.

    Raises :class:`SpecError` listing every problem with its YAML path.
    """
    import os

    lines: dict[str, int] = {}
    origin: str
    if isinstance(source, dict):
        data: Any = source
        origin = "<dict>"
    else:
        text, origin = _read_text(source)
        data, lines = _parse_yaml(text, origin)
    if not isinstance(data, dict):
        raise SpecError.single("", "A spec must be a YAML mapping", source=origin)

    overrides = dict(tier_overrides or {})
    env_file = os.environ.get("SLMGRAPH_TIERS")
    if env_file and not tier_overrides:
        env_text, env_origin = _read_text(Path(env_file))
        env_data, _ = _parse_yaml(env_text, env_origin)
        if not isinstance(env_data, dict):
            raise SpecError.single(
                "", "SLMGRAPH_TIERS must name a YAML mapping of tiers", source=env_origin
            )
        overrides = env_data.get("tiers", env_data)
    if overrides:
        data = dict(data)
        data["tiers"] = {**(data.get("tiers") or {}), **overrides}

    data = dict(data)
    data.setdefault("tiers", {})
    if isinstance(data["tiers"], dict):
        for name, tier in default_tiers().items():
            data["tiers"].setdefault(name, tier)
    try:
        spec = GraphSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_issues_from_pydantic(exc, data), origin) from None
    spec.source = origin
    if validate:
        from slmgraph.validate import validate_spec

        issues = validate_spec(spec)
        if issues:
            raise SpecError(_with_lines(issues, lines), origin)
    return spec


def default_tiers() -> dict[str, dict[str, Any]]:
    """Tiers every spec has unless it defines its own of the same name: the catalog's defaults,
    in process. ``slm``: Qwen2.5-Coder-0.5B; ``llm``: Qwen2.5-Coder-1.5B (both Q4_K_M GGUF)."""
    return {
        "slm": {
            "backend": "llamacpp",
            "model": "qwen2.5-coder-0.5b-instruct-q4_k_m",
            "price": {"input_per_1m": 0.02, "output_per_1m": 0.06},
            "fallback": "llm",
        },
        "llm": {
            "backend": "llamacpp",
            "model": "qwen2.5-coder-1.5b-instruct-q4_k_m",
            "price": {"input_per_1m": 0.20, "output_per_1m": 0.60},
        },
    }


def _read_text(source: str | Path) -> tuple[str, str]:
    if isinstance(source, Path) or (
        isinstance(source, str) and "\n" not in source and source.endswith((".yaml", ".yml"))
    ):
        path = Path(source)
        if not path.exists():
            builtin = _builtin_path(path.name)
            if builtin is None:
                raise SpecError.single(
                    "",
                    f"Spec file {str(path)!r} not found",
                    "Give a path to a YAML file or a built-in graph name.",
                )
            path = builtin
        return path.read_text(encoding="utf-8"), str(path)
    if isinstance(source, str) and "\n" not in source and ":" not in source:
        builtin = _builtin_path(source)
        if builtin is not None:
            return builtin.read_text(encoding="utf-8"), str(builtin)
        from slmgraph._suggest import did_you_mean

        raise SpecError.single(
            "",
            f"No spec file or built-in graph named {source!r}",
            did_you_mean(source, builtin_graphs(), "built-in graphs"),
        )
    return str(source), "<string>"


def builtin_graphs() -> list[str]:
    """Names of the graphs shipped in ``slmgraph/graphs/*.yaml``."""
    folder = Path(__file__).parent / "graphs"
    return sorted(p.stem for p in folder.glob("*.yaml"))


def _builtin_path(name: str) -> Path | None:
    stem = name[:-5] if name.endswith(".yaml") else name
    path = Path(__file__).parent / "graphs" / f"{stem}.yaml"
    return path if path.exists() else None


def _parse_yaml(text: str, origin: str) -> tuple[Any, dict[str, int]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError.single(
            "", f"YAML syntax error {where}: {problem}".strip(), source=origin
        ) from None
    lines: dict[str, int] = {}
    if node is not None:
        _collect_lines(node, "", lines)
    return data, lines


def _collect_lines(node: yaml.Node, path: str, out: dict[str, int]) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = f"{path}.{key.value}" if path else str(key.value)
            out[child] = key.start_mark.line + 1
            _collect_lines(value, child, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            child = f"{path}[{i}]"
            out[child] = value.start_mark.line + 1
            _collect_lines(value, child, out)


def _with_lines(issues: list[SpecIssue], lines: dict[str, int]) -> list[SpecIssue]:
    if not lines:
        return issues
    out = []
    for issue in issues:
        line = lines.get(issue.path)
        if line is None:
            # Fall back to the nearest enclosing path that has a line.
            parent = issue.path
            while parent and line is None:
                parent = re.sub(r"(\.[^.\[]*|\[\d+\])$", "", parent)
                line = lines.get(parent)
        hint = issue.hint
        if line is not None:
            hint = f"(line {line}){' ' + hint if hint else ''}"
        out.append(SpecIssue(issue.path, issue.message, hint))
    return out


# ---------------------------------------------------------------------------------------------
# pydantic errors -> SpecIssues with YAML paths


def _loc_to_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def _fields_at(loc: tuple[int | str, ...]) -> list[str]:
    """Field names (by alias) of the model found at ``loc`` in GraphSpec, for suggestions."""
    from typing import get_args, get_origin

    current: Any = GraphSpec
    for item in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            by_alias = {(f.alias or n): f for n, f in current.model_fields.items()}
            field = by_alias.get(str(item))
            if field is None:
                return []
            current = field.annotation
        else:
            # dict[str, X] / list[X] / X | None / Annotated: step into the value type.
            args = [a for a in get_args(current) if a is not type(None)]
            origin = get_origin(current)
            if origin is dict and len(args) == 2:
                current = args[1]
            elif origin is list and args:
                current = args[0]
            else:
                models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
                if not models:
                    return []
                current = models[0]
                # loc item was consumed by the union branch tag; try again on the model.
                by_alias = {(f.alias or n): f for n, f in current.model_fields.items()}
                if str(item) in by_alias:
                    current = by_alias[str(item)].annotation
        while True:
            args = [a for a in get_args(current) if a is not type(None)]
            if get_origin(current) is Annotated or (
                len(args) == 1 and get_origin(current) not in (dict, list)
            ):
                current = args[0]
            else:
                break
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [(f.alias or n) for n, f in current.model_fields.items() if n != "source"]
    models = [a for a in get_args(current) if isinstance(a, type) and issubclass(a, BaseModel)]
    if models:
        return [(f.alias or n) for n, f in models[0].model_fields.items()]
    return []


def _issues_from_pydantic(exc: ValidationError, data: Any) -> list[SpecIssue]:
    from slmgraph._suggest import did_you_mean

    issues: list[SpecIssue] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        # Unions report each branch; drop the branch tag ("StateField", "literal[...]").
        loc = tuple(
            x
            for x in loc
            if not (
                isinstance(x, str)
                and (x[:1].isupper() or x.startswith(("literal[", "function-after", "str")))
            )
        )
        path = _loc_to_path(loc)
        etype = err["type"]
        if etype == "extra_forbidden":
            key = str(loc[-1])
            known = _fields_at(loc[:-1])
            issue = SpecIssue(path, f"Unknown field {key!r}", did_you_mean(key, known, "fields"))
        elif etype == "missing":
            issue = SpecIssue(path, f"Missing required field {str(loc[-1])!r}")
        elif etype == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            got = err.get("input")
            hint = None
            if isinstance(got, str):
                options = re.findall(r"'([^']*)'", str(expected))
                hint = did_you_mean(got, options, "values")
            issue = SpecIssue(path, f"Invalid value {got!r}; expected {expected}", hint)
        elif etype == "string_pattern_mismatch":
            issue = SpecIssue(
                path,
                f"Invalid name {err.get('input')!r}",
                "Names use letters, digits, '_' and '-', and start with a letter.",
            )
        elif etype == "value_error":
            msg = str(err["msg"]).removeprefix("Value error, ")
            issue = SpecIssue(path, msg[:1].upper() + msg[1:])
        else:
            got = err.get("input")
            shown = json.dumps(got, default=str)[:80] if not isinstance(got, dict) else "a mapping"
            issue = SpecIssue(path, f"{err['msg']} (got {shown})")
        key2 = (issue.path, issue.message)
        if key2 not in seen:
            seen.add(key2)
            issues.append(issue)
    return issues
