"""The ``slmgraph`` command line: one module per command group, each owning its parsers and
handlers; plug-ins add theirs through :class:`Commands` (``Plugin.cli``).

Core groups: :mod:`~slmgraph.cli.graph` (run, graph, graphs, validate, schema, plugins),
:mod:`~slmgraph.cli.models`, :mod:`~slmgraph.cli.log` (feedback, report),
:mod:`~slmgraph.cli.pipeline` (scrub, curate, cluster, select, finetune),
:mod:`~slmgraph.cli.promote` (shadow, promote, drift), :mod:`~slmgraph.cli.router`,
:mod:`~slmgraph.cli.eval` (benchmarks come from plug-ins). The query-writer's commands (ask,
demo-db, eval spider) are :mod:`~slmgraph.cli.sql`, loaded through its plug-in.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from slmgraph import __version__, plugins
from slmgraph.cli import eval as eval_commands
from slmgraph.cli import graph, log, models, pipeline, promote, router
from slmgraph.cli._common import Commands, Handler
from slmgraph.errors import SlmgraphError, SpecError
from slmgraph.registry import import_ref

EPILOG = """\
examples:
  slmgraph validate my_graph.yaml          check a spec (every error names its YAML path)
  slmgraph graph triage                     mermaid diagram of a built-in graph
  slmgraph run triage --input '{"ticket": "I was charged twice"}'
  slmgraph models pull qwen2.5-coder-0.5b-instruct-q4_k_m
  slmgraph schema > slmgraph.schema.json    JSON Schema for editor completion
  slmgraph plugins                          the domains installed and what they add

environment:
  SLMGRAPH_MODELS_DIR   where models are cached (default: $XDG_CACHE_HOME/slmgraph/models)
  SLMGRAPH_CALL_LOG     the call log (default: $XDG_STATE_HOME/slmgraph/calls.sqlite)
  SLMGRAPH_TIERS        a YAML file of tiers that replace a spec's tiers by name
  SLMGRAPH_PLUGINS      plug-ins to load besides the installed ones (module:attribute, ...)
"""

CORE_GROUPS = (graph, models, log, pipeline, promote, router)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="slmgraph",
        description="Build LangGraph agents from YAML; run each step on the smallest model "
        "that does the job.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"slmgraph {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    eval_sub = eval_commands.register(sub)
    commands = Commands(sub, eval_sub)
    for group in CORE_GROUPS:
        group.register(commands)
    for plugin in plugins.active().values():
        if plugin.cli is None:
            continue
        try:
            hook = import_ref(plugin.cli, [plugin.cli.partition(":")[0]])
            hook(commands)
        except Exception as exc:  # a plug-in's broken CLI must not break the others
            print(
                f"slmgraph: the commands of plug-in {plugin.name!r} could not be loaded "
                f"({type(exc).__name__}: {exc})",
                file=sys.stderr,
            )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        if getattr(args, "command", None) == "eval":
            return eval_commands.usage(args)
        p.print_help()
        return 2
    try:
        return handler(args)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except SlmgraphError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


__all__ = ["Commands", "main", "parser"]
