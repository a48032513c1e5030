"""The six conversion steps chained, as a user runs them, on the tiny GGUF (CI-sized):

S1 a two-node graph logs its calls (a scripted "LLM" teaches both nodes) -> S2 curate ->
S3 cluster (the two task types come back) -> S5 LoRA on one cluster -> S4 select scores the
base and base+adapter on held-out calls -> S6 the student tier shadows the node, the evidence
promotes it, and the promoted graph answers from the student through llama.cpp."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import needs_llama

pytest.importorskip("peft", reason="the 'finetune' extra (torch, transformers, peft) is absent")
pytest.importorskip("sklearn", reason="the 'cluster' extra is not installed")

SPEC = """\
name: shop-helper
state: {item: str, colour: str, category: str}
output: [colour, category]
tiers:
  llm:   # the teacher
    backend: scripted
    settings: {rules: [{node: paint, output: red}, {node: sort, output: billing}]}
nodes:
  paint:
    agent: prompt
    tier: llm
    params: {system: "Answer with the colour.", user: "item {item}", output: colour}
  sort:
    agent: prompt
    tier: llm
    params:
      system: "Sort the request into a support category."
      user: "Request about {item}: which category?"
      output: category
edges:
  - {from: START, to: paint}
  - {from: paint, to: sort}
  - {from: sort, to: END}
"""
# Declared once the adapter exists (a spec naming a missing file does not validate).
STUDENT = """\
  student:
    backend: llamacpp
    model: {tiny}
    size: small
    settings: {n_ctx: 256, n_threads: 1, lora_path: {adapter}}
"""


@needs_llama
def test_log_curate_cluster_finetune_select_shadow_promote(tiny_gguf: Path, tmp_path: Path) -> None:
    from slmgraph import load_spec
    from slmgraph.graphs.builder import build
    from slmgraph.pipeline.cluster import cluster, read_examples, write
    from slmgraph.pipeline.curate import curate
    from slmgraph.pipeline.finetune import FinetuneConfig, converter_dir, finetune
    from slmgraph.pipeline.promote import promote, shadow_report
    from slmgraph.pipeline.select import llamacpp_runner, select
    from slmgraph.runner import run
    from slmgraph.telemetry.calllog import CallLog

    if converter_dir(fetch=False) is None:
        pytest.skip("llama.cpp's converter is not fetched yet (make setup fetches it)")
    adapter = tmp_path / "ft" / "adapter.gguf"
    spec_path = tmp_path / "shop.yaml"
    spec_path.write_text(SPEC)
    log = CallLog(tmp_path / "calls.sqlite")

    # S1: traffic on the teacher
    built = build(load_spec(spec_path), call_log=log)
    for i in range(24):
        assert run(built, {"item": f"no. {i}"}, session_id=f"s{i % 3}").status == "ok"
    # S2 + S3
    report = curate(log, tmp_path / "curated.jsonl")
    assert report.kept == 48
    examples = read_examples(tmp_path / "curated.jsonl")
    clusters = cluster(examples, embedder="tfidf")
    assert clusters.k == 2 and clusters.ari_vs_node == 1.0
    write(clusters, examples, tmp_path / "clusters")
    clustered = read_examples(tmp_path / "clusters" / "clusters.jsonl")
    paint = next(c.id for c in clusters.clusters if "paint" in c.nodes)
    train = [e for e in clustered if e["cluster"] == paint][:16]
    heldout = [e for e in clustered if e["cluster"] == paint][16:]
    # S5
    config = FinetuneConfig(base=str(tiny_gguf), epochs=4, lr=5e-3, rank=8, alpha=16, grad_accum=2)
    result = finetune(train, tmp_path / "ft", config, threads=1, progress=None)
    assert result.gguf == adapter and adapter.exists()
    # S4: the student agrees with the teacher on held-out calls; the base alone does not
    (choice,) = select(
        heldout, [str(tiny_gguf), f"{tiny_gguf}+{adapter}"],
        runner=llamacpp_runner(n_ctx=256, threads=1), progress=False,
    )  # fmt: skip
    assert [s.agreement for s in choice.scores][1] == 1.0
    assert choice.scores[0].agreement < 1.0
    # S6: shadow, then promote on the evidence
    before = '    tier: llm\n    params: {system: "Answer'
    student = STUDENT.replace("{tiny}", str(tiny_gguf)).replace("{adapter}", str(adapter))
    spec_path.write_text(
        spec_path.read_text()
        .replace(before, before.replace("llm\n", "llm\n    shadow: student\n"))
        .replace("  llm:   # the teacher", student + "  llm:   # the teacher")
    )
    built = build(load_spec(spec_path), call_log=log)
    for i in range(10):
        assert run(built, {"item": f"new {i}"}).output["colour"] == "red"
    built.tiers.wait_shadows()
    (evidence,) = shadow_report(log.rows("node = 'paint'"))
    assert (evidence.n, evidence.agreement) == (10, 1.0)
    done = promote(spec_path, "paint", "student", log=log, min_calls=10)
    assert done.written and "-    tier: llm" in done.diff and "+    tier: student" in done.diff
    promoted = build(load_spec(spec_path), call_log=log)
    out = run(promoted, {"item": "fresh"})
    assert out.output["colour"] == "red"
    paint_calls = [t for t in out.trace if t.get("node") == "paint"]
    assert paint_calls and all(t["tier"] == "student" for t in paint_calls)
    rows = json.loads(json.dumps(log.rows("node = 'paint' AND tier = 'student'")))
    assert len(rows) == 11  # 10 shadow calls, then the promoted node's own
