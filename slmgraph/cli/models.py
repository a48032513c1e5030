"""``slmgraph models list|pull|path``: the model catalog."""

from __future__ import annotations

import argparse

from slmgraph.cli._common import Commands
from slmgraph.models import catalog


def register(commands: Commands) -> None:
    m = commands.add("models", cmd_models, help="the model catalog: list, pull, path")
    msub = m.add_subparsers(dest="models_command", metavar="ACTION")
    msub.add_parser("list", help="list catalog models and whether they are pulled")
    mp = msub.add_parser("pull", help="download and verify a model (sources tried in order)")
    mp.add_argument("name", nargs="+")
    mp.add_argument("--force", action="store_true", help="fetch again even if present")
    mpa = msub.add_parser("path", help="print the path of a pulled model")
    mpa.add_argument("name")


def cmd_models(args: argparse.Namespace) -> int:
    action = args.models_command or "list"
    if action == "list":
        print(f"{'name':<38}{'params':>7}{'size':>10}  {'licence':<11}{'pulled':<7}role")
        for m in catalog.CATALOG.values():
            pulled = "yes" if catalog.is_pulled(m.name) else "no"
            print(
                f"{m.name:<38}{m.params:>7}{m.size / 1e6:>8.0f}MB  {m.license:<11}"
                f"{pulled:<7}{m.role or ''}"
            )
        print(f"\ncache: {catalog.models_dir()}")
        return 0
    if action == "pull":
        for name in args.name:
            catalog.pull(name, force=args.force)
        return 0
    print(catalog.path(args.name))
    return 0
