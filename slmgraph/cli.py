"""The ``slmgraph`` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from slmgraph.errors import SlmgraphError, SpecError

EPILOG = """\
examples:
  slmgraph validate my_graph.yaml          check a spec (every error names its YAML path)
  slmgraph graph triage                     mermaid diagram of a built-in graph
  slmgraph run triage --input '{"ticket": "I was charged twice"}'
  slmgraph models pull qwen2.5-coder-0.5b-instruct-q4_k_m
  slmgraph schema > slmgraph.schema.json    JSON Schema for editor completion

environment:
  SLMGRAPH_MODELS_DIR   where models are cached (default: $XDG_CACHE_HOME/slmgraph/models)
  SLMGRAPH_CALL_LOG     the call log (default: $XDG_STATE_HOME/slmgraph/calls.sqlite)
  SLMGRAPH_TIERS        a YAML file of tiers that replace a spec's tiers by name
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="slmgraph",
        description="Build LangGraph agents from YAML; run each step on the smallest model "
        "that does the job.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from slmgraph import __version__

    p.add_argument("--version", action="version", version=f"slmgraph {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("run", help="run a spec on one input and print the result")
    r.add_argument("spec", help="a spec file, or the name of a built-in graph")
    r.add_argument(
        "--input", "-i", default="{}", help="the input state as JSON, or @file.json (default: {})"
    )
    r.add_argument("--json", action="store_true", help="print one JSON object")
    r.add_argument("--call-log", help="SQLite call log (default: the spec's, or the default)")
    r.add_argument("--no-log", action="store_true", help="do not log model calls")
    r.add_argument("--session", help="session id: groups the runs of one conversation in the log")
    r.add_argument("--app", help="application name in the call log (default: the spec's name)")

    g = sub.add_parser("graph", help="print the graph as a mermaid diagram")
    g.add_argument("spec")

    sub.add_parser("schema", help="print the JSON Schema of spec files")

    v = sub.add_parser("validate", help="validate a spec; exit 1 with every problem listed")
    v.add_argument("spec", nargs="+")

    m = sub.add_parser("models", help="the model catalog: list, pull, path")
    msub = m.add_subparsers(dest="models_command", metavar="ACTION")
    msub.add_parser("list", help="list catalog models and whether they are pulled")
    mp = msub.add_parser("pull", help="download and verify a model (sources tried in order)")
    mp.add_argument("name", nargs="+")
    mp.add_argument("--force", action="store_true", help="fetch again even if present")
    mpa = msub.add_parser("path", help="print the path of a pulled model")
    mpa.add_argument("name")

    sub.add_parser("graphs", help="list the built-in graphs")

    a = sub.add_parser(
        "ask",
        help="answer a question about a SQL database (query-writer)",
        description="Text-to-SQL with the query-writer graph: small models write "
        "grammar-constrained SQL, sqlglot checks it, it runs read-only, and the "
        "llm tier takes over when the small model fails or is unsure.",
    )
    a.add_argument("question")
    a.add_argument("--db", help="SQLite file (default: the demo database, built on first use)")
    a.add_argument("--spec", default="query_writer", help="graph spec (default: query_writer)")
    a.add_argument(
        "--json", action="store_true", help="print one JSON object: sql, rows, answer, error, trace"
    )
    a.add_argument(
        "--approve",
        action="store_true",
        help="show the SQL and ask before running it (human in the loop)",
    )
    a.add_argument("--no-log", action="store_true", help="do not log model calls")

    e = sub.add_parser("eval", help="evaluate a system on a text-to-SQL split (execution accuracy)")
    esub = e.add_subparsers(dest="eval_command", metavar="BENCHMARK")
    sp = esub.add_parser(
        "spider",
        help="Spider layout: <split>.json + database/<db>/<db>.sqlite",
        description="Run a system over a Spider-layout split and score it by "
        "execution accuracy. Resumable: rerun with the same --out to continue.",
    )
    sp.add_argument("--data", required=True, help="folder in the layout of Spider")
    sp.add_argument("--split", default="dev", help="which <split>.json (default: dev)")
    sp.add_argument(
        "--system",
        required=True,
        help="zeroshot-0.5b, zeroshot-1.5b, slmgraph-slm, slmgraph-slm-nogrammar, "
        "slmgraph-slm-lexical, slmgraph-cascade, langchain-sql-agent-0.5b (the peer; needs "
        "the 'peers' extra)",
    )
    sp.add_argument("--limit", type=int, help="a sample of N questions stratified by hardness")
    sp.add_argument("--seed", type=int, default=0, help="sample seed (default: 0)")
    sp.add_argument("--out", required=True, help="output folder (predictions.jsonl, summary)")
    sp.add_argument("--threads", type=int, help="CPU threads per model (default: all cores)")
    sp.add_argument("--timeout", type=float, default=30.0, help="seconds per query execution")

    d = sub.add_parser("demo-db", help="build the demo database (a small shop)")
    d.add_argument("path", nargs="?", help="where to write it (default: XDG data dir)")
    sc = sub.add_parser(
        "scrub",
        help="replace PII on stdin with typed placeholders (<EMAIL_1>, ...); counts on stderr",
    )
    sc.add_argument("--quiet", action="store_true", help="no counts on stderr")
    cu = sub.add_parser(
        "curate",
        help="call log -> training examples: drop failed/cancelled/duplicate calls, scrub PII",
    )
    cu.add_argument(
        "--log",
        help="call log: SQLite file or postgresql:// URL "
        "(default: $SLMGRAPH_CALL_LOG or the XDG state dir)",
    )
    cu.add_argument("--out", required=True, help="JSONL file to write (report beside it)")
    cu.add_argument("--node", action="append", help="only these nodes (repeatable)")
    cu.add_argument(
        "--run",
        action="append",
        metavar="RUN_ID",
        help="only the calls of these runs (repeatable; e.g. the runs that finished)",
    )
    cu.add_argument("--no-scrub", action="store_true", help="keep PII (for private logs only)")
    cl = sub.add_parser(
        "cluster",
        help="group curated calls into task types (MiniLM embeddings + k-means or HDBSCAN)",
    )
    cl.add_argument("examples", help="curated examples (JSONL from 'slmgraph curate')")
    cl.add_argument("--out", required=True, help="folder: clusters.jsonl, report.json, report.md")
    cl.add_argument("--method", choices=["kmeans", "hdbscan"], default="kmeans")
    cl.add_argument("--k", type=int, help="number of clusters (default: best silhouette, 2..12)")
    cl.add_argument("--k-max", type=int, default=12, help="largest k tried (default: 12)")
    cl.add_argument(
        "--embed",
        choices=["auto", "minilm", "tfidf"],
        default="auto",
        help="auto: MiniLM when the 'embed' extra is installed, else TF-IDF",
    )
    cl.add_argument("--min-cluster-size", type=int, help="HDBSCAN only (default: n/50, >= 3)")
    cl.add_argument("--seed", type=int, default=0)
    se = sub.add_parser(
        "select",
        help="score candidate SLMs on each cluster's held-out calls; recommend one per cluster",
    )
    se.add_argument("clusters", help="clusters.jsonl from 'slmgraph cluster'")
    se.add_argument("--out", required=True, help="folder: select.json, select.md")
    se.add_argument(
        "--candidate",
        action="append",
        help="catalog model, GGUF path, or MODEL+ADAPTER.gguf (repeatable; default: every "
        "pulled catalog model but the teacher's)",
    )
    se.add_argument("--cluster", type=int, action="append", help="only these clusters")
    se.add_argument("--n", type=int, default=20, help="held-out calls per cluster (default 20)")
    se.add_argument("--min-agreement", type=float, default=0.8)
    se.add_argument("--threads", type=int, help="CPU threads per model")
    se.add_argument("--max-tokens", type=int, default=256, help="per replayed call (default 256)")
    ft = sub.add_parser(
        "finetune",
        help="LoRA on curated examples (distil the teacher); PEFT adapter + GGUF LoRA",
    )
    ft.add_argument("examples", help="curated (or clustered) examples, JSONL")
    ft.add_argument("--base", required=True, help="catalog model, GGUF file or HF folder")
    ft.add_argument("--out", required=True, help="folder: adapter/, adapter.gguf, checkpoint/")
    ft.add_argument("--cluster", type=int, help="only this cluster (slmgraph cluster output)")
    ft.add_argument("--node", action="append", help="only these nodes (repeatable)")
    ft.add_argument(
        "--verified-only", action="store_true", help='only examples with "verified": true'
    )
    ft.add_argument(
        "--balance-sql",
        nargs="?",
        const="repeat",
        choices=["repeat", "drop"],
        help="match the SQL shapes (joins, subqueries, GROUP BY) of all the cluster's outputs "
        "(verification favours easy queries): 'repeat' (the default) repeats verified examples "
        "of rare shapes, 'drop' leaves out some of the common ones",
    )
    ft.add_argument(
        "--holdout",
        type=int,
        default=20,
        help="leave out the calls 'slmgraph select --n' scores per cluster (default 20)",
    )
    ft.add_argument("--epochs", type=float, default=2.0)
    ft.add_argument("--lr", type=float, default=2e-4)
    ft.add_argument("--rank", type=int, default=16, help="LoRA rank (alpha = 2 x rank)")
    ft.add_argument("--max-length", type=int, default=1024, help="longer examples are skipped")
    ft.add_argument("--grad-accum", type=int, default=4, help="examples per optimizer step")
    ft.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    ft.add_argument("--checkpoint-every", type=int, default=25, help="optimizer steps")
    ft.add_argument("--threads", type=int, help="CPU threads (default: torch's)")
    ft.add_argument(
        "--no-prompt-grad",
        action="store_true",
        help="run the prompt without gradients (about 2x faster on a CPU; approximate)",
    )
    ft.add_argument("--restart", action="store_true", help="discard a checkpoint in --out")
    ft.add_argument("--no-gguf", action="store_true", help="keep only the PEFT adapter")
    sh = sub.add_parser("shadow", help="agreement of shadow tiers with the answers they shadowed")
    sh.add_argument("--log", help="call log (default: $SLMGRAPH_CALL_LOG or the XDG state dir)")
    pr = sub.add_parser(
        "promote",
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
    dr = sub.add_parser(
        "drift",
        help="per time window: node/cluster mix, failure and fallback rates; when to re-run S2-S5",
    )
    dr.add_argument("--log", help="call log (default: $SLMGRAPH_CALL_LOG or the XDG state dir)")
    dr.add_argument("--window", default="1d", help="window length: 30m, 6h, 1d, 7d (default 1d)")
    dr.add_argument("--clusters", help="a 'slmgraph cluster' output folder: task-cluster shares")
    dr.add_argument("--out", help="also write the report as JSON here")
    rp = sub.add_parser(
        "report",
        help="cost and latency per node, tier and model; share on small models; all-LLM $",
    )
    rp.add_argument("--log", help="call log (default: $SLMGRAPH_CALL_LOG or the XDG state dir)")
    rp.add_argument(
        "--slm-tiers", help="comma-separated small-model tiers (default: names starting 'slm')"
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
    ro = sub.add_parser("router", help="train a routing classifier; calibrate a threshold")
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
    fb = sub.add_parser(
        "feedback",
        help="rate a run's answer (or one call) in the call log; curation drops negative ones",
    )
    fb.add_argument(
        "id", help="a run id (printed by 'slmgraph run --json') or, with --call, a call id"
    )
    fb.add_argument("score", type=float, help="e.g. 1 (good) or -1 (bad)")
    fb.add_argument("--note", help="why (encrypted at rest like prompts when a key is set)")
    fb.add_argument("--call", action="store_true", help="ID is a call id, not a run id")
    fb.add_argument("--log", help="call log (default: $SLMGRAPH_CALL_LOG or the XDG state dir)")
    return p


def _open_log(arg: str | None) -> Any:
    """The call log named on the command line (or the default); an error if a file is absent."""
    from slmgraph.telemetry.calllog import CallLog, default_log_path, is_url

    if arg and is_url(arg):
        return CallLog(arg)
    if not arg and is_url(os.environ.get("SLMGRAPH_CALL_LOG")):
        return CallLog()
    path = Path(arg) if arg else default_log_path()
    if not path.exists():
        raise SlmgraphError(f"no call log at {path} (run a graph first, or pass --log)")
    return CallLog(path)


def _cmd_cluster(args: argparse.Namespace) -> int:
    from slmgraph.pipeline.cluster import cluster, read_examples, stderr_progress, write

    examples = read_examples(args.examples)
    report = cluster(
        examples,
        method=args.method,
        k=args.k,
        k_max=args.k_max,
        embedder=args.embed,
        min_cluster_size=args.min_cluster_size,
        seed=args.seed,
        progress=stderr_progress,
    )
    out = write(report, examples, args.out)
    print(report.markdown().split("\n### ")[0], end="")
    print(f"wrote {out / 'clusters.jsonl'} and {out / 'report.md'}")
    return 0


def _cmd_select(args: argparse.Namespace) -> int:
    from slmgraph.pipeline.cluster import read_examples
    from slmgraph.pipeline.select import default_candidates, llamacpp_runner, markdown, select
    from slmgraph.pipeline.select import write as write_select

    examples = read_examples(args.clusters)
    report = Path(args.clusters).with_name("report.json")
    labels = (
        {c["id"]: c["label"] for c in json.loads(report.read_text())["clusters"]}
        if report.exists()
        else {}
    )
    teachers = sorted({str(e.get("model")) for e in examples if e.get("model")})
    candidates = args.candidate or default_candidates(exclude=teachers)
    if not candidates:
        raise SlmgraphError(
            "no candidate models: pull one ('slmgraph models pull NAME') or pass --candidate"
        )
    print(f"candidates: {', '.join(candidates)}", file=sys.stderr)
    choices = select(
        examples,
        candidates,
        runner=llamacpp_runner(threads=args.threads, max_tokens=args.max_tokens),
        n=args.n,
        min_agreement=args.min_agreement,
        clusters=args.cluster,
        labels=labels,
    )
    out = write_select(choices, args.out)
    print(markdown(choices), end="")
    print(f"wrote {out / 'select.md'}")
    return 0


def _cmd_finetune(args: argparse.Namespace) -> int:
    from slmgraph.pipeline.cluster import read_examples
    from slmgraph.pipeline.finetune import (
        FinetuneConfig,
        balance_examples,
        finetune,
        select_examples,
    )

    pool = read_examples(args.examples)
    examples = select_examples(
        pool,
        cluster=args.cluster,
        nodes=args.node,
        verified_only=args.verified_only,
        holdout=args.holdout,
    )
    if args.balance_sql:
        reference = select_examples(
            pool, cluster=args.cluster, nodes=args.node, holdout=args.holdout
        )
        examples, balance = balance_examples(examples, reference, mode=args.balance_sql)
        print(
            f"balanced by SQL shape ({balance.mode}): {balance.n_before} -> {balance.n_after} "
            "examples; "
            f"shares {balance.before} -> {balance.after} (all outputs: {balance.reference})",
            file=sys.stderr,
        )
    config = FinetuneConfig(
        base=args.base,
        epochs=args.epochs,
        lr=args.lr,
        rank=args.rank,
        alpha=2 * args.rank,
        max_length=args.max_length,
        grad_accum=args.grad_accum,
        max_steps=args.max_steps,
        checkpoint_every=args.checkpoint_every,
        prompt_grad=not args.no_prompt_grad,
    )
    print(f"training on {len(examples)} examples", file=sys.stderr)
    result = finetune(
        examples,
        args.out,
        config,
        restart=args.restart,
        gguf=not args.no_gguf,
        threads=args.threads,
    )
    resumed = f" (resumed at step {result.resumed_from})" if result.resumed_from else ""
    print(
        f"{result.steps} steps on {result.n_examples} examples in {result.seconds:.0f} s "
        f"on {result.device}{resumed}; skipped: {result.n_skipped or 'none'}"
    )
    print(f"adapter: {result.adapter}")
    if result.gguf:
        print(f"GGUF LoRA: {result.gguf} (a llamacpp tier loads it with settings.lora_path)")
    return 0


def _cmd_shadow(args: argparse.Namespace) -> int:
    from slmgraph.pipeline.promote import shadow_markdown, shadow_report

    summaries = shadow_report(_open_log(args.log).rows())
    if not summaries:
        print("no shadow calls in the log (set `shadow: TIER` on a node and run traffic)")
        return 0
    print(shadow_markdown(summaries), end="")
    return 0


def _cmd_promote(args: argparse.Namespace) -> int:
    from slmgraph.pipeline.promote import promote

    log = None
    try:
        log = _open_log(args.log)
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


def _window_seconds(text: str) -> float:
    import re

    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhdw]?)", text.strip())
    if not m:
        raise SlmgraphError(f"--window {text!r}: use a number with s, m, h, d or w (e.g. 6h)")
    unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
    return float(m.group(1)) * unit


def _cmd_drift(args: argparse.Namespace) -> int:
    from slmgraph.pipeline.promote import drift

    report = drift(
        _open_log(args.log).rows(), window_s=_window_seconds(args.window), clusters=args.clusters
    )
    print(report.markdown(), end="")
    if args.out:
        Path(args.out).write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from slmgraph.telemetry.report import cost_report, default_is_slm, dumps, plot

    try:
        price_in, price_out = (float(x) for x in args.llm_price.split(","))
    except ValueError:
        raise SlmgraphError(
            f"--llm-price {args.llm_price!r}: two numbers, e.g. 0.20,0.60"
        ) from None
    slm = set(args.slm_tiers.split(",")) if args.slm_tiers else None
    rows = _open_log(args.log).rows()
    if args.node:
        rows = [r for r in rows if r.get("node") in args.node]
    report = cost_report(
        rows,
        llm_price=(price_in, price_out),
        is_slm=(lambda t: t in slm) if slm is not None else default_is_slm,
    )
    print(report.markdown(), end="")
    if args.json_out:
        Path(args.json_out).write_text(dumps(report))
    if args.png:
        curve = json.loads(Path(args.curve).read_text()) if args.curve else None
        plot(report, args.png, curve)
        print(f"wrote {args.png}")
    return 0


def _cmd_router(args: argparse.Namespace) -> int:
    from slmgraph.pipeline import router as rt

    if args.router_command == "train":
        if args.log:
            if not args.node:
                raise SlmgraphError("--log needs --node (whose calls are the examples)")
            texts, labels = rt.labelled_from_log(_open_log(args.log).rows(), args.node)
        else:
            texts, labels = rt.read_labelled(args.data)
        model = rt.train(texts, labels, embedder=args.embed)
        model.save(args.out)
        print(
            f"trained on {model.trained_on} examples ({model.positive_rate:.0%} slm successes, "
            f"{model.embedder} embeddings); wrote {args.out}"
        )
        return 0
    records = rt.read_records(args.records)
    result = rt.calibrate(records, args.target, args.mode)
    chosen = result["chosen"]
    lo, hi = result["slm_only"], result["llm_only"]
    print(
        f"slm only: quality {lo['quality']:.1%}, ${lo['cost_per_question']:.2e}/q; "
        f"llm only: quality {hi['quality']:.1%}, ${hi['cost_per_question']:.2e}/q"
    )
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    if args.png:
        from slmgraph.telemetry.report import plot_curve

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
        model = rt.RouterModel.load(args.model)
        model.threshold = float(chosen["threshold"])
        model.save(args.model)
        print(f"wrote threshold to {args.model}")
    return 0


def _cmd_feedback(args: argparse.Namespace) -> int:
    log = _open_log(args.log)
    if args.call:
        n = log.feedback(args.id, args.score, args.note)
    else:
        n = log.feedback(None, args.score, args.note, run_id=args.id)
    log.close()
    print(f"rated {n} call(s) {args.score:g}")
    return 0


def _cmd_curate(args: argparse.Namespace) -> int:
    from slmgraph.pipeline.curate import curate

    report = curate(
        _open_log(args.log), args.out, nodes=args.node, runs=args.run, scrub_pii=not args.no_scrub
    )
    out = Path(args.out)
    out.with_suffix(".report.json").write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    out.with_suffix(".report.md").write_text(report.markdown())
    print(report.markdown(), end="")
    print(f"wrote {report.kept} example{'' if report.kept == 1 else 's'} to {out}")
    return 0


def _cmd_scrub(args: argparse.Namespace) -> int:
    from slmgraph.pipeline.scrub import NOT_COVERED, Scrubber

    scrubber = Scrubber()  # the whole input is one record: consistent placeholders
    for line in sys.stdin:
        sys.stdout.write(scrubber.scrub(line))
    sys.stdout.flush()
    if not args.quiet:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(scrubber.counts.items())) or "none"
        missing = f" (not covered: {', '.join(NOT_COVERED)})" if NOT_COVERED else ""
        print(f"scrubbed: {counts}{missing}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        handler = {
            "run": _cmd_run,
            "graph": _cmd_graph,
            "schema": _cmd_schema,
            "validate": _cmd_validate,
            "models": _cmd_models,
            "graphs": _cmd_graphs,
            "ask": _cmd_ask,
            "demo-db": _cmd_demo_db,
            "eval": _cmd_eval,
            "scrub": _cmd_scrub,
            "curate": _cmd_curate,
            "feedback": _cmd_feedback,
            "cluster": _cmd_cluster,
            "finetune": _cmd_finetune,
            "select": _cmd_select,
            "shadow": _cmd_shadow,
            "promote": _cmd_promote,
            "drift": _cmd_drift,
            "report": _cmd_report,
            "router": _cmd_router,
        }[args.command]
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


def _read_input(text: str) -> dict[str, Any]:
    if text.startswith("@"):
        text = Path(text[1:]).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError.single("input", f"--input is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError.single("input", "--input must be a JSON object of state keys")
    return data


def _cmd_run(args: argparse.Namespace) -> int:
    from slmgraph.graphs.builder import build
    from slmgraph.runner import run
    from slmgraph.spec import load_spec
    from slmgraph.telemetry.calllog import CallLog

    spec = load_spec(args.spec)
    inputs = _read_input(args.input)
    log: CallLog | bool | None = (
        False if args.no_log else (CallLog(args.call_log) if args.call_log else None)
    )
    built = build(spec, call_log=log, app=args.app)  # type: ignore[arg-type]
    result = run(built, inputs, session_id=args.session)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, default=str, indent=2))
    else:
        _print_result(result)
    return 0 if result.status != "error" else 1


def _print_result(result: Any) -> None:
    for key, value in result.output.items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        print(f"{key}: {shown}")
    if result.error:
        print(f"error: {result.error}")
    if result.next_nodes:
        print(f"paused before: {', '.join(result.next_nodes)}")
    print()
    print(f"{'node':<18}{'tier':<8}{'model':<38}{'in':>6}{'out':>6}{'seconds':>9}")
    for t in result.trace:
        print(
            f"{t['node']:<18}{(t['tier'] or '-'):<8}{(t['model'] or '-')[:37]:<38}"
            f"{t['tokens_in']:>6}{t['tokens_out']:>6}{t['latency_s']:>9.2f}"
            + ("" if t["status"] == "ok" else f"  {t['status']}: {t['error']}")
        )
    tot = result.totals
    print(
        f"{'total':<64}{tot['tokens_in']:>6}{tot['tokens_out']:>6}{tot['wall_s']:>9.2f}"
        f"   ${tot['cost_usd']:.6f}"
    )


def _cmd_eval(args: argparse.Namespace) -> int:
    import logging

    from slmgraph.eval import evaluate, load_split, stratified_sample
    from slmgraph.eval.systems import make_system

    if args.eval_command != "spider":
        print("usage: slmgraph eval spider --data DIR --system NAME --out DIR", file=sys.stderr)
        return 2
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    items = stratified_sample(load_split(args.data, args.split), args.limit, args.seed)
    system = make_system(args.system, args.threads)
    summary = evaluate(system, items, args.out, timeout_s=args.timeout)
    print(json.dumps(summary, indent=2))
    return 0


def _cmd_demo_db(args: argparse.Namespace) -> int:
    from slmgraph.demo import build_demo_db

    print(build_demo_db(args.path))
    return 0


def _cmd_ask(args: argparse.Namespace) -> int:
    import logging

    from slmgraph.graphs.builder import build
    from slmgraph.runner import run
    from slmgraph.spec import load_spec

    logging.getLogger("sqlglot").setLevel(logging.ERROR)  # its parse fallbacks are not news here
    db = args.db
    if db is None:
        from slmgraph.demo import build_demo_db, default_path

        db = str(default_path() if default_path().exists() else build_demo_db())
    elif not Path(db).is_file():
        print(f"error: no SQLite database at {db}", file=sys.stderr)
        return 1
    spec = load_spec(args.spec)
    if args.approve:
        for node in spec.nodes.values():
            if node.tool == "sql.execute":
                node.interrupt_before = True
    built = build(spec, call_log=False if args.no_log else None)
    inputs = {"question": args.question, "db": db}
    thread = "ask"
    result = run(built, inputs, thread_id=thread)
    while result.status == "interrupted":
        sql = result.state.get("sql", "")
        print(f"SQL to run:\n  {sql}", file=sys.stderr)
        reply = input("Run it? [y]es / [n]o / or type a corrected SQL: ").strip()
        if reply.lower() in ("n", "no"):
            print("Not run.", file=sys.stderr)
            return 1
        edits = {} if reply.lower() in ("", "y", "yes") else {"sql": reply}
        result = run(built, edits, thread_id=thread, resume=True)
    out = ask_result(result)
    if args.json:
        print(json.dumps(out, ensure_ascii=False, default=str, indent=2))
    else:
        print(f"SQL:    {out['sql']}")
        print(f"Answer: {out['answer']}")
        if out["error"]:
            print(f"Error:  {out['error']}")
        steps = [f"{t['node']}[{t['tier']}]" if t["model"] else t["node"] for t in out["trace"]]
        print("\n" + " -> ".join(steps))
    return 0 if out["error"] is None else 1


def ask_result(result: Any) -> dict[str, Any]:
    """The query-writer's result as the `ask --json` object."""
    state = result.state
    error = result.error or state.get("final_error")
    return {
        "question": state.get("question"),
        "sql": state.get("sql"),
        "columns": state.get("columns") or [],
        "rows": state.get("rows") or [],
        "truncated": bool(state.get("truncated")),
        "answer": state.get("answer"),
        "error": error,
        "escalated": bool(state.get("escalated")),
        "trace": [
            {
                k: t.get(k)
                for k in ("node", "tier", "model", "tokens_in", "tokens_out", "latency_s", "status")
            }
            for t in result.trace
        ],
        "totals": result.totals,
    }


def _cmd_graph(args: argparse.Namespace) -> int:
    from slmgraph.graphs.builder import build_graph
    from slmgraph.spec import load_spec

    graph = build_graph(load_spec(args.spec), call_log=False)
    print(graph.get_graph().draw_mermaid())
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    from slmgraph.spec import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from slmgraph.spec import load_spec

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


def _cmd_graphs(args: argparse.Namespace) -> int:
    from slmgraph.spec import builtin_graphs, load_spec

    for name in builtin_graphs():
        spec = load_spec(name)
        print(f"{name:<16}{spec.description or ''}")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from slmgraph.models import catalog

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


if __name__ == "__main__":
    raise SystemExit(main())
