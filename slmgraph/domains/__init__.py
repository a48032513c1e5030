"""The built-in domains, each declared as a :class:`slmgraph.plugins.Plugin` and registered
through the ``slmgraph.plugins`` entry-point group in ``pyproject.toml``, exactly like a third
party's plug-in. A domain's code lives in a subfolder of each layer it touches (``agents/sql/``,
``tools/sql/``, ``prompts/sql/``, ``eval/sql/``, ``cli/sql.py``); its module here only names it.
"""
