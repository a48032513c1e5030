"""The operator's modules (Cradle-style): information gathering, self-reflection, task
inference, skill curation and action planning, each a node on a tier; and the plain
observe-act baseline. The browser and the skill store are tools (``tools/browser``)."""

from slmgraph.agents.operator import curation, gathering, inference, planning, react, reflection

__all__ = ["curation", "gathering", "inference", "planning", "react", "reflection"]
