"""Graph commands: ``run``, ``graph`` (mermaid), ``graphs`` (built-ins), ``validate``,
``schema`` (JSON Schema of spec files) and ``plugins`` (what each installed domain adds)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from slmgraph import plugins, registry
from slmgraph.cli._common import (
    Commands,
    add_thread_args,
    open_checkpoints,
    print_result,
    read_input,
    resumed_note,
)
from slmgraph.errors import SpecError
from slmgraph.graphs.builder import build, build_graph
from slmgraph.loader import load_spec
from slmgraph.runner import run
from slmgraph.spec import json_schema
from slmgraph.telemetry.calllog import CallLog


def register(commands: Commands) -> None:
    r = commands.add("run", cmd_run, help="run a spec on one input and print the result")
    r.add_argument("spec", help="a spec file, or the name of a built-in graph")
    r.add_argument(
        "--input",
        "-i",
        default="{}",
        help="the input state as JSON, @file.json, or - to read it from stdin (default: {})",
    )
    r.add_argument("--json", action="store_true", help="print one JSON object")
    r.add_argument("--call-log", help="SQLite call log (default: the spec's, or the default)")
    r.add_argument("--no-log", action="store_true", help="do not log model calls")
    r.add_argument("--session", help="session id: groups the runs of one conversation in the log")
    r.add_argument("--app", help="application name in the call log (default: the spec's name)")
    add_thread_args(r)

    g = commands.add("graph", cmd_graph, help="print the graph as a mermaid diagram")
    g.add_argument("spec")
    commands.add("schema", cmd_schema, help="print the JSON Schema of spec files")
    v = commands.add(
        "validate", cmd_validate, help="validate a spec; exit 1 with every problem listed"
    )
    v.add_argument("spec", nargs="+")
    commands.add("graphs", cmd_graphs, help="list the built-in graphs")
    commands.add(
        "plugins", cmd_plugins, help="list the installed domains (plug-ins) and what they add"
    )


def cmd_run(args: argparse.Namespace) -> int:
    inputs = read_input(args.input)  # before the spec: a typo costs no graph load
    spec = load_spec(args.spec)
    log: CallLog | bool | None = (
        False if args.no_log else (CallLog(args.call_log) if args.call_log else None)
    )
    built = build(spec, call_log=log, app=args.app)  # type: ignore[arg-type]
    checkpoints = open_checkpoints(args, built.call_log)
    try:
        result = run(
            built, inputs, session_id=args.session, thread_id=args.thread, checkpointer=checkpoints
        )
    finally:
        if checkpoints is not None:
            checkpoints.close()
    if args.thread:
        resumed_note(result, args.thread)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, default=str, indent=2))
    else:
        print_result(result)
    return 0 if result.status != "error" else 1


def cmd_graph(args: argparse.Namespace) -> int:
    graph = build_graph(load_spec(args.spec), call_log=False)
    print(graph.get_graph().draw_mermaid())
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.spec:
        try:
            spec = load_spec(path)
        except SpecError as exc:
            failed += 1
            print(f"{path}: {exc}", file=sys.stderr)
            continue
        print(
            f"{path}: ok ({len(spec.nodes)} nodes, {len(spec.edges)} edges, "
            f"tiers: {', '.join(spec.tiers)})"
        )
    return 1 if failed else 0


def cmd_graphs(args: argparse.Namespace) -> int:
    for name in plugins.builtin_graphs():
        try:
            description = load_spec(name, validate=False).description or ""
        except SpecError as exc:
            description = f"(invalid: {exc})"
        print(f"{name:<16}{description}")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    tables: dict[str, dict[str, Any]] = {
        "agents": registry.AGENTS,
        "tools": registry.TOOLS,
        "routers": registry.ROUTERS,
        "validators": registry.VALIDATORS,
        "resources": registry.RESOURCES,
    }
    for plugin in plugins.active().values():
        print(f"{plugin.name}: {plugin.description}")
        for what, table in tables.items():
            names = sorted(n for n, v in table.items() if getattr(v, "plugin", "") == plugin.name)
            if names:
                print(f"  {what}: {', '.join(names)}")
        if plugin.graphs:
            print(f"  graphs: {', '.join(sorted(plugin.graphs))}")
        if plugin.prompts:
            print(f"  prompts: {', '.join(f'{ns}/*' for ns in sorted(plugin.prompts))}")
    for name, why in plugins.failures().items():
        print(f"{name}: FAILED to load: {why}")
    return 1 if plugins.failures() else 0
