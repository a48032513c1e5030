"""Whole-graph validation, before anything runs: tiers, nodes (names, params, prompts, state
keys), edges (targets, routers, labels) and topology (reachability, loops, step bounds).

Each check yields :class:`~slmgraph.errors.SpecIssue` s with the YAML path of the offender and,
for unknown names, the closest known one. :func:`validate_spec` returns them all (the loader
raises one SpecError). A spec that passes builds, and its runs end in a defined state.
"""

from __future__ import annotations

from slmgraph.errors import SpecIssue
from slmgraph.spec import GraphSpec
from slmgraph.validate.edges import check_edges
from slmgraph.validate.nodes import check_limits, check_nodes, check_state
from slmgraph.validate.params import params_issues
from slmgraph.validate.tiers import check_tiers
from slmgraph.validate.topology import check_topology, successors


def validate_spec(spec: GraphSpec) -> list[SpecIssue]:
    issues: list[SpecIssue] = []
    issues += check_state(spec)
    issues += check_tiers(spec)
    issues += check_nodes(spec)
    issues += check_edges(spec)
    issues += check_limits(spec)
    if not any(i.path.startswith(("edges", "nodes")) for i in issues):
        issues += check_topology(spec)
    return issues


__all__ = ["params_issues", "successors", "validate_spec"]
