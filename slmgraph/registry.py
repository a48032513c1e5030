"""Registries of agent implementations, tools and routers, resolved by name from the spec.

The builder knows nothing about SQL or any task: it looks names up here. A new agent is a module
with a decorated factory plus a YAML line; a name of the form ``package.module:attribute`` is
imported instead, so users extend slmgraph without touching it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from slmgraph.spec import GraphSpec
    from slmgraph.tiers import ModelClient

State = Mapping[str, Any]
Update = dict[str, Any]
NodeFn = Callable[[State], Update]
RouterFn = Callable[[State], str]


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass
class NodeEnv:
    """What a node factory gets: its name, its (validated) params, its model client (agents only),
    the spec, and a prompt loader."""

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
    # For agents/tools: the state keys it writes, given params (for validation), or None.
    writes: Callable[[Any], list[str]] | None = None
    # For agents/tools: the state keys it reads, given params and the spec's folder, or None.
    # May raise FileNotFoundError (a prompt file) or ValueError (a malformed one).
    reads: Callable[[Any, Path | None], list[str]] | None = None
    # For agents that call other tiers: {param name: tier name} (checked against `tiers:`).
    tiers: Callable[[Any], dict[str, str]] | None = None
    # For routers: the labels it can produce, given params and the spec, or None if open-ended.
    labels: Callable[[Any, GraphSpec], set[str] | None] | None = None


AGENTS: dict[str, Impl] = {}
TOOLS: dict[str, Impl] = {}
ROUTERS: dict[str, Impl] = {}

_KINDS = {"agent": AGENTS, "tool": TOOLS, "router": ROUTERS}


def _register(
    kind: str, name: str, params: type[BaseModel] | None, description: str, **extra: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
        _KINDS[kind][name] = Impl(
            name,
            factory,
            params or NoParams,
            description or (factory.__doc__ or "").strip().split("\n")[0],
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


def load_builtins() -> None:
    """Import the built-in agents, tools and routers (each module registers itself)."""
    importlib.import_module("slmgraph.agents")
    importlib.import_module("slmgraph.tools")
    importlib.import_module("slmgraph.graphs.routing")


def lookup(kind: str, name: str) -> Impl:
    """Find a registered implementation, or import ``module:attribute``.

    Raises KeyError (unknown name) or ImportError/AttributeError (bad import path); the spec
    validator turns those into SpecIssues with the YAML path.
    """
    load_builtins()
    table = _KINDS[kind]
    if name in table:
        return table[name]
    if ":" in name:
        module_name, _, attr = name.partition(":")
        obj = getattr(importlib.import_module(module_name), attr)
        if isinstance(obj, Impl):
            return obj
        params = getattr(obj, "params_model", None) or NoParams
        return Impl(name, obj, params, (obj.__doc__ or "").strip().split("\n")[0])
    raise KeyError(name)


def known(kind: str) -> list[str]:
    load_builtins()
    return sorted(_KINDS[kind])
