"""Promotion commands: ``shadow`` (agreement of shadow tiers), ``promote`` (move a node to a
candidate tier given that evidence) and ``drift`` (when to run the conversion again)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from slmgraph.cli._common import Commands, open_log, window_seconds
from slmgraph.errors import SlmgraphError
from slmgraph.pipeline.promote import drift, promote, shadow_markdown, shadow_report

LOG_HELP = "call log (default: $SLMGRAPH_CALL_LOG or the XDG state dir)"


def register(commands: Commands) -> None:
    sh = commands.add(
        "shadow", cmd_shadow, help="agreement of shadow tiers with the answers they shadowed"
    )
    sh.add_argument("--log", help=LOG_HELP)
    pr = commands.add(
        "promote",
        cmd_promote,
        help="move a node to a candidate tier in its spec file, given shadow evidence",
    )
    pr.add_argument("spec", help="the spec file to edit in place (comments and layout kept)")
    pr.add_argument("node")
    pr.add_argument("--tier", required=True, help="the candidate tier (declared under tiers:)")
    pr.add_argument("--log", help="call log with the shadow calls (default: the default log)")
    pr.add_argument("--min-agreement", type=float, default=0.9)
    pr.add_argument("--min-calls", type=int, default=30)
    pr.add_argument("--force", action="store_true", help="promote without enough evidence")
    pr.add_argument("--dry-run", action="store_true", help="print the change, write nothing")
    dr = commands.add(
        "drift",
        cmd_drift,
        help="per time window: node/cluster mix, failure and fallback rates; when to re-run S2-S5",
    )
    dr.add_argument("--log", help=LOG_HELP)
    dr.add_argument("--window", default="1d", help="window length: 30m, 6h, 1d, 7d (default 1d)")
    dr.add_argument("--clusters", help="a 'slmgraph cluster' output folder: task-cluster shares")
    dr.add_argument("--out", help="also write the report as JSON here")


def cmd_shadow(args: argparse.Namespace) -> int:
    summaries = shadow_report(open_log(args.log).rows())
    if not summaries:
        print("no shadow calls in the log (set `shadow: TIER` on a node and run traffic)")
        return 0
    print(shadow_markdown(summaries), end="")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    log = None
    try:
        log = open_log(args.log)
    except SlmgraphError:
        if not args.force:
            raise
    result = promote(
        args.spec,
        args.node,
        args.tier,
        log=log,
        min_agreement=args.min_agreement,
        min_calls=args.min_calls,
        force=args.force,
        dry_run=args.dry_run,
    )
    ev = result.evidence
    if ev is not None:
        print(
            f"evidence: {ev.n} shadow calls, agreement {ev.agreement:.0%}, shadow errors "
            f"{ev.shadow_error_rate:.0%}, p50 {ev.p50_s} s -> {ev.shadow_p50_s} s"
        )
    print(result.diff, end="")
    verb = "moved" if result.written else "would move (dry run)"
    print(f"{verb} {result.node}: {result.old_tier} -> {result.tier} in {result.path}")
    return 0


def cmd_drift(args: argparse.Namespace) -> int:
    report = drift(
        open_log(args.log).rows(), window_s=window_seconds(args.window), clusters=args.clusters
    )
    print(report.markdown(), end="")
    if args.out:
        Path(args.out).write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    return 0
