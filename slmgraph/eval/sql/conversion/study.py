"""The conversion study's configuration and where its files go.

One :class:`Study` is one invocation of ``benchmarks/conversion.py`` (its command-line flags);
its stages read and write under ``study.work``, its report goes to ``study.results``. A run on
another ``n_train`` than the first runs' 200 keeps curate, cluster, select and adapters of its
own; a training variant (balanced, trimmed, exact gradients) keeps its own adapter, eval and
stage files, so every run stays comparable with the others.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from slmgraph.eval.sql.spider import Item, load_split
from slmgraph.eval.sql.system import Prediction
from slmgraph.eval.sql.systems import query_writer_spec
from slmgraph.graphs.builder import build
from slmgraph.loader import load_spec
from slmgraph.runner import run
from slmgraph.spec import GraphSpec, default_tiers
from slmgraph.telemetry.calllog import CallLog

STUDENT = "qwen2.5-coder-0.5b-instruct-q4_k_m"
TEACHER = "qwen2.5-coder-1.5b-instruct-q4_k_m"
STAGES = ("teach", "slm-train", "curate", "cluster", "select", "finetune", "eval", "report")


@dataclass
class Study:
    """The flags of one run of the study (``benchmarks/conversion.py --help`` says each)."""

    data: Path = Path("../shared/data/spider")
    work: Path = Path("benchmarks/runs/conversion")
    results: Path = Path("benchmarks/results")
    #: Hand-written reading of the numbers, appended to the markdown report when it exists.
    notes: Path | None = None
    n_train: int = 200
    n_eval: int = 100
    n_select: int = 20
    seed: int = 0
    report_seeds: list[int] | None = None
    threads: int = 2
    epochs: float = 2.0
    lr: float = 2e-4
    rank: int = 16
    max_length: int = 2048
    balance_sql: Literal["repeat", "drop"] | None = None
    prompt_grad: bool = False


def writer_spec(model: str, threads: int, lora: Path | None = None) -> GraphSpec:
    """``slmgraph-slm`` (query-writer, grammar on, no escalation) with its tier on ``model``."""
    spec = query_writer_spec("slm", threads)
    data = spec.model_dump(by_alias=True, exclude_none=True, exclude={"source"})
    tier = data["tiers"]["slm"]
    tier["model"] = model
    # the tier is named slm whichever model runs it; its price is the model's own
    own = next(t for t in default_tiers().values() if t["model"] == model)
    tier["price"] = own["price"]
    if lora is not None:
        tier.setdefault("settings", {})["lora_path"] = str(lora)
    return load_spec(data)


class LoggedWriter:
    """The query-writer as an eval system that logs its calls and remembers each run's id."""

    def __init__(self, name: str, spec: GraphSpec, log: CallLog | None, runs: Path) -> None:
        self.name = name
        self.built = build(spec, call_log=log if log is not None else False)
        self.runs = runs

    def predict(self, item: Item) -> Prediction:
        start = time.perf_counter()
        result = run(
            self.built, {"question": item.question, "db": str(item.db_path)}, session_id=item.id
        )
        with self.runs.open("a") as f:
            f.write(json.dumps({"id": item.id, "run_id": result.run_id}) + "\n")
        state = result.state
        return Prediction(
            state.get("sql"),
            result.error or state.get("final_error"),
            bool(state.get("escalated")),
            [t for t in result.trace if t.get("model")],
            time.perf_counter() - start,
        )


def train_items(data: Path, n: int, seed: int, per_db: int = 5) -> list[Item]:
    """``n`` train questions, ``per_db`` from each of ``n / per_db`` random databases, grouped by
    database: consecutive questions share the schema, so llama.cpp reuses its cached prompt
    prefix (a random order pays the whole schema on every question: 22-26 s a question for the
    1.5B here, against about 7 s with the prefix cached)."""
    by_db: dict[str, list[Item]] = {}
    for it in load_split(data, "train"):
        by_db.setdefault(it.db_id, []).append(it)
    rng = random.Random(seed)
    dbs = sorted(by_db)
    rng.shuffle(dbs)
    out: list[Item] = []
    for db in dbs:
        if len(out) >= n:
            break
        pool = by_db[db]
        out += rng.sample(pool, min(per_db, len(pool), n - len(out)))
    return out


# The first runs' teacher questions: their files carry no size in their names. A run on another
# --n-train keeps its own curated data, clusters and select (``curated-n600.jsonl``,
# ``select-n600/`` ...) and its own adapter folders (``student-n600/`` ...); the teacher's log and
# answers are one, and grow.
FIRST_N_TRAIN = 200

# Training variants beside the baseline run (verified examples as they come, output-only
# gradients): each keeps its own adapter folder, eval and stage files, so runs stay comparable.
VARIANTS = {
    "balanced": "balanced by SQL shape",
    "trimmed": "trimmed to the teacher's SQL shapes",
    "promptgrad": "exact gradients",
}


def size(study: Study) -> str:
    """``""`` for the first runs' --n-train, else e.g. ``"-n600"``."""
    return "" if study.n_train == FIRST_N_TRAIN else f"-n{study.n_train}"


def sized(study: Study, name: str) -> Path:
    """A file or folder of the data stages for this --n-train: ``curated.jsonl`` for the first
    runs, ``curated-n600.jsonl`` for 600 questions."""
    stem, dot, ext = name.partition(".")
    return study.work / f"{stem}{size(study)}{dot}{ext}"


def n_train_of(folder: str) -> int:
    """The --n-train a student folder's adapter was trained on (``student-n600`` -> 600)."""
    sizes = [p[1:] for p in folder.split("-")[1:] if p[:1] == "n" and p[1:].isdigit()]
    return int(sizes[0]) if sizes else FIRST_N_TRAIN


def variant(study: Study) -> str:
    """``""`` for the baseline run, else e.g. ``"-balanced"``, ``"-n600-promptgrad"``."""
    on = [
        ("balanced", study.balance_sql == "repeat"),
        ("trimmed", study.balance_sql == "drop"),
        ("promptgrad", study.prompt_grad),
    ]
    return size(study) + "".join(f"-{name}" for name, flag in on if flag)


def describe(folder: str) -> str:
    """What a student folder's adapter was trained with, for report labels."""
    parts = [VARIANTS[p] for p in folder.split("-")[1:] if p in VARIANTS]
    n = n_train_of(folder)
    if not parts:
        return (
            f"baseline: {n} train questions, unbalanced, output-only gradients"
            if n == FIRST_N_TRAIN
            else f"{n} train questions, output-only gradients"
        )
    return ", ".join(([f"{n} train questions"] if n != FIRST_N_TRAIN else []) + parts)


def student_dir(study: Study) -> Path:
    """Where the student's adapter goes: each variant keeps its own (and its own eval)."""
    return study.work / f"student{variant(study)}"


def after_name(study: Study) -> str:
    return f"student-after{variant(study)}"


def stage_output(study: Study, stage: str) -> Path:
    """A stage's JSON output; a variant's finetune/eval/report keep their own files, another
    --n-train its own teach/curate/cluster/select summaries."""
    if stage in ("finetune", "eval", "report"):
        return study.work / f"{stage}{variant(study)}.json"
    return sized(study, f"{stage}.json")
