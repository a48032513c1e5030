"""Routers: functions from state to a route label, declared on edges in the spec."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from slmgraph.registry import RouterFn, State, register_router

if TYPE_CHECKING:
    from slmgraph.spec import GraphSpec


class FieldParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(description="State key whose value is the route label")


def _field_labels(params: FieldParams, spec: GraphSpec) -> set[str] | None:
    """Labels a `field` router can see: the choices of the agents that write its key."""
    from slmgraph.constraints.base import ConstraintSpec

    labels: set[str] = set()
    for node in spec.nodes.values():
        agent = spec.agents.get(node.agent or "")
        merged = {**(agent.params if agent else {}), **node.params}
        if merged.get("output") != params.key:
            continue
        raw = merged.get("constraint")
        try:
            cons = ConstraintSpec.model_validate(raw) if raw else None
        except ValueError:
            return None
        if cons is None or cons.choice is None:
            return None  # some writer is open-ended
        labels.update(cons.choice)
    return labels or None


@register_router(
    "field", FieldParams, labels=_field_labels, description="Route on the value of a state key"
)
def field_router(params: FieldParams) -> RouterFn:
    def route(state: State) -> str:
        value: Any = state.get(params.key)
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)

    return route
