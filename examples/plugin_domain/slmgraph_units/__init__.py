"""Unit conversion as an slmgraph domain: a small model reads the quantity, a tool converts it."""

from slmgraph.plugins import Plugin

plugin = Plugin(
    name="units",
    description="Read a quantity from text (slm, JSON schema), convert it (no model)",
    modules=("slmgraph_units.nodes",),  # imported when the plug-in loads: they register
    prompts={"units": "slmgraph_units/prompts"},  # prompt files answer to units/<name>
    graphs={"convert": "slmgraph_units/convert.yaml"},  # slmgraph run convert ...
)
