"""The operator domain (Cradle-style): information gathering, self-reflection, task inference,
skill curation and action planning on model tiers, in a headless Chromium on MiniWoB++ pages;
the graph ``operator``.

Agents ``operator.information_gathering``, ``operator.self_reflection``,
``operator.task_inference``, ``operator.skill_curation``, ``operator.action_planning``,
``operator.react`` (the baseline); tools ``operator.observe``, ``operator.act``,
``operator.finish``; resources ``browser`` and ``skills``; prompts ``operator/*``.
"""

from __future__ import annotations

from slmgraph.plugins import Plugin

plugin = Plugin(
    name="operator",
    description="A Cradle-style operator on model tiers, in a headless Chromium (MiniWoB++)",
    modules=("slmgraph.tools.browser.nodes", "slmgraph.agents.operator"),
    prompts={"operator": "slmgraph.prompts/operator"},
    graphs={"operator": "slmgraph.graphs/operator.yaml"},
)
