"""Any constraint as GBNF, llama.cpp's grammar format (the in-process backend compiles every
constraint to it; a llama.cpp server takes it as its ``grammar`` field)."""

from __future__ import annotations

from slmgraph.constraints.base import Constraint
from slmgraph.constraints.json_gbnf import gbnf_literal, json_schema_to_gbnf
from slmgraph.constraints.regex_gbnf import regex_to_gbnf
from slmgraph.errors import ModelError


def constraint_to_gbnf(constraint: Constraint) -> str:
    """Compile any constraint to GBNF (llama.cpp's grammar format)."""
    if constraint.kind == "json_schema":
        return json_schema_to_gbnf(constraint.json_schema or {})
    if constraint.kind == "choice":
        return "root ::= " + " | ".join(gbnf_literal(c) for c in constraint.choices) + "\n"
    if constraint.kind == "grammar":
        if constraint.gbnf is None:
            raise ModelError(
                "llama.cpp needs a GBNF grammar (this constraint has only Lark)",
                kind="unsupported",
                backend="llamacpp",
            )
        return constraint.gbnf
    return regex_to_gbnf(constraint.regex or "")
