"""``slmgraph router train|calibrate``: a routing classifier from logged outcomes, and the
threshold that meets a stated quality/cost target (:mod:`slmgraph.routing`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from slmgraph.cli._common import Commands, open_log
from slmgraph.errors import SlmgraphError
from slmgraph.routing import calibrate as cal
from slmgraph.routing import classifier as clf
from slmgraph.telemetry.report import plot_curve


def register(commands: Commands) -> None:
    ro = commands.add(
        "router", cmd_router, help="train a routing classifier; calibrate a threshold"
    )
    rsub = ro.add_subparsers(dest="router_command", metavar="ACTION", required=True)
    rt = rsub.add_parser("train", help="P(slm succeeds) from logged outcomes -> router model")
    src = rt.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="JSONL with text and success (e.g. from a benchmark)")
    src.add_argument("--log", help="call log: a node's calls and their user feedback")
    rt.add_argument("--node", help="with --log: the node whose calls are the examples")
    rt.add_argument("--out", required=True, help="router model file (JSON)")
    rt.add_argument("--embed", choices=["auto", "minilm", "tfidf"], default="auto")
    rc = rsub.add_parser("calibrate", help="choose the threshold that meets a target")
    rc.add_argument("records", help="JSONL: score, slm_correct, llm_correct, slm_cost, llm_cost")
    rc.add_argument(
        "--target",
        required=True,
        help="'escalations<=0.25', 'quality>=llm-0.01' or 'cost<=0.4*llm'",
    )
    rc.add_argument(
        "--mode",
        choices=["cascade", "router"],
        default="cascade",
        help="cascade: an escalated question paid for the slm's try too; router: one model",
    )
    rc.add_argument("--out", help="write the curve and the choice as JSON (for report --curve)")
    rc.add_argument("--png", help="write the quality-cost curve")
    rc.add_argument("--model", help="a router model whose threshold to set (with --write)")
    rc.add_argument("--write", action="store_true", help="store the chosen threshold in --model")


def cmd_router(args: argparse.Namespace) -> int:
    if args.router_command == "train":
        if args.log:
            if not args.node:
                raise SlmgraphError("--log needs --node (whose calls are the examples)")
            texts, labels = clf.labelled_from_log(open_log(args.log).rows(), args.node)
        else:
            texts, labels = clf.read_labelled(args.data)
        model = clf.train(texts, labels, embedder=args.embed)
        model.save(args.out)
        print(
            f"trained on {model.trained_on} examples ({model.positive_rate:.0%} slm successes, "
            f"{model.embedder} embeddings); wrote {args.out}"
        )
        return 0
    records = cal.read_records(args.records)
    result = cal.calibrate(records, args.target, args.mode)
    chosen = result["chosen"]
    lo, hi = result["slm_only"], result["llm_only"]
    print(
        f"slm only: quality {lo['quality']:.1%}, ${lo['cost_per_question']:.2e}/q; "
        f"llm only: quality {hi['quality']:.1%}, ${hi['cost_per_question']:.2e}/q"
    )
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    if args.png:
        plot_curve(result, args.png)
    if chosen is None:
        print(f"no threshold meets {args.target!r} on these {len(records)} records")
        return 1
    print(
        f"threshold {chosen['threshold']:.4g}: quality {chosen['quality']:.1%}, "
        f"${chosen['cost_per_question']:.2e}/q, escalations {chosen['escalation_rate']:.0%}"
    )
    if args.write:
        if not args.model:
            raise SlmgraphError("--write needs --model (the router model to update)")
        model = clf.RouterModel.load(args.model)
        model.threshold = float(chosen["threshold"])
        model.save(args.model)
        print(f"wrote threshold to {args.model}")
    return 0
