"""Agent implementations (nodes that call a model), one role per module.

Importing this package registers the built-in agents.
"""

from slmgraph.agents import prompt, routing, sql  # noqa: F401  (register prompt, cascade, parallel, sql.*)
