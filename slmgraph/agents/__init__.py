"""Agents: nodes that call a model, one role per module.

``prompt`` (render a prompt from state, call the tier, write the parsed output) is the core's
generic agent; domains keep their roles in a subfolder each (``agents/sql/``), registered by
their plug-in (:mod:`slmgraph.plugins`). The core never imports a domain's agents.
"""
