"""Whole-graph validation, before anything runs: names, params, prompts, edges, loops.

Each check yields :class:`SpecIssue` s with the YAML path of the offender and, for unknown names,
the closest known one. :func:`validate_spec` returns them all (the loader raises one SpecError).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from slmgraph._suggest import did_you_mean
from slmgraph.errors import SpecIssue
from slmgraph.registry import Impl, known, lookup
from slmgraph.spec import END, START, GraphSpec


def validate_spec(spec: GraphSpec) -> list[SpecIssue]:
    issues: list[SpecIssue] = []
    issues += _check_tiers(spec)
    issues += _check_nodes(spec)
    issues += _check_edges(spec)
    if not any(i.path.startswith("edges") for i in issues):
        issues += _check_topology(spec)
    return issues


def params_issues(model: type[BaseModel], params: dict[str, Any], path: str) -> list[SpecIssue]:
    """Validate ``params`` against ``model``; issues carry ``path`` + the pydantic location."""
    try:
        model.model_validate(params)
    except ValidationError as exc:
        out = []
        for err in exc.errors(include_url=False):
            loc = ".".join(str(x) for x in err["loc"])
            where = f"{path}.{loc}" if loc else path
            if err["type"] == "extra_forbidden":
                key = str(err["loc"][-1])
                names = list(model.model_fields)
                out.append(
                    SpecIssue(
                        where, f"Unknown parameter {key!r}", did_you_mean(key, names, "parameters")
                    )
                )
            elif err["type"] == "missing":
                out.append(SpecIssue(where, f"Missing required parameter {str(err['loc'][-1])!r}"))
            else:
                msg = str(err["msg"]).removeprefix("Value error, ")
                out.append(SpecIssue(where, msg[:1].upper() + msg[1:]))
        return out
    return []


def _check_tiers(spec: GraphSpec) -> Iterator[SpecIssue]:
    from slmgraph.models.base import BACKENDS, settings_model

    for name, tier in spec.tiers.items():
        path = f"tiers.{name}"
        if tier.backend not in BACKENDS:
            yield SpecIssue(
                f"{path}.backend",
                f"Unknown backend {tier.backend!r}",
                did_you_mean(tier.backend, BACKENDS, "backends"),
            )
        else:
            yield from params_issues(
                settings_model(tier.backend), tier.settings, f"{path}.settings"
            )
            if tier.backend in ("llamacpp", "outlines"):
                yield from _check_model_ref(tier.model, f"{path}.model", spec.base_dir)
            elif tier.backend == "openai_compat" and not tier.model:
                yield SpecIssue(
                    f"{path}.model",
                    "An openai_compat tier needs the served model's name",
                    "Set `model:` to the name the server lists at /v1/models.",
                )
        if tier.fallback is not None and tier.fallback not in spec.tiers:
            yield SpecIssue(
                f"{path}.fallback",
                f"Unknown tier {tier.fallback!r}",
                did_you_mean(tier.fallback, [t for t in spec.tiers if t != name], "tiers"),
            )
    # Fallback cycles (slm -> llm -> slm) would retry forever.
    for name in spec.tiers:
        seen = [name]
        nxt = spec.tiers[name].fallback
        while nxt is not None and nxt in spec.tiers:
            if nxt in seen:
                yield SpecIssue(
                    f"tiers.{name}.fallback",
                    "Fallback cycle " + " -> ".join([*seen, nxt]),
                    "Remove one `fallback:` so the chain ends.",
                )
                break
            seen.append(nxt)
            nxt = spec.tiers[nxt].fallback
    if spec.defaults.tier is not None and spec.defaults.tier not in spec.tiers:
        yield SpecIssue(
            "defaults.tier",
            f"Unknown tier {spec.defaults.tier!r}",
            did_you_mean(spec.defaults.tier, spec.tiers, "tiers"),
        )


def _check_model_ref(model: str | None, path: str, base: Path | None) -> Iterator[SpecIssue]:
    from slmgraph.models.catalog import CATALOG

    if not model:
        yield SpecIssue(
            path, "A local tier needs a model", did_you_mean("", CATALOG, "catalog models")
        )
        return
    if model in CATALOG:
        return
    looks_like_path = model.endswith(".gguf") or "/" in model or model.startswith(".")
    if not looks_like_path:
        yield SpecIssue(
            path,
            f"Unknown model {model!r} (neither a catalog name nor a file path)",
            did_you_mean(model, CATALOG, "catalog models"),
        )
        return
    candidate = Path(model).expanduser()
    if not candidate.is_absolute() and base is not None:
        candidate = base / candidate
    if not candidate.exists() and not Path(model).expanduser().exists():
        yield SpecIssue(
            path,
            f"Model file {model!r} not found",
            "Give an existing path, or a catalog name (`slmgraph models list`).",
        )


def _impl(
    kind: str, name: str, path: str, extra_known: list[str] | None = None
) -> tuple[Impl | None, list[SpecIssue]]:
    try:
        return lookup(kind, name), []
    except KeyError:
        names = known(kind) + (extra_known or [])
        return None, [
            SpecIssue(path, f"Unknown {kind} {name!r}", did_you_mean(name, names, f"{kind}s"))
        ]
    except (ImportError, AttributeError) as exc:
        return None, [
            SpecIssue(
                path,
                f"Cannot import {kind} {name!r}: {exc}",
                "Use 'package.module:attribute' with an importable module.",
            )
        ]


def _check_nodes(spec: GraphSpec) -> Iterator[SpecIssue]:
    from slmgraph.tiers import resolve_tier

    fields = spec.state_fields()
    for aname, agent in spec.agents.items():
        _, issues = _impl("agent", agent.uses, f"agents.{aname}.uses")
        yield from issues
        if agent.tier is not None and agent.tier not in spec.tiers:
            yield SpecIssue(
                f"agents.{aname}.tier",
                f"Unknown tier {agent.tier!r}",
                did_you_mean(agent.tier, spec.tiers, "tiers"),
            )
    for name, node in spec.nodes.items():
        path = f"nodes.{name}"
        if name in (START, END):
            yield SpecIssue(path, f"{name!r} is reserved", "Rename the node.")
        params = dict(node.params)
        params_path = f"{path}.params"
        if node.agent is not None:
            if node.agent in spec.agents:
                agent = spec.agents[node.agent]
                impl, issues = _impl("agent", agent.uses, f"agents.{node.agent}.uses")
                params = {**agent.params, **node.params}
                if not node.params:
                    params_path = f"agents.{node.agent}.params"
                issues = []  # already reported under agents.*
            else:
                impl, issues = _impl("agent", node.agent, f"{path}.agent", list(spec.agents))
            yield from issues
            tier = resolve_tier(spec, name)
            if node.shadow is not None and node.shadow not in spec.tiers:
                yield SpecIssue(
                    f"{path}.shadow",
                    f"Unknown tier {node.shadow!r}",
                    did_you_mean(node.shadow, spec.tiers, "tiers"),
                )
            elif node.shadow is not None and node.shadow == tier:
                yield SpecIssue(
                    f"{path}.shadow",
                    f"The shadow tier {node.shadow!r} is the node's own tier",
                    "Shadow a candidate tier, or remove `shadow:` after promoting to it.",
                )
            if node.tier is not None and node.tier not in spec.tiers:
                yield SpecIssue(
                    f"{path}.tier",
                    f"Unknown tier {node.tier!r}",
                    did_you_mean(node.tier, spec.tiers, "tiers"),
                )
            elif (tier is None or tier not in spec.tiers) and (
                tier is None or tier == spec.defaults.tier
            ):
                yield SpecIssue(
                    f"{path}.tier",
                    "No tier for this agent node",
                    "Set `tier:` on the node or its agent, or `defaults.tier`.",
                )
        else:
            assert node.tool is not None
            impl, issues = _impl("tool", node.tool, f"{path}.tool")
            yield from issues
        if impl is not None:
            param_issues = params_issues(impl.params, params, params_path)
            yield from param_issues
            if not param_issues and impl.tiers is not None:
                for field_name, named in impl.tiers(impl.params.model_validate(params)).items():
                    if named not in spec.tiers:
                        yield SpecIssue(
                            f"{params_path}.{field_name}",
                            f"Unknown tier {named!r}",
                            did_you_mean(named, spec.tiers, "tiers"),
                        )
            if not param_issues and fields:
                parsed = impl.params.model_validate(params)
                yield from _check_state_keys(impl, parsed, fields, params_path, spec.base_dir)
        if node.on_limit is not None:
            if node.max_visits is None:
                yield SpecIssue(
                    f"{path}.on_limit",
                    "`on_limit` without `max_visits`",
                    "Set `max_visits: N` on the node.",
                )
            elif node.on_limit != END and node.on_limit not in spec.nodes:
                yield SpecIssue(
                    f"{path}.on_limit",
                    f"Unknown node {node.on_limit!r}",
                    did_you_mean(node.on_limit, [*spec.nodes, END], "nodes"),
                )


def _check_state_keys(
    impl: Impl, params: Any, fields: dict[str, Any], path: str, base: Path | None
) -> Iterator[SpecIssue]:
    for key in impl.writes(params) if impl.writes else []:
        if key not in fields:
            yield SpecIssue(
                f"{path}.output" if hasattr(params, "output") else path,
                f"Writes state key {key!r}, which `state:` does not declare",
                did_you_mean(key, fields, "state keys"),
            )
    reads: list[str] = []
    if impl.reads is not None:
        try:
            reads = impl.reads(params, base)
        except FileNotFoundError as exc:
            yield SpecIssue(
                f"{path}.prompt",
                f"Prompt {exc.args[0]!r} not found",
                _prompt_hint(str(exc.args[0])),
            )
            return
        except ValueError as exc:
            yield SpecIssue(f"{path}.prompt", str(exc))
            return
    for key in reads:
        if key not in fields:
            yield SpecIssue(
                path,
                f"Prompt uses {{{key}}}, which `state:` does not declare",
                did_you_mean(key, fields, "state keys"),
            )


def _prompt_hint(name: str) -> str:
    from slmgraph.prompts import builtin_prompts

    return did_you_mean(name, builtin_prompts(), "built-in prompts")


def _check_edges(spec: GraphSpec) -> Iterator[SpecIssue]:
    nodes = list(spec.nodes)
    targets = [*nodes, END]
    sources = [START, *nodes]
    for i, edge in enumerate(spec.edges):
        path = f"edges[{i}]"
        if edge.source not in sources:
            hint = (
                "END has no outgoing edges."
                if edge.source == END
                else did_you_mean(edge.source, sources, "nodes")
            )
            yield SpecIssue(f"{path}.from", f"Edge starts at unknown node {edge.source!r}", hint)
        if edge.to is not None and edge.to not in targets:
            hint = (
                "START cannot be a target."
                if edge.to == START
                else did_you_mean(edge.to, targets, "nodes")
            )
            yield SpecIssue(f"{path}.to", f"Edge ends at unknown node {edge.to!r}", hint)
        if edge.to is not None:
            continue
        for label, target in (edge.routes or {}).items():
            if target not in targets:
                yield SpecIssue(
                    f"{path}.routes.{label}",
                    f"Route {label!r} goes to unknown node {target!r}",
                    did_you_mean(target, targets, "nodes"),
                )
        if edge.default is not None and edge.default not in targets:
            yield SpecIssue(
                f"{path}.default",
                f"Unknown node {edge.default!r}",
                did_you_mean(edge.default, targets, "nodes"),
            )
        router_name = edge.router or "field"
        if edge.router is None and not edge.params:
            yield SpecIssue(
                f"{path}.router",
                "A routed edge needs a `router`",
                "e.g. `router: field` with `params: {key: <state key>}`.",
            )
            continue
        impl, issues = _impl("router", router_name, f"{path}.router")
        yield from issues
        if impl is None:
            continue
        p_issues = params_issues(impl.params, edge.params, f"{path}.params")
        yield from p_issues
        if p_issues or impl.labels is None:
            continue
        labels = impl.labels(impl.params.model_validate(edge.params), spec)
        if labels is None:
            continue
        routes = edge.routes or {}
        if edge.default is None:
            for label in sorted(labels - set(routes)):
                yield SpecIssue(
                    f"{path}.routes",
                    f"Route label {label!r} (a possible output of the router) has no target",
                    f"Add `{label}: <node>` to routes, or set `default:`.",
                )
        for label in sorted(set(routes) - labels):
            yield SpecIssue(
                f"{path}.routes.{label}",
                f"The router never produces label {label!r}",
                did_you_mean(label, labels, "labels"),
            )


def successors(spec: GraphSpec) -> dict[str, set[str]]:
    succ: dict[str, set[str]] = {n: set() for n in [START, *spec.nodes]}
    for edge in spec.edges:
        outs = {edge.to} if edge.to else {*(edge.routes or {}).values()}
        if edge.default:
            outs.add(edge.default)
        succ.setdefault(edge.source, set()).update(o for o in outs if o)
    for name, node in spec.nodes.items():
        if node.on_limit:
            succ[name].add(node.on_limit)
    return succ


def _check_topology(spec: GraphSpec) -> Iterator[SpecIssue]:
    succ = successors(spec)
    if not succ.get(START):
        yield SpecIssue(
            "edges",
            "No edge from START",
            f"Add `- {{from: START, to: {next(iter(spec.nodes), '<node>')}}}`.",
        )
        return
    static_from: dict[str, int] = {}
    routed_from: dict[str, int] = {}
    for i, edge in enumerate(spec.edges):
        (static_from if edge.to else routed_from).setdefault(edge.source, i)
    for src, i in routed_from.items():
        if src in static_from:
            yield SpecIssue(
                f"edges[{i}]",
                f"Node {src!r} has both a static edge (edges[{static_from[src]}]) and a router",
                "Both would run; keep one, or route to every target.",
            )
    reach: set[str] = set()
    stack = [START]
    while stack:
        cur = stack.pop()
        for nxt in succ.get(cur, ()):
            if nxt not in reach:
                reach.add(nxt)
                stack.append(nxt)
    for name in spec.nodes:
        if name not in reach:
            yield SpecIssue(
                f"nodes.{name}",
                f"Node {name!r} is unreachable from START",
                "Add an edge into it, or remove it.",
            )
        elif not succ.get(name):
            yield SpecIssue(
                f"nodes.{name}",
                f"Node {name!r} has no outgoing edge",
                f"Add `- {{from: {name}, to: END}}` if the run should end there.",
            )
    for component in _cycles(succ):
        if not any(spec.nodes[n].max_visits for n in component if n in spec.nodes):
            loop = " -> ".join(sorted(component))
            first = sorted(component)[0]
            yield SpecIssue(
                f"nodes.{first}",
                f"Loop without a bound ({loop})",
                f"Set `max_visits: N` and `on_limit: <node>` on one node of the loop, "
                f"e.g. nodes.{first}.",
            )


def _cycles(succ: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components that contain a cycle (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[set[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in succ.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1 or v in succ.get(v, ()):
                out.append(comp)

    for v in list(succ):
        if v not in index:
            visit(v)
    return out
