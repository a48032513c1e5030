"""Edge routers: functions from state to a route label, declared on edges in the spec.

``field`` routes on a state key (e.g. a label an SLM chose under a ``choice`` constraint),
``rules`` on keywords, a regex or the length of a text, ``classifier`` on P(slm succeeds) from a
model trained on logged outcomes (:mod:`slmgraph.routing.classifier`). Every parameter is checked
when the spec is validated (a regex that does not compile, a router model file that is missing
or unreadable), so a router can fail at run time only on the state it sees; a classifier that
cannot score routes to ``llm``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from slmgraph.constraints.base import ConstraintSpec
from slmgraph.errors import SlmgraphError
from slmgraph.registry import RouterFn, State, register_router
from slmgraph.routing.classifier import RouterModel

if TYPE_CHECKING:
    from slmgraph.spec import GraphSpec

logger = logging.getLogger(__name__)


class FieldParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(description="State key whose value is the route label")


def _field_labels(params: FieldParams, spec: GraphSpec) -> set[str] | None:
    """Labels a `field` router can see: the choices of the agents that write its key."""
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


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    route: str = Field(description="The label this rule routes to")
    match: str | None = Field(None, description="A regex searched in the text (case-insensitive)")

    @field_validator("match")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value, re.IGNORECASE)
            except (re.error, RecursionError, OverflowError) as exc:
                raise ValueError(f"invalid regex {value!r}: {exc}") from None
        return value

    contains: list[str] | None = Field(None, description="Any of these words (case-insensitive)")
    min_length: int | None = Field(None, ge=0, description="Text at least this many characters")
    max_length: int | None = Field(None, ge=0, description="Text at most this many characters")


class RulesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(description="State key whose text the rules look at")
    rules: list[Rule] = Field(description="Checked in order; the first rule that holds routes")
    default: str = Field(description="The label when no rule holds")


def _rules_labels(params: RulesParams, spec: GraphSpec) -> set[str]:
    return {r.route for r in params.rules} | {params.default}


@register_router(
    "rules",
    RulesParams,
    labels=_rules_labels,
    description="Route on keywords, a regex or the length of a state key's text",
)
def rules_router(params: RulesParams) -> RouterFn:
    compiled = [(r, re.compile(r.match, re.IGNORECASE) if r.match else None) for r in params.rules]

    def holds(rule: Rule, rx: Any, text: str) -> bool:
        if rx is not None and not rx.search(text):
            return False
        low = text.casefold()
        if rule.contains is not None and not any(w.casefold() in low for w in rule.contains):
            return False
        if rule.min_length is not None and len(text) < rule.min_length:
            return False
        return not (rule.max_length is not None and len(text) > rule.max_length)

    def route(state: State) -> str:
        text = str(state.get(params.key) or "")
        for rule, rx in compiled:
            if holds(rule, rx, text):
                return rule.route
        return params.default

    return route


class ClassifierParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(description="State key whose text the classifier reads")
    model: str = Field(description="Router model file from 'slmgraph router train'")
    threshold: float | None = Field(
        None, ge=0, le=1, description="Route to slm when P(slm succeeds) >= this (default: the "
        "model's, as set by 'slmgraph router calibrate --write')"
    )  # fmt: skip

    @field_validator("model")
    @classmethod
    def _relative_to_spec(cls, value: str, info: ValidationInfo) -> str:
        """A relative path is the spec folder's, like prompt files; the file must load."""
        base = (info.context or {}).get("base_dir")
        p = Path(value).expanduser()
        if not p.is_absolute() and base is not None and (Path(base) / p).exists():
            p = Path(base) / p
        try:
            RouterModel.load(p)
        except SlmgraphError as exc:
            raise ValueError(str(exc)) from None
        return str(p)


@register_router(
    "classifier",
    ClassifierParams,
    labels=lambda p, s: {"slm", "llm"},
    description="Route to 'slm' or 'llm' by a classifier trained on logged outcomes",
)
def classifier_router(params: ClassifierParams) -> RouterFn:
    model = RouterModel.load(params.model)
    threshold = params.threshold if params.threshold is not None else model.threshold

    def route(state: State) -> str:
        # A router failure must not crash the run: it routes to the large model, loudly.
        try:
            p = model.p_slm([str(state.get(params.key) or "")])[0]
        except Exception as exc:  # any failure routes to the safe side
            logger.warning("classifier router failed (%s): routing to llm", exc)
            return "llm"
        return "slm" if p >= threshold else "llm"

    return route
