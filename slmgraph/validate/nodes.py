"""Nodes and state: names, implementations, params, the tiers and validators params name,
prompts (they exist, parse, and use only known placeholders), and the state keys nodes touch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from slmgraph import registry
from slmgraph._suggest import did_you_mean
from slmgraph.errors import SpecIssue
from slmgraph.prompts import PromptError, load_prompt, prompt_hint
from slmgraph.registry import Impl
from slmgraph.spec import END, RESERVED, RESERVED_STATE, GraphSpec, StateField
from slmgraph.tiers import resolve_tier
from slmgraph.validate.params import impl as find_impl
from slmgraph.validate.params import params_issues


def check_state(spec: GraphSpec) -> Iterator[SpecIssue]:
    for key in spec.state:
        if key in RESERVED_STATE:
            yield SpecIssue(
                f"state.{key}",
                f"State key {key!r} is reserved (every run's state has it)",
                "Rename the key.",
            )
    fields = spec.state_fields()
    for i, key in enumerate(spec.output or []):
        if fields and key not in fields and key not in RESERVED_STATE:
            yield SpecIssue(
                f"output[{i}]",
                f"Output key {key!r} is not a state key",
                did_you_mean(key, fields, "state keys"),
            )


def _check_tier_name(path: str, name: str | None, spec: GraphSpec) -> Iterator[SpecIssue]:
    if name is not None and name not in spec.tiers:
        yield SpecIssue(path, f"Unknown tier {name!r}", did_you_mean(name, spec.tiers, "tiers"))


def check_nodes(spec: GraphSpec) -> Iterator[SpecIssue]:
    fields = spec.state_fields()
    for aname, agent in spec.agents.items():
        _, issues = find_impl("agent", agent.uses, f"agents.{aname}.uses", spec.imports)
        yield from issues
        yield from _check_tier_name(f"agents.{aname}.tier", agent.tier, spec)
    for name, node in spec.nodes.items():
        path = f"nodes.{name}"
        if name in RESERVED:
            yield SpecIssue(path, f"The node name {name!r} is reserved", "Rename the node.")
        params = dict(node.params)
        params_path = f"{path}.params"
        impl: Impl | None
        if node.agent is not None:
            if node.agent in spec.agents:
                agent = spec.agents[node.agent]
                impl, _ = find_impl("agent", agent.uses, f"agents.{node.agent}.uses", spec.imports)
                params = {**agent.params, **node.params}  # its own issues: under agents.*
                if not node.params:
                    params_path = f"agents.{node.agent}.params"
            else:
                impl, issues = find_impl(
                    "agent", node.agent, f"{path}.agent", spec.imports, list(spec.agents)
                )
                yield from issues
            yield from _check_agent_tiers(spec, name, path)
        else:
            assert node.tool is not None  # the NodeSpec model guarantees one of agent, tool
            impl, issues = find_impl("tool", node.tool, f"{path}.tool", spec.imports)
            yield from issues
        if impl is not None:
            yield from _check_params(spec, impl, params, params_path, fields)
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
            elif node.on_limit == name:
                yield SpecIssue(
                    f"{path}.on_limit", "A node cannot be its own `on_limit`", "Name another node."
                )


def _check_agent_tiers(spec: GraphSpec, name: str, path: str) -> Iterator[SpecIssue]:
    node = spec.nodes[name]
    tier = resolve_tier(spec, name)
    if node.shadow is not None and node.shadow not in spec.tiers:
        yield from _check_tier_name(f"{path}.shadow", node.shadow, spec)
    elif node.shadow is not None and node.shadow == tier:
        yield SpecIssue(
            f"{path}.shadow",
            f"The shadow tier {node.shadow!r} is the node's own tier",
            "Shadow a candidate tier, or remove `shadow:` after promoting to it.",
        )
    if node.tier is not None:
        yield from _check_tier_name(f"{path}.tier", node.tier, spec)
    elif tier is None or (tier not in spec.tiers and tier == spec.defaults.tier):
        yield SpecIssue(
            f"{path}.tier",
            "No tier for this agent node",
            "Set `tier:` on the node or its agent, or `defaults.tier`.",
        )


def _check_params(
    spec: GraphSpec, impl: Impl, params: dict[str, Any], path: str, fields: dict[str, StateField]
) -> Iterator[SpecIssue]:
    context = {"base_dir": spec.base_dir}
    issues = params_issues(impl.params, params, path, context)
    yield from issues
    if issues:
        return
    parsed = impl.params.model_validate(params, context=context)
    for field_name, named in (impl.tiers(parsed) if impl.tiers else {}).items():
        yield from _check_tier_name(f"{path}.{field_name}", named, spec)
    for field_name, named in (impl.validators(parsed) if impl.validators else {}).items():
        if named not in registry.VALIDATORS:
            yield SpecIssue(
                f"{path}.{field_name}",
                f"Unknown validator {named!r}",
                did_you_mean(named, registry.VALIDATORS, "validators"),
            )
    yield from _check_prompts(impl, parsed, path, fields, spec.base_dir)
    yield from _check_state_keys(impl, parsed, fields, path, spec.base_dir)


def _check_prompts(
    impl: Impl, params: Any, path: str, fields: dict[str, StateField], base: Path | None
) -> Iterator[SpecIssue]:
    """Prompts an agent loads itself: they exist, parse, and every placeholder is a state key
    or one the agent fills."""
    for field_name, name in (impl.prompts(params) if impl.prompts else {}).items():
        where = f"{path}.{field_name}"
        try:
            template = load_prompt(name, base)
        except FileNotFoundError:
            yield SpecIssue(where, f"Prompt {name!r} not found", prompt_hint(name))
            continue
        except PromptError as exc:
            yield SpecIssue(where, str(exc))
            continue
        if not fields:
            continue
        for key in template.placeholders():
            if key not in fields and key not in impl.prompt_vars:
                fills = ", ".join(sorted(impl.prompt_vars)) or "nothing"
                yield SpecIssue(
                    where,
                    f"Prompt {name!r} uses {{{key}}}, which `state:` does not declare and the "
                    f"agent does not fill (it fills: {fills})",
                    did_you_mean(key, [*fields, *impl.prompt_vars], "names"),
                )


def _check_state_keys(
    impl: Impl, params: Any, fields: dict[str, StateField], path: str, base: Path | None
) -> Iterator[SpecIssue]:
    if fields:
        for key in impl.writes(params) if impl.writes else []:
            if key not in fields:
                yield SpecIssue(
                    f"{path}.output" if hasattr(params, "output") else path,
                    f"Writes state key {key!r}, which `state:` does not declare",
                    did_you_mean(key, fields, "state keys"),
                )
    reads: list[str] = []
    if impl.reads is not None:
        where = f"{path}.prompt" if getattr(params, "prompt", None) else path
        try:
            reads = impl.reads(params, base)
        except FileNotFoundError as exc:
            name = str(exc.args[0]) if exc.args else "?"
            yield SpecIssue(where, f"Prompt {name!r} not found", prompt_hint(name))
            return
        except ValueError as exc:  # PromptError: a template that cannot be rendered
            yield SpecIssue(where, str(exc))
            return
    if not fields:
        return
    for key in reads:
        if key not in fields:
            yield SpecIssue(
                path,
                f"Uses state key {{{key}}}, which `state:` does not declare",
                did_you_mean(key, fields, "state keys"),
            )


__all__ = ["check_nodes", "check_state"]


def check_limits(spec: GraphSpec) -> Iterator[SpecIssue]:
    target = spec.limits.on_budget
    if target is None:
        return
    if spec.limits.max_tokens is None and spec.limits.max_cost_usd is None:
        yield SpecIssue(
            "limits.on_budget",
            "`on_budget` without a budget",
            "Set `limits.max_tokens` or `limits.max_cost_usd`.",
        )
    if target not in spec.nodes:
        yield SpecIssue(
            "limits.on_budget",
            f"Unknown node {target!r}",
            did_you_mean(target, list(spec.nodes), "nodes"),
        )
