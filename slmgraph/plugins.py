"""Plug-ins: how domains (the query-writer, a third party's) add agents, tools, prompts, graphs
and commands to slmgraph without the core importing them.

A plug-in is a :class:`Plugin` found through the ``slmgraph.plugins`` entry-point group (the
way pytest finds ``pytest11`` plug-ins), named in ``$SLMGRAPH_PLUGINS`` (comma-separated
``module:attribute``, for code that is not packaged), or handed to :func:`register_plugin`.
The built-in domains register through the entry-point group in ``pyproject.toml`` exactly like
a third party's::

    [project.entry-points."slmgraph.plugins"]
    sql = "slmgraph.domains.sql:plugin"

Loading a plug-in imports its ``modules`` (which register with the decorators of
:mod:`slmgraph.registry`) and records its prompt folders and graph files; its command-line hook
is imported only by the CLI. A plug-in that fails to load is reported once on stderr and left
out: names it would have provided are then unknown, and the error says why.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points

# The core's generic components register themselves on import (they are not a domain).
from slmgraph import registry
from slmgraph.agents import prompt as _prompt_agent  # noqa: F401
from slmgraph.registry import Impl
from slmgraph.routing import cascade as _cascade  # noqa: F401
from slmgraph.routing import edges as _edges  # noqa: F401
from slmgraph.routing import parallel as _parallel  # noqa: F401
from slmgraph.tools import basic as _basic  # noqa: F401

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "slmgraph.plugins"
ENV = "SLMGRAPH_PLUGINS"


@dataclass(frozen=True)
class Plugin:
    """What a domain adds. Everything is named by string so that loading stays cheap: nothing
    is imported until the plug-in is activated, and the CLI hook only by the CLI.

    - ``modules``: imported on activation; they register agents, tools, routers, validators,
      resources, judges, shapes and equivalences with :mod:`slmgraph.registry`'s decorators.
    - ``prompts``: ``{namespace: "package/folder"}``; a file ``write.yaml`` in it is the prompt
      ``namespace/write``.
    - ``graphs``: ``{name: "package/file.yaml"}``, built-in graphs (``slmgraph run NAME``).
    - ``cli``: ``"module:function"``; ``function(commands)`` adds subcommands (see
      :class:`slmgraph.cli.Commands`).
    """

    name: str
    description: str = ""
    modules: tuple[str, ...] = ()
    prompts: dict[str, str] = field(default_factory=dict)
    graphs: dict[str, str] = field(default_factory=dict)
    cli: str | None = None


#: The core: generic agents (prompt, cascade, parallel), tools (template, set), routers, and
#: the triage example graph.
CORE = Plugin(
    "core",
    "Generic agents, tools and routers; the triage example graph",
    prompts={"triage": "slmgraph.prompts/triage"},
    graphs={"triage": "slmgraph.graphs/triage.yaml"},
)

_lock = threading.RLock()
_state = {"loaded": False, "loading": False}
_active: dict[str, Plugin] = {}
_failed: dict[str, str] = {}


def _entry_points() -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        # The same distribution can be visible twice (an editable install beside a wheel);
        # the first on sys.path wins, as for imports.
        seen.setdefault(ep.name, ep.value)
    return sorted(seen.items())


def _resolve(ref: str) -> Plugin:
    module_name, _, attr = ref.partition(":")
    obj: object = importlib.import_module(module_name)
    for part in (attr or "plugin").split("."):
        obj = getattr(obj, part)
    if callable(obj) and not isinstance(obj, Plugin):
        obj = obj()
    if not isinstance(obj, Plugin):
        raise TypeError(f"{ref} is a {type(obj).__name__}, not a slmgraph.plugins.Plugin")
    return obj


def _activate(plugin: Plugin, origin: str) -> None:
    if plugin.name in _active:
        if _active[plugin.name] != plugin:
            logger.warning(
                "plug-in %r from %s ignored: one of that name is loaded", plugin.name, origin
            )
        return
    registry.current_plugin.append(plugin.name)
    try:
        for module in plugin.modules:
            importlib.import_module(module)
    finally:
        registry.current_plugin.pop()
    for namespace, folder in plugin.prompts.items():
        registry.register_prompts(namespace, folder)
    for name, file in plugin.graphs.items():
        registry.register_graph(name, file)
    _active[plugin.name] = plugin


def _claim_unowned(name: str) -> None:
    for table in (registry.AGENTS, registry.TOOLS, registry.ROUTERS):
        for impl in table.values():
            impl.plugin = impl.plugin or name


def _fail(name: str, origin: str, exc: BaseException) -> None:
    reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    _failed[name] = f"{reason} (from {origin})"
    print(
        f"slmgraph: plug-in {name!r} could not be loaded ({reason}); what it provides is "
        "unavailable",
        file=sys.stderr,
    )


def ensure_loaded() -> None:
    """Activate the core and every plug-in found (once per process)."""
    if _state["loaded"]:
        return
    with _lock:
        if _state["loaded"] or _state["loading"]:
            return  # a plug-in module that looks a name up while it loads sees what is there
        _state["loading"] = True
        try:
            _activate(CORE, "slmgraph")
            _claim_unowned(CORE.name)  # the generic components registered on import
            refs = [(n, v, f"entry point {n} = {v}") for n, v in _entry_points()]
            for ref in filter(None, (r.strip() for r in os.environ.get(ENV, "").split(","))):
                refs.append((ref, ref, f"${ENV}"))
            for name, ref, origin in refs:
                try:
                    _activate(_resolve(ref), origin)
                except Exception as exc:  # a broken plug-in must not take the others down
                    _fail(name, origin, exc)
            _state["loaded"] = True
        finally:
            _state["loading"] = False


def register_plugin(plugin: Plugin) -> None:
    """Activate a plug-in from code (tests, notebooks, an application that embeds slmgraph)."""
    ensure_loaded()
    with _lock:
        _activate(plugin, "register_plugin()")


def active() -> dict[str, Plugin]:
    """The plug-ins loaded, by name (the core first)."""
    ensure_loaded()
    return dict(_active)


def failures() -> dict[str, str]:
    """Plug-ins that failed to load, with why."""
    ensure_loaded()
    return dict(_failed)


def lookup(kind: str, name: str, imports: Sequence[str] = ()) -> Impl:
    """:func:`slmgraph.registry.find` after loading the plug-ins."""
    ensure_loaded()
    return registry.find(kind, name, imports)


def known(kind: str) -> list[str]:
    ensure_loaded()
    return sorted(registry.table(kind))


def unknown_hint() -> str:
    """A sentence for "unknown name" errors when a plug-in failed to load."""
    failed = failures()
    if not failed:
        return ""
    return " Plug-ins that failed to load: " + "; ".join(f"{k} ({v})" for k, v in failed.items())


def builtin_graphs() -> list[str]:
    """Names of the built-in graphs (the core's and the plug-ins')."""
    ensure_loaded()
    return sorted(registry.GRAPHS)


def builtin_graph_file(name: str) -> tuple[bytes, str] | None:
    """The bytes of a built-in graph and where they are, or None when there is none."""
    ensure_loaded()
    ref = registry.GRAPHS.get(name)
    return read_resource(ref) if ref else None


def read_resource(ref: str) -> tuple[bytes, str] | None:
    """The bytes of ``"package/relative/file"`` (package data) and its location, or None."""
    from importlib import resources

    package, _, rel = ref.partition("/")
    try:
        node = resources.files(package).joinpath(rel)
        return (node.read_bytes(), str(node)) if node.is_file() else None
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        return None


__all__ = [
    "CORE",
    "ENTRY_POINT_GROUP",
    "Plugin",
    "active",
    "builtin_graph_file",
    "builtin_graphs",
    "ensure_loaded",
    "failures",
    "known",
    "lookup",
    "register_plugin",
]
