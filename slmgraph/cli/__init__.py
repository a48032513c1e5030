"""The ``slmgraph`` command line: one module per command group, each owning its parsers and
handlers; plug-ins add theirs through :class:`Commands` (``Plugin.cli``).

Core groups: :mod:`~slmgraph.cli.graph` (run, graph, graphs, validate, schema, plugins),
:mod:`~slmgraph.cli.models`, :mod:`~slmgraph.cli.log` (feedback, report),
:mod:`~slmgraph.cli.pipeline` (scrub, curate, cluster, select, finetune),
:mod:`~slmgraph.cli.promote` (shadow, promote, drift), :mod:`~slmgraph.cli.router`,
:mod:`~slmgraph.cli.eval` (benchmarks come from plug-ins). The query-writer's commands (ask,
demo-db, eval spider) are :mod:`~slmgraph.cli.sql`, loaded through its plug-in.

Every failure ends as one ``error: ...`` line on stderr (a spec's problems: one line each) and
a non-zero exit, never a traceback: 1 for whatever slmgraph reports (a bad file or input, a
failed run, a bug), 2 for argparse's usage errors, 130 for Ctrl-C. ``--debug`` or
``SLMGRAPH_DEBUG=1`` prints the traceback as well.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from slmgraph import __version__, plugins
from slmgraph.cli import eval as eval_commands
from slmgraph.cli import graph, log, models, pipeline, promote, router
from slmgraph.cli._common import Commands, Handler, UsageError
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
  SLMGRAPH_DEBUG        1: print the traceback of an error (as --debug does)
"""

DEBUG_HINT = "rerun with SLMGRAPH_DEBUG=1 (or slmgraph --debug ...) for the traceback"

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
    p.add_argument(
        "--debug", action="store_true", help="print the traceback of an error (SLMGRAPH_DEBUG=1)"
    )
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
    """Run one command; whatever goes wrong ends as one line on stderr and an exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("SLMGRAPH_DEBUG", "") not in ("", "0")
    try:
        _check_utf8(args_list)
        p = parser()
        args = p.parse_args(args_list)
        debug = debug or bool(getattr(args, "debug", False))
        handler: Handler | None = getattr(args, "handler", None)
        if handler is None:
            if getattr(args, "command", None) == "eval":
                return eval_commands.usage(args)
            p.print_help()
            return 2
        return handler(args)
    except SystemExit:  # argparse's usage errors and --help: their own exit code and message
        raise
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`slmgraph ... | head`): nothing to say
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the exit flush cannot fail again
        return 1
    except Exception as exc:
        if debug:
            traceback.print_exc()
        return _report(exc)


def _report(exc: BaseException) -> int:
    """The one line for an error, and the exit code."""
    if isinstance(exc, SpecError):  # one line per problem, each with its YAML path
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if isinstance(exc, SlmgraphError):
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    if isinstance(exc, MemoryError):
        print(f"error: out of memory; {DEBUG_HINT}", file=sys.stderr)
        return 1
    if isinstance(exc, OSError):  # the machine's side: a file, a disk, a socket
        print(f"error: {_one_line(str(exc))} ({DEBUG_HINT})", file=sys.stderr)
        return 1
    what = _one_line(f"{type(exc).__name__}: {exc}")
    print(f"error: unexpected {what} (a bug; {DEBUG_HINT})", file=sys.stderr)
    return 1


def _one_line(text: str, limit: int = 1000) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_utf8(argv: Sequence[str]) -> None:
    """Refuse arguments whose bytes are not UTF-8 (Python hands them over as lone surrogates):
    a path like that cannot go into a run's state, the call log or JSON output."""
    for i, arg in enumerate(argv, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            raw = os.fsencode(arg)
            raise UsageError(
                f"argument {i} is not valid UTF-8 ({raw!r}): slmgraph takes UTF-8 text and "
                "paths; rename the file, or link it under a UTF-8 name"
            ) from None


__all__ = ["Commands", "main", "parser"]
