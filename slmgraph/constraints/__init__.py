"""Output constraints: what shape a node wants, compiled by each backend its own way."""

from slmgraph.constraints.base import Constraint, ConstraintSpec, check_output
from slmgraph.constraints.json_gbnf import json_schema_to_gbnf

__all__ = ["Constraint", "ConstraintSpec", "check_output", "json_schema_to_gbnf"]
