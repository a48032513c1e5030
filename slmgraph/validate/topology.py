"""Topology: every node reachable and with a way out, every loop bounded, and the longest run
the bounds allow within ``limits.max_steps`` (LangGraph's recursion limit), so that a valid spec
never dies of ``GraphRecursionError``.

Loops: every cycle must pass through a node with ``max_visits`` — equivalently, the graph
without its bounded nodes has no cycle. Steps: a strongly connected component C can be entered
once (the components form a DAG); inside it, the run visits bounded nodes at most
``B = sum(max_visits)`` times and, between two such visits, at most ``L`` unbounded nodes (the
longest path among C's unbounded nodes, which form a DAG). So C takes at most
``B + (B + 1) * L`` steps, and a run at most the heaviest path through the components.
Everything here is iterative: a spec of thousands of nodes cannot overflow the stack.
"""

from __future__ import annotations

from collections.abc import Iterator

from slmgraph.errors import SpecIssue
from slmgraph.spec import END, START, GraphSpec

#: LangGraph counts one step more than the nodes a run executes (measured on langgraph 1.2).
STEP_OVERHEAD = 1


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


def components(succ: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan's algorithm, iterative), sinks first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(succ):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(succ.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            advanced = False
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(succ.get(w, ())))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
            if low[v] == index[v]:
                comp: list[str] = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return out


def _has_cycle(comp: list[str], succ: dict[str, set[str]]) -> bool:
    return len(comp) > 1 or comp[0] in succ.get(comp[0], ())


def _longest_path(nodes: set[str], succ: dict[str, set[str]]) -> int:
    """Nodes on the longest path within ``nodes`` (a DAG there: checked by the caller)."""
    inner = {n: {m for m in succ.get(n, ()) if m in nodes} for n in nodes}
    order = [c[0] for c in components(inner)]  # sinks first: a topological order reversed
    best: dict[str, int] = {}
    for n in order:
        best[n] = 1 + max((best[m] for m in inner[n]), default=0)
    return max(best.values(), default=0)


def max_steps_needed(spec: GraphSpec) -> int:
    """An upper bound on the steps of one run, given the loops' bounds (see the module doc)."""
    succ = {k: {v for v in vs if v != END} for k, vs in successors(spec).items()}
    comps = components(succ)
    where = {n: i for i, comp in enumerate(comps) for n in comp}
    weight: list[int] = []
    for comp in comps:
        if not _has_cycle(comp, succ):
            weight.append(0 if comp == [START] else 1)
            continue
        bound = sum(spec.nodes[n].max_visits or 0 for n in comp if n in spec.nodes)
        free = {n for n in comp if n in spec.nodes and not spec.nodes[n].max_visits}
        weight.append(bound + (bound + 1) * _longest_path(free, succ))
    heaviest: list[int] = [0] * len(comps)
    for i, comp in enumerate(comps):  # sinks first, so successors are done
        nxt = {where[m] for n in comp for m in succ.get(n, ()) if where[m] != i}
        heaviest[i] = weight[i] + max((heaviest[j] for j in nxt), default=0)
    return heaviest[where[START]] if START in where else 0


def check_topology(spec: GraphSpec) -> Iterator[SpecIssue]:
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
    routed_twice = [e.source for e in spec.edges if e.to is None]
    for i, edge in enumerate(spec.edges):
        if edge.to is None and routed_twice.count(edge.source) > 1:
            yield SpecIssue(
                f"edges[{i}]",
                f"Node {edge.source!r} has more than one router",
                "Give a node one routed edge (its routes can go anywhere).",
            )
            break
    reach: set[str] = set()
    stack = [START]
    if spec.limits.on_budget in spec.nodes:  # any node may lead there, once a budget is spent
        stack.append(spec.limits.on_budget)
        reach.add(spec.limits.on_budget)
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
    unbounded = {
        n: {m for m in vs if m in spec.nodes and not spec.nodes[m].max_visits}
        for n, vs in succ.items()
        if n in spec.nodes and not spec.nodes[n].max_visits
    }
    loops = [c for c in components(unbounded) if _has_cycle(c, unbounded)]
    for comp in loops:
        loop = " -> ".join(comp)
        yield SpecIssue(
            f"nodes.{comp[0]}",
            f"Loop without a bound ({loop})",
            f"Set `max_visits: N` and `on_limit: <node>` on one node of every cycle, e.g. "
            f"nodes.{comp[0]}.",
        )
    if loops:
        return
    needed = max_steps_needed(spec) + STEP_OVERHEAD
    if needed > spec.limits.max_steps:
        bounded = sorted(n for n, node in spec.nodes.items() if node.max_visits)
        yield SpecIssue(
            "limits.max_steps",
            f"A run may take {needed} steps (the loop bounds allow it), more than "
            f"limits.max_steps ({spec.limits.max_steps}); LangGraph would stop it midway",
            f"Set `limits: {{max_steps: {needed}}}` or lower max_visits on "
            f"{', '.join(bounded) or 'the loops'}.",
        )
