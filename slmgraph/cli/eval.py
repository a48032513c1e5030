"""``slmgraph eval BENCHMARK``: the group; each domain's plug-in adds its benchmarks
(the query-writer's: ``slmgraph eval spider``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from slmgraph import plugins


def register(sub: Any) -> Any:
    e = sub.add_parser(
        "eval",
        help="evaluate a system on a benchmark (benchmarks come from the installed domains)",
    )
    return e.add_subparsers(dest="eval_command", metavar="BENCHMARK")


def usage(args: argparse.Namespace) -> int:
    names = [p.name for p in plugins.active().values() if p.cli]
    print(
        "usage: slmgraph eval BENCHMARK ... (see 'slmgraph eval --help'; benchmarks are added "
        f"by the domains: {', '.join(names) or 'none installed'})",
        file=sys.stderr,
    )
    return 2
