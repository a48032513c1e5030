"""Call-log commands: ``feedback`` (rate a run or a call) and ``report`` (cost and latency per
node, tier and model; the share on small tiers; the all-LLM counterfactual)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slmgraph.cli._common import Commands, open_log
from slmgraph.errors import SlmgraphError
from slmgraph.telemetry.report import cost_report, dumps, is_small, plot

LOG_HELP = "call log (default: $SLMGRAPH_CALL_LOG or the XDG state dir)"


def register(commands: Commands) -> None:
    fb = commands.add(
        "feedback",
        cmd_feedback,
        help="rate a run's answer (or one call) in the call log; curation drops negative ones",
    )
    fb.add_argument(
        "id", help="a run id (printed by 'slmgraph run --json') or, with --call, a call id"
    )
    fb.add_argument("score", type=float, help="e.g. 1 (good) or -1 (bad)")
    fb.add_argument("--note", help="why (encrypted at rest like prompts when a key is set)")
    fb.add_argument("--call", action="store_true", help="ID is a call id, not a run id")
    fb.add_argument("--log", help=LOG_HELP)

    rp = commands.add(
        "report",
        cmd_report,
        help="cost and latency per node, tier and model; share on small models; all-LLM $",
    )
    rp.add_argument("--log", help=LOG_HELP)
    rp.add_argument(
        "--slm-tiers",
        help="comma-separated small-model tiers (default: the size class each tier declared, "
        "logged with its calls)",
    )
    rp.add_argument(
        "--llm-price",
        default="0.20,0.60",
        help="the LLM tier's $ per 1M input,output tokens for the counterfactual (default: "
        "the default llm tier's)",
    )
    rp.add_argument("--node", action="append", help="only these nodes (repeatable)")
    rp.add_argument("--png", help="write a PNG (costs by tier; with --curve, the cascade curve)")
    rp.add_argument("--curve", help="a calibration JSON from 'slmgraph router calibrate'")
    rp.add_argument("--json", dest="json_out", help="also write the report as JSON here")


def cmd_feedback(args: argparse.Namespace) -> int:
    log = open_log(args.log)
    if args.call:
        n = log.feedback(args.id, args.score, args.note)
    else:
        n = log.feedback(None, args.score, args.note, run_id=args.id)
    log.close()
    print(f"rated {n} call(s) {args.score:g}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    try:
        price_in, price_out = (float(x) for x in args.llm_price.split(","))
    except ValueError:
        raise SlmgraphError(
            f"--llm-price {args.llm_price!r}: two numbers, e.g. 0.20,0.60"
        ) from None
    rows = open_log(args.log).rows()
    if args.node:
        rows = [r for r in rows if r.get("node") in args.node]
    small: Callable[[dict[str, Any]], bool] = is_small
    if args.slm_tiers:
        named = set(args.slm_tiers.split(","))

        def small(row: dict[str, Any]) -> bool:
            return row.get("tier") in named

    report = cost_report(rows, llm_price=(price_in, price_out), small=small)
    print(report.markdown(), end="")
    if args.json_out:
        Path(args.json_out).write_text(dumps(report))
    if args.png:
        curve = json.loads(Path(args.curve).read_text()) if args.curve else None
        plot(report, args.png, curve)
        print(f"wrote {args.png}")
    return 0
