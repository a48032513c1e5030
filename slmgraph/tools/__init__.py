"""Tools: nodes that run no model (formatting, lookups, guards, execution).

``basic`` (template, set) belongs to the core; domains keep their tools in a subfolder each
(``tools/sql/``), registered by their plug-in. The core never imports a domain's tools.
"""
