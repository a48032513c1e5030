"""Conversion pipeline commands: ``scrub`` (PII), ``curate`` (log -> examples), ``cluster``
(task types), ``select`` (candidate SLMs on held-out calls), ``finetune`` (LoRA)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from slmgraph import registry
from slmgraph._suggest import did_you_mean
from slmgraph.cli._common import Commands, open_log
from slmgraph.errors import SlmgraphError
from slmgraph.pipeline.cluster import cluster, read_examples, stderr_progress, write
from slmgraph.pipeline.curate import curate
from slmgraph.pipeline.finetune import FinetuneConfig, balance_examples, finetune, select_examples
from slmgraph.pipeline.scrub import NOT_COVERED, Scrubber
from slmgraph.pipeline.select import default_candidates, llamacpp_runner, markdown, select
from slmgraph.pipeline.select import write as write_select
from slmgraph.plugins import ensure_loaded

LOG_HELP = (
    "call log: SQLite file or postgresql:// URL (default: $SLMGRAPH_CALL_LOG or the XDG state dir)"
)


def register(commands: Commands) -> None:
    sc = commands.add(
        "scrub",
        cmd_scrub,
        help="replace PII on stdin with typed placeholders (<EMAIL_1>, ...); counts on stderr",
    )
    sc.add_argument("--quiet", action="store_true", help="no counts on stderr")
    cu = commands.add(
        "curate",
        cmd_curate,
        help="call log -> training examples: drop failed/cancelled/duplicate calls, scrub PII",
    )
    cu.add_argument("--log", help=LOG_HELP)
    cu.add_argument("--out", required=True, help="JSONL file to write (report beside it)")
    cu.add_argument("--node", action="append", help="only these nodes (repeatable)")
    cu.add_argument(
        "--run",
        action="append",
        metavar="RUN_ID",
        help="only the calls of these runs (repeatable; e.g. the runs that finished)",
    )
    cu.add_argument("--no-scrub", action="store_true", help="keep PII (for private logs only)")
    cl = commands.add(
        "cluster",
        cmd_cluster,
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
    se = commands.add(
        "select",
        cmd_select,
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
    ft = commands.add(
        "finetune",
        cmd_finetune,
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
        "--balance-by",
        metavar="SHAPE",
        help="match the output shapes of all the cluster's calls (verification favours easy "
        "ones) by a domain's shape classifier, e.g. 'sql' (joins, subqueries, GROUP BY)",
    )
    ft.add_argument(
        "--balance-mode",
        choices=["repeat", "drop"],
        default="repeat",
        help="'repeat' (default) repeats verified examples of rare shapes, 'drop' leaves out "
        "some of the common ones",
    )
    ft.add_argument(
        "--balance-sql",
        nargs="?",
        const="repeat",
        choices=["repeat", "drop"],
        help="shorthand for --balance-by sql --balance-mode MODE",
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


def cmd_cluster(args: argparse.Namespace) -> int:

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


def cmd_select(args: argparse.Namespace) -> int:
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


def cmd_finetune(args: argparse.Namespace) -> int:
    pool = read_examples(args.examples)
    examples = select_examples(
        pool,
        cluster=args.cluster,
        nodes=args.node,
        verified_only=args.verified_only,
        holdout=args.holdout,
    )
    shape_name = "sql" if args.balance_sql else args.balance_by
    mode = args.balance_sql or args.balance_mode
    if shape_name:
        ensure_loaded()
        if shape_name not in registry.SHAPES:
            raise SlmgraphError(
                f"no shape classifier {shape_name!r}. "
                + did_you_mean(shape_name, registry.SHAPES, "shapes")
            )
        reference = select_examples(
            pool, cluster=args.cluster, nodes=args.node, holdout=args.holdout
        )
        examples, balance = balance_examples(
            examples, reference, mode=mode, shape=registry.SHAPES[shape_name]
        )
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


def cmd_curate(args: argparse.Namespace) -> int:

    report = curate(
        open_log(args.log), args.out, nodes=args.node, runs=args.run, scrub_pii=not args.no_scrub
    )
    out = Path(args.out)
    out.with_suffix(".report.json").write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    out.with_suffix(".report.md").write_text(report.markdown())
    print(report.markdown(), end="")
    print(f"wrote {report.kept} example{'' if report.kept == 1 else 's'} to {out}")
    return 0


def cmd_scrub(args: argparse.Namespace) -> int:

    scrubber = Scrubber()  # the whole input is one record: consistent placeholders
    for line in sys.stdin:
        sys.stdout.write(scrubber.scrub(line))
    sys.stdout.flush()
    if not args.quiet:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(scrubber.counts.items())) or "none"
        missing = f" (not covered: {', '.join(NOT_COVERED)})" if NOT_COVERED else ""
        print(f"scrubbed: {counts}{missing}", file=sys.stderr)
    return 0
