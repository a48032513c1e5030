"""The software team's roles (MetaGPT-style): product manager, architect, QA (tests from the
requirements), engineer and debug. Each is one module; all write under a constraint."""

from slmgraph.agents.team import architect, engineer, product_manager, qa

__all__ = ["architect", "engineer", "product_manager", "qa"]
