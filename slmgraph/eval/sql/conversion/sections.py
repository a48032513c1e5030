"""The conversion report's sections on the data stages: what curate kept and verified, what
clustering found (against node names and task types), and how select scored the candidates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from slmgraph.eval.sql.conversion.study import Study, describe, sized


def candidate(model: str) -> str:
    """A candidate as the report names it: a model file's name, and its adapter's variant."""
    base, _, adapter = model.partition("+")
    if not adapter:
        return Path(base).name
    return f"{Path(base).name} + LoRA adapter ({describe(Path(adapter).parent.name)})"


def short_paths(text: str, scores: list[dict[str, Any]]) -> str:
    """A recommendation names its model as the report's table does, without local paths."""
    for sc in scores:
        text = text.replace(sc["model"], candidate(sc["model"]))
    return text


# The query-writer's nodes by task type: the fixer shares the writer's instruction, schema and
# output language (one SLM serves both), so they are one task; tests/test_cluster.py holds the
# clusters to ARI >= 0.8 against this grouping.
TASK_OF_NODE = {
    "write_sql": "sql",
    "fix_sql": "sql",
    "extract_tables": "tables",
    "rerank": "columns",
    "research": "research",
}


def ari_vs_task(path: Path) -> float | None:
    """Adjusted Rand index of the clusters (``clusters.jsonl``) against the calls' task types."""
    if not path.exists():
        return None
    from sklearn.metrics import adjusted_rand_score  # the optional 'cluster' extra

    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    truth = [TASK_OF_NODE.get(r["node"], r["node"]) for r in rows]
    return float(adjusted_rand_score(truth, [r["cluster"] for r in rows]))


def pipeline_sections(study: Study) -> list[str]:
    """Curate, cluster and select for this --n-train, from their stage outputs (when they ran)."""
    out: list[str] = []
    cur = sized(study, "curate.json")
    if cur.exists():
        c = json.loads(cur.read_text())
        pii = ", ".join(f"{k} {v}" for k, v in sorted(c["pii_replaced"].items()))
        dropped = ", ".join(f"{k} {v}" for k, v in c["dropped"].items()) or "none"
        out += [
            "## Curate",
            "",
            f"{c['read']} logged calls read, {c['kept']} kept (dropped: {dropped}); "
            f"{c['verified']} SQL outputs (write_sql and fix_sql) execution-verified against "
            "the gold query. "
            f"PII replaced by typed placeholders: {pii or 'none'}.",
            "",
        ]
    clu = sized(study, "cluster.json")
    if clu.exists():
        c = json.loads(clu.read_text())
        comp = "; ".join(
            f"{k['size']} calls ({', '.join(f'{n} {m}' for n, m in k['nodes'].items())})"
            for k in c["clusters"]
        )
        by_task = ari_vs_task(sized(study, "clusters") / "clusters.jsonl")
        out += [
            "## Cluster",
            "",
            f"{c['method']} on {c['embedder']} embeddings, k = {c['k']}: {comp}. Adjusted Rand "
            f"index against node names: {c['ari_vs_node']:.2f}"
            + (
                f"; against task types (write_sql and fix_sql one task, as in "
                f"`tests/test_cluster.py`): {by_task:.2f}."
                if by_task is not None
                else "."
            ),
            "",
        ]
    sel = sized(study, "select") / "select.json"
    if sel.exists():
        for k in json.loads(sel.read_text())["clusters"]:
            out += [
                f"## Select ({k['label']}: {k['size']} calls)",
                "",
                "| candidate | n | agreement (execution) | p50 s | tokens/s | RSS MB | errors |",
                "|---|---|---|---|---|---|---|",
                *[
                    f"| {candidate(sc['model'])} | {sc['n']} | {sc['agreement']:.0%} | "
                    f"{sc['p50_s']:.1f} | {sc['tokens_per_s']:.1f} | {sc['rss_mb']:.0f} | "
                    f"{sc['errors']} |"
                    for sc in k["scores"]
                ],
                "",
                "Recommendation: " + short_paths(k["recommendation"], k["scores"]),
                "",
            ]
    return out
