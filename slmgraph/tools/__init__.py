"""Tools: nodes that run no model (formatting, lookups, SQL execution...).

Importing this package registers the built-in tools.
"""

from slmgraph.tools import basic  # noqa: F401  (registers "template", "set")
from slmgraph.tools.sql import nodes  # noqa: F401  (registers "sql.*")
