"""S4 Select: which small model can take over each cluster of calls?

For each cluster (``slmgraph cluster`` output) a deterministic held-out sample of its examples is
replayed on each candidate model — same messages, same constraint as logged, greedy decoding —
and the candidate's output is scored against the teacher's:

- SQL with a database (examples carrying ``"db"``): execution accuracy — the candidate's rows
  against the reference's (``"gold"`` when present, else the teacher's output), as the Spider
  harness compares them;
- JSON: the parsed values are equal;
- anything else: :func:`slmgraph.answers.same_answer` (equal JSON, normalised text, or SQL equal
  after sqlglot normalisation).

Per cluster and candidate the report gives agreement, p50 latency, tokens per second, the
model's file size, the process's resident memory with it loaded (one candidate at a time), and
the licence; the
recommendation is the smallest candidate within ``tolerance`` of the best agreement that
reaches ``min_agreement``, else "fine-tune" the best one (S5) — a cluster no candidate can do
yet is exactly what the fine-tuning step is for.
"""

from __future__ import annotations

import json
import random
import resource
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slmgraph import registry
from slmgraph.answers import same_answer
from slmgraph.constraints.base import Constraint
from slmgraph.errors import SlmgraphError
from slmgraph.models.catalog import CATALOG, is_pulled
from slmgraph.models.settings import LlamaCppSettings
from slmgraph.plugins import ensure_loaded

Runner = Callable[[str, list[dict[str, str]], dict[str, Any] | None], tuple[str, float, int]]


def agreement(example: dict[str, Any], output: str, timeout_s: float = 10.0) -> bool:
    """Does ``output`` do what the teacher's output did for this call? A domain's judge decides
    for the examples it knows (the query-writer's: by execution on the example's ``db``), else
    :func:`slmgraph.answers.same_answer`."""
    ensure_loaded()
    for judge in registry.JUDGES.values():
        if judge.applies(example):
            return judge.agree(example, output, timeout_s)
    reference = str(example.get("gold") or example.get("output") or "")
    return same_answer(output, reference)


def heldout(examples: Sequence[dict[str, Any]], n: int, seed: int = 0) -> list[dict[str, Any]]:
    """A deterministic sample of ``n`` examples (by call id, so re-running picks the same)."""
    ordered = sorted(examples, key=lambda e: str(e.get("call_id") or json.dumps(e["messages"])))
    random.Random(seed).shuffle(ordered)
    return ordered[:n]


def _rss_mb() -> float:
    """Resident memory of this process now (one candidate model is loaded at a time)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # peak, where no /proc


@dataclass
class CandidateScore:
    model: str
    n: int
    agreement: float
    p50_s: float
    tokens_per_s: float
    file_mb: float | None
    rss_mb: float
    license: str | None
    errors: int = 0


@dataclass
class ClusterChoice:
    cluster: int
    label: str
    size: int
    scores: list[CandidateScore] = field(default_factory=list)
    recommendation: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "label": self.label,
            "size": self.size,
            "recommendation": self.recommendation,
            "scores": [asdict(s) for s in self.scores],
        }


def llamacpp_runner(n_ctx: int = 4096, threads: int | None = None, max_tokens: int = 256) -> Runner:
    """Replays a call on a catalog model or GGUF path, ``MODEL+ADAPTER.gguf`` for a base with a
    LoRA adapter (S5's output). One model is loaded at a time."""
    from slmgraph.models.llamacpp import from_tier, release_llama

    loaded: dict[str, Any] = {}

    def run(
        model: str, messages: list[dict[str, str]], constraint: dict[str, Any] | None
    ) -> tuple[str, float, int]:
        if model not in loaded:
            for previous in loaded.values():  # free the last candidate before the next loads
                release_llama(previous.llama)
            loaded.clear()
            base, _, lora = model.partition("+")
            settings = LlamaCppSettings(n_ctx=n_ctx, n_threads=threads, lora_path=lora or None)
            loaded[model] = from_tier(base, settings)
        backend = loaded[model]
        c = Constraint.from_dict(constraint) if constraint else None
        # a candidate that never ends its answer costs at most max_tokens per call (a 135M model
        # under a SQL grammar ran to 512 tokens, about a minute a call here)
        out = backend.complete(messages, c, max_tokens=max_tokens, temperature=0.0, logprobs=False)
        return out.text, out.latency_s, out.usage.output_tokens

    return run


def _model_facts(model: str) -> tuple[float | None, str | None]:
    model, _, adapter = model.partition("+")
    # a LoRA adapter is loaded beside its base: its file counts too (35 MB for rank 16 on 0.5B)
    extra = Path(adapter).stat().st_size if adapter and Path(adapter).exists() else 0
    info = CATALOG.get(model)
    if info is not None:
        return round((info.size + extra) / 1e6, 1), info.license
    p = Path(model)
    return (round((p.stat().st_size + extra) / 1e6, 1) if p.exists() else None), None


def select(
    clustered: Sequence[dict[str, Any]],
    candidates: Sequence[str],
    *,
    runner: Runner | None = None,
    n: int = 20,
    min_agreement: float = 0.8,
    tolerance: float = 0.05,
    clusters: Sequence[int] | None = None,
    labels: dict[int, str] | None = None,
    seed: int = 0,
    progress: bool = True,
) -> list[ClusterChoice]:
    """Score ``candidates`` (smallest first) on each cluster's held-out examples."""
    if not candidates:
        raise SlmgraphError("no candidate models to evaluate")
    run = runner or llamacpp_runner()
    by_cluster: dict[int, list[dict[str, Any]]] = {}
    for e in clustered:
        if "cluster" not in e:
            raise SlmgraphError("examples have no 'cluster' field: run 'slmgraph cluster' first")
        by_cluster.setdefault(int(e["cluster"]), []).append(e)
    wanted = sorted(by_cluster) if clusters is None else list(clusters)
    missing = [c for c in wanted if c not in by_cluster]
    if missing:
        raise SlmgraphError(f"no cluster {missing} in the examples (have {sorted(by_cluster)})")
    choices = []
    for cid in wanted:
        if cid == -1:
            continue  # HDBSCAN noise is no task
        sample = heldout(by_cluster[cid], n, seed)
        choice = ClusterChoice(cid, (labels or {}).get(cid, ""), len(by_cluster[cid]))
        for model in candidates:
            agree, latencies, tokens, errors = 0, [], 0, 0
            for i, e in enumerate(sample, 1):
                try:
                    text, latency, n_out = run(model, e["messages"], e.get("constraint"))
                except Exception as exc:  # a candidate that fails a call scores 0 on it
                    errors += 1
                    print(f"\n{model}: {type(exc).__name__}: {exc}", file=sys.stderr)
                    continue
                agree += agreement(e, text)
                latencies.append(latency)
                tokens += n_out
                if progress:
                    print(
                        f"\rselect: cluster {cid} {model}: {i}/{len(sample)} "
                        f"agreement {agree / i:.0%}   ",
                        end="",
                        file=sys.stderr,
                    )
            if progress:
                print(file=sys.stderr)
            size, licence = _model_facts(model)
            choice.scores.append(
                CandidateScore(
                    model=model,
                    n=len(sample),
                    agreement=round(agree / len(sample), 4) if sample else 0.0,
                    p50_s=round(statistics.median(latencies), 3) if latencies else 0.0,
                    tokens_per_s=round(tokens / sum(latencies), 1) if sum(latencies) else 0.0,
                    file_mb=size,
                    rss_mb=round(_rss_mb(), 1),
                    license=licence,
                    errors=errors,
                )
            )
        choice.recommendation = recommend(choice.scores, min_agreement, tolerance)
        choices.append(choice)
    return choices


def recommend(scores: Sequence[CandidateScore], min_agreement: float, tolerance: float) -> str:
    """The smallest candidate near the best agreement, if good enough; else fine-tune the best."""
    if not scores:
        return "no candidate"
    best = max(s.agreement for s in scores)
    sized = sorted(scores, key=lambda s: (s.file_mb is None, s.file_mb or 0.0))
    pick = next(s for s in sized if s.agreement >= best - tolerance)
    if pick.agreement >= min_agreement:
        return f"use {pick.model} (agreement {pick.agreement:.0%})"
    top = max(scores, key=lambda s: (s.agreement, -(s.file_mb or 0.0)))
    return f"fine-tune {top.model} (best agreement {top.agreement:.0%} < {min_agreement:.0%})"


def markdown(choices: Sequence[ClusterChoice]) -> str:
    lines = [
        "| cluster | label | size | model | n | agreement | p50 s | tok/s | file MB "
        "| RSS MB | licence |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in choices:
        for s in c.scores:
            lines.append(
                f"| {c.cluster} | {c.label} | {c.size} | {s.model} | {s.n} | {s.agreement:.0%} "
                f"| {s.p50_s} | {s.tokens_per_s} | {s.file_mb} | {s.rss_mb} | {s.license} |"
            )
    lines += ["", "| cluster | recommendation |", "|---|---|"]
    lines += [f"| {c.cluster} | {c.recommendation} |" for c in choices]
    return "\n".join(lines) + "\n"


def write(choices: Sequence[ClusterChoice], out: str | Path) -> Path:
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    (d / "select.json").write_text(
        json.dumps({"clusters": [c.as_dict() for c in choices]}, indent=2) + "\n"
    )
    (d / "select.md").write_text(markdown(choices))
    return d


def default_candidates(exclude: Sequence[str] = ()) -> list[str]:
    """The pulled catalog models, smallest first, without the teacher's."""
    models = [m for m in CATALOG.values() if m.name not in exclude and is_pulled(m.name)]
    return [m.name for m in sorted(models, key=lambda m: m.size)]
