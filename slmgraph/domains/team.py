"""The software team domain (MetaGPT-style): product manager, architect, engineer, QA and
debug on model tiers, the code sandbox, the graph ``software_team``.

Agents ``team.product_manager``, ``team.architect``, ``team.qa``, ``team.engineer``,
``team.debug``; tools ``team.run_tests``, ``team.finish``; the run's code sandbox as the
resource ``sandbox``; prompts ``team/*``.
"""

from __future__ import annotations

from slmgraph.plugins import Plugin

plugin = Plugin(
    name="team",
    description="A MetaGPT-style software team on model tiers, with a code sandbox",
    modules=("slmgraph.tools.code.nodes", "slmgraph.agents.team"),
    prompts={"team": "slmgraph.prompts/team"},
    graphs={"software_team": "slmgraph.graphs/software_team.yaml"},
)
