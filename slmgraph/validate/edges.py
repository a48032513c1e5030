"""Edges: their ends are nodes, routers exist and take their params, and every label a router
can produce has a target (and every route a label it can produce)."""

from __future__ import annotations

from collections.abc import Iterator

from slmgraph._suggest import did_you_mean
from slmgraph.errors import SpecIssue
from slmgraph.spec import END, START, GraphSpec
from slmgraph.validate.params import impl as find_impl
from slmgraph.validate.params import params_issues


def check_edges(spec: GraphSpec) -> Iterator[SpecIssue]:
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
        impl, issues = find_impl("router", router_name, f"{path}.router", spec.imports)
        yield from issues
        if impl is None:
            continue
        context = {"base_dir": spec.base_dir}
        p_issues = params_issues(impl.params, edge.params, f"{path}.params", context)
        yield from p_issues
        if p_issues or impl.labels is None:
            continue
        labels = impl.labels(impl.params.model_validate(edge.params, context=context), spec)
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
