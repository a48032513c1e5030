"""The state of a built graph: the spec's keys with their reducers, and the keys every run has
(``trace``, ``visits``, ``error``, ``failed_node``, ``budget``)."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from slmgraph.spec import RESERVED_STATE, GraphSpec

_PY_TYPES: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": list,
    "dict": dict,
    "any": Any,
}


def _merge_dicts(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any]:
    return {**(a or {}), **(b or {})}


def _add_counts(a: dict[str, int] | None, b: dict[str, int] | None) -> dict[str, int]:
    out = dict(a or {})
    for k, v in (b or {}).items():
        out[k] = out.get(k, 0) + v
    return out


def _append(a: list[Any] | None, b: list[Any] | Any) -> list[Any]:
    return [*(a or []), *(b if isinstance(b, list) else [b])]


#: Keys every graph's state has, besides the spec's own.
BUILTIN_STATE: dict[str, Any] = {
    "trace": Annotated[list, operator.add],
    "visits": Annotated[dict, _add_counts],
    "error": str | None,
    "failed_node": str | None,
    #: Set once a run's budget (``limits.max_tokens`` / ``max_cost_usd``) is spent: what ran out.
    "budget": dict | None,
}
assert set(BUILTIN_STATE) == RESERVED_STATE  # the validator refuses specs that redeclare them


def state_schema(spec: GraphSpec) -> type:
    fields: dict[str, Any] = {}
    for key, f in spec.state_fields().items():
        base = _PY_TYPES[f.type]
        if f.reducer == "append":
            fields[key] = Annotated[list, _append]
        elif f.reducer == "merge":
            fields[key] = Annotated[dict, _merge_dicts]
        else:
            fields[key] = base | None if base is not Any else Any
    for key, typ in BUILTIN_STATE.items():
        fields.setdefault(key, typ)
    cls_name = "".join(p.capitalize() for p in spec.name.replace("-", "_").split("_")) + "State"
    schema: type = TypedDict(cls_name, fields, total=False)  # type: ignore[misc]
    return schema
