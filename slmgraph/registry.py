"""The tables behind the names a spec uses, and the decorators that fill them.

The builder and the validator know nothing about SQL or any other task: they look names up here.
Nothing in this module imports an implementation. The core's generic components and every
plug-in fill the tables when :mod:`slmgraph.plugins` loads them; a plug-in module registers with
the decorators below, the same way whether it ships with slmgraph or with another package.

Tables (kind -> what a name resolves to):

- ``agent`` / ``tool``: node factories, ``factory(env: NodeEnv) -> NodeFn``;
- ``router``: ``factory(params) -> RouterFn`` (state -> route label);
- ``validator``: a task check a cascade applies to a small model's answer (``sql_executes``);
- ``resource``: a per-run resource a run's context opens on first use (a database, a sandbox;
  the table lives in :mod:`slmgraph.context`, which opens them);
- ``judge``: does a candidate's output agree with the teacher's (``slmgraph select``);
- ``shape``: a coarse class of an output, for balancing fine-tuning data;
- ``equivalence``: are two answers the same answer (votes, agreement, shadow evidence);
- prompt folders (namespace -> package folder) and built-in graphs (name -> package file);
- eval systems: what ``slmgraph eval BENCHMARK --system NAME`` runs, by benchmark.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from slmgraph.context import RESOURCES, Resource, RunContext

if TYPE_CHECKING:
    from slmgraph.spec import GraphSpec
    from slmgraph.tiers import ModelClient

State = Mapping[str, Any]
Update = dict[str, Any]
#: What a node runs: ``fn(state)`` or ``fn(state, ctx)`` with the run's :class:`RunContext`.
NodeFn = Callable[..., Update]
RouterFn = Callable[[State], str]


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass
class NodeEnv:
    """What a node factory gets: its name, its (validated) params, its model client (agents only),
    the spec, and a way to reach other tiers."""

    name: str
    params: Any
    spec: GraphSpec
    tier: str | None = None
    model: ModelClient | None = None
    #: A client for a tier by name (agents that combine tiers: cascade, parallel); the
    #: builder passes ``TierRegistry.model_client`` (``fallback=False``: that tier alone).
    models: Callable[..., ModelClient] | None = None


@dataclass
class Impl:
    """A registered agent, tool or router."""

    name: str
    factory: Callable[..., Any]
    params: type[BaseModel]
    description: str = ""
    #: Agents/tools: the state keys it writes, given params (for validation), or None.
    writes: Callable[[Any], list[str]] | None = None
    #: Agents/tools: the state keys it reads, given params and the spec's folder, or None.
    #: May raise FileNotFoundError (a prompt file) or ValueError (a malformed one).
    reads: Callable[[Any, Path | None], list[str]] | None = None
    #: Agents that call other tiers: {param name: tier name} (checked against ``tiers:``).
    tiers: Callable[[Any], dict[str, str]] | None = None
    #: Agents that apply validators: {param name: validator name} (checked against the registry).
    validators: Callable[[Any], dict[str, str]] | None = None
    #: Routers: the labels it can produce, given params and the spec, or None if open-ended.
    labels: Callable[[Any, GraphSpec], set[str] | None] | None = None
    #: Agents that load prompt files themselves: {param name: prompt name}, given params.
    prompts: Callable[[Any], dict[str, str]] | None = None
    #: Placeholders such an agent fills itself (a prompt's others must be state keys).
    prompt_vars: frozenset[str] = frozenset()
    #: The plug-in that registered it ("core" for the generic components).
    plugin: str = ""


@dataclass(frozen=True)
class Validator:
    """A task check on an answer: ``check(value, state, ctx)`` returns None when the answer
    passes, else why it fails (a cascade then escalates)."""

    name: str
    check: Callable[[Any, State, RunContext], str | None]
    description: str = ""
    reads: tuple[str, ...] = ()
    plugin: str = ""


@dataclass(frozen=True)
class Judge:
    """Agreement of a candidate with the teacher on one curated example (``slmgraph select``):
    ``applies(example)`` says whether this judge knows the example's task."""

    name: str
    applies: Callable[[dict[str, Any]], bool]
    agree: Callable[[dict[str, Any], str, float], bool]
    plugin: str = ""


AGENTS: dict[str, Impl] = {}
TOOLS: dict[str, Impl] = {}
ROUTERS: dict[str, Impl] = {}
VALIDATORS: dict[str, Validator] = {}
JUDGES: dict[str, Judge] = {}
#: Output -> a coarse class of it (e.g. ``sql``: join / subquery / group / plain).
SHAPES: dict[str, Callable[[str], str]] = {}
#: ``same(a, b) -> bool | None``: True/False when it knows the kind of answer, None otherwise.
EQUIVALENCES: dict[str, Callable[[str, str], bool | None]] = {}
#: Prompt namespace -> "package/folder" (``importlib.resources``); names are ``ns/stem``.
PROMPTS: dict[str, str] = {}
#: Built-in graph name -> "package/file.yaml".
GRAPHS: dict[str, str] = {}
#: Benchmark -> system name -> ``factory(n_threads) -> system`` (``slmgraph eval B --system``).
EVAL_SYSTEMS: dict[str, dict[str, Callable[[int | None], Any]]] = {}

_KINDS: dict[str, dict[str, Impl]] = {"agent": AGENTS, "tool": TOOLS, "router": ROUTERS}

#: The plug-in whose modules are being imported (set by slmgraph.plugins while it loads one).
current_plugin: list[str] = []


def _owner() -> str:
    return current_plugin[-1] if current_plugin else ""


def _register(
    kind: str, name: str, params: type[BaseModel] | None, description: str, **extra: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
        _KINDS[kind][name] = Impl(
            name,
            factory,
            params or NoParams,
            description or (factory.__doc__ or "").strip().split("\n")[0],
            plugin=_owner(),
            **extra,
        )
        return factory

    return deco


def register_agent(
    name: str, params: type[BaseModel] | None = None, description: str = "", **extra: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``factory(env: NodeEnv) -> NodeFn`` as an agent implementation."""
    return _register("agent", name, params, description, **extra)


def register_tool(
    name: str, params: type[BaseModel] | None = None, description: str = "", **extra: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``factory(env: NodeEnv) -> NodeFn`` as a tool (a node that runs no model)."""
    return _register("tool", name, params, description, **extra)


def register_router(
    name: str, params: type[BaseModel] | None = None, description: str = "", **extra: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``factory(params) -> RouterFn`` as a router (state -> label)."""
    return _register("router", name, params, description, **extra)


def register_validator(
    name: str, *, description: str = "", reads: Sequence[str] = ()
) -> Callable[[Callable[..., str | None]], Callable[..., str | None]]:
    """Register ``check(value, state, ctx) -> None | reason`` as a cascade validator."""

    def deco(fn: Callable[..., str | None]) -> Callable[..., str | None]:
        doc = description or (fn.__doc__ or "").strip().split("\n")[0]
        VALIDATORS[name] = Validator(name, fn, doc, tuple(reads), _owner())
        return fn

    return deco


def register_resource(
    name: str,
    open: Callable[[State], Any],
    close: Callable[[Any], None] | None = None,
    *,
    description: str = "",
    reads: Sequence[str] = (),
) -> None:
    """Register a per-run resource (see :class:`slmgraph.context.RunContext`)."""
    RESOURCES[name] = Resource(name, open, close, description, tuple(reads), _owner())


def register_judge(
    name: str,
    applies: Callable[[dict[str, Any]], bool],
    agree: Callable[[dict[str, Any], str, float], bool],
) -> None:
    """Register how ``slmgraph select`` scores a candidate on examples of one kind of task."""
    JUDGES[name] = Judge(name, applies, agree, _owner())


def register_shape(name: str, shape: Callable[[str], str]) -> None:
    """Register an output classifier for ``slmgraph finetune --balance-by NAME``."""
    SHAPES[name] = shape


def register_equivalence(name: str, same: Callable[[str, str], bool | None]) -> None:
    """Register a rule for "same answer" of one kind (e.g. SQL equal after normalisation)."""
    EQUIVALENCES[name] = same


def register_eval_system(benchmark: str, name: str, factory: Callable[[int | None], Any]) -> None:
    """A system ``slmgraph eval BENCHMARK --system NAME`` can run (``factory(n_threads)``)."""
    EVAL_SYSTEMS.setdefault(benchmark, {})[name] = factory


def register_prompts(namespace: str, folder: str) -> None:
    """Prompt files in ``folder`` ("package/sub/folder") answer to ``namespace/<file stem>``."""
    PROMPTS[namespace] = folder


def register_graph(name: str, file: str) -> None:
    """A built-in graph ``name`` read from ``file`` ("package/file.yaml")."""
    GRAPHS[name] = file


def table(kind: str) -> dict[str, Impl]:
    return _KINDS[kind]


class UndeclaredImport(LookupError):
    """A ``module:attr`` reference whose module the spec does not list under ``imports:``."""

    def __init__(self, module: str) -> None:
        super().__init__(module)
        self.module = module


def declared(module: str, imports: Sequence[str]) -> bool:
    """Is ``module`` one of ``imports`` or inside one of them (``pkg`` covers ``pkg.mod``)?"""
    return any(module == m or module.startswith(m + ".") for m in imports)


def import_ref(name: str, imports: Sequence[str]) -> Any:
    """The object ``module:attr`` names, importing the module only if ``imports`` declares it.

    Raises :class:`UndeclaredImport` without importing anything otherwise; ImportError,
    AttributeError or whatever the module raises while it is imported propagate.
    """
    module_name, _, attr = name.partition(":")
    if not module_name or not attr:
        raise ValueError(f"{name!r} is not of the form 'package.module:attribute'")
    if not declared(module_name, imports):
        raise UndeclaredImport(module_name)
    obj = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def find(kind: str, name: str, imports: Sequence[str] = ()) -> Impl:
    """A registered implementation, or the one ``module:attribute`` names (imported only when
    the spec declares the module in ``imports:``).

    Callers load the plug-ins first (:func:`slmgraph.plugins.lookup` does). Raises KeyError (an
    unknown name), :class:`UndeclaredImport`, or what importing the module raises.
    """
    tab = _KINDS[kind]
    if name in tab:
        return tab[name]
    if ":" in name:
        obj = import_ref(name, imports)
        if isinstance(obj, Impl):
            return obj
        if not callable(obj):
            raise TypeError(f"{name!r} is a {type(obj).__name__}, not a factory function")
        params = getattr(obj, "params_model", None) or NoParams
        return Impl(name, obj, params, (obj.__doc__ or "").strip().split("\n")[0])
    raise KeyError(name)


__all__ = [
    "AGENTS",
    "EQUIVALENCES",
    "EVAL_SYSTEMS",
    "GRAPHS",
    "JUDGES",
    "PROMPTS",
    "RESOURCES",
    "ROUTERS",
    "SHAPES",
    "TOOLS",
    "VALIDATORS",
    "Impl",
    "Judge",
    "NoParams",
    "NodeEnv",
    "NodeFn",
    "Resource",
    "RouterFn",
    "RunContext",
    "State",
    "UndeclaredImport",
    "Update",
    "Validator",
    "declared",
    "find",
    "import_ref",
    "register_agent",
    "register_equivalence",
    "register_eval_system",
    "register_graph",
    "register_judge",
    "register_prompts",
    "register_resource",
    "register_router",
    "register_shape",
    "register_tool",
    "register_validator",
    "table",
]
