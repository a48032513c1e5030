"""S4 Select: agreement with the teacher (execution for SQL with a database, parsed JSON, or
normalised text), held-out sampling, the recommendation rule, and the CLI on the tiny GGUF."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import needs_llama
from slmgraph.errors import SlmgraphError
from slmgraph.pipeline.select import CandidateScore, agreement, heldout, recommend, select


def _db(tmp_path: Path) -> str:
    path = tmp_path / "shop.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE items (id INTEGER, name TEXT, price REAL)")
    conn.executemany("INSERT INTO items VALUES (?, ?, ?)", [(1, "a", 2.0), (2, "b", 3.5)])
    conn.commit()
    return str(path)


def test_agreement_by_kind(tmp_path: Path) -> None:
    db = _db(tmp_path)
    sql = {"db": db, "output": "SELECT name FROM items WHERE price > 3"}
    assert agreement(sql, "SELECT name FROM items WHERE id = 2")  # same rows, other SQL
    assert agreement(sql, "```sql\nSELECT name FROM items WHERE price > 3\n```")
    assert not agreement(sql, "SELECT name FROM items")
    assert not agreement(sql, "SELECT nme FROM items")  # an error is a disagreement
    gold = {**sql, "gold": "SELECT name FROM items"}  # a gold query outranks the teacher
    assert agreement(gold, "SELECT name FROM items ORDER BY id DESC")
    js = {"output": '{"a": 1, "b": [1, 2]}'}
    assert agreement(js, '{"b": [1, 2], "a": 1}') and not agreement(js, '{"a": 2, "b": [1, 2]}')
    assert agreement({"output": "Billing"}, " billing\n") and not agreement({"output": "x"}, "y")
    # without a database, SQL agrees when sqlglot reads both the same way
    assert agreement({"output": "SELECT a FROM t WHERE b = 1"}, "select a\nfrom t where b=1;")
    assert not agreement({"output": "SELECT a FROM t"}, "SELECT b FROM t")


def test_heldout_is_deterministic() -> None:
    ex = [{"call_id": f"c{i}", "messages": []} for i in range(50)]
    assert heldout(ex, 10) == heldout(list(reversed(ex)), 10)
    assert len(heldout(ex, 80)) == 50


def _score(model: str, agree: float, mb: float) -> CandidateScore:
    return CandidateScore(model, 20, agree, 1.0, 10.0, mb, 100.0, "Apache-2.0")


def test_recommendation_rule() -> None:
    small, big = _score("small", 0.86, 100), _score("big", 0.9, 1000)
    assert recommend([small, big], 0.8, 0.05) == "use small (agreement 86%)"
    assert recommend([_score("small", 0.5, 100), big], 0.8, 0.05) == "use big (agreement 90%)"
    assert recommend([_score("s", 0.5, 100), _score("b", 0.6, 900)], 0.8, 0.05).startswith(
        "fine-tune b (best agreement 60%"
    )


def test_select_with_a_scripted_runner() -> None:
    examples: list[dict[str, Any]] = [
        {"call_id": f"{c}{i}", "cluster": c, "messages": [{"role": "user", "content": f"{i}"}],
         "output": "yes" if c == 0 else '{"k": 1}'}
        for c in (0, 1) for i in range(6)
    ]  # fmt: skip

    def runner(model: str, messages: Any, constraint: Any) -> tuple[str, float, int]:
        if model == "good":
            return ("yes" if messages[0]["content"].isdigit() else "no"), 0.1, 1
        raise RuntimeError("boom")

    choices = select(examples, ["good", "broken"], runner=runner, n=4, progress=False)
    assert [c.cluster for c in choices] == [0, 1]
    good0, broken0 = choices[0].scores
    assert good0.agreement == 1.0 and broken0.errors == 4 and broken0.agreement == 0.0
    assert choices[1].scores[0].agreement == 0.0  # "yes" is not {"k": 1}
    with pytest.raises(SlmgraphError, match="no cluster \\[7\\]"):
        select(examples, ["good"], runner=runner, clusters=[7], progress=False)
    with pytest.raises(SlmgraphError, match="run 'slmgraph cluster' first"):
        select([{"messages": []}], ["good"], runner=runner, progress=False)


@needs_llama
def test_cli_select_on_the_tiny_gguf(tiny_gguf: Path, tmp_path: Path) -> None:
    examples = [
        {"call_id": f"c{i}", "cluster": 0, "model": "teacher",
         "messages": [{"role": "user", "content": f"Say yes {i}"}], "output": "yes",
         "constraint": {"choice": ["yes", "no"]}}
        for i in range(3)
    ]  # fmt: skip
    src = tmp_path / "clusters.jsonl"
    src.write_text("".join(json.dumps(e) + "\n" for e in examples))
    out = subprocess.run(
        [sys.executable, "-m", "slmgraph", "select", str(src), "--out", str(tmp_path / "s"),
         "--candidate", str(tiny_gguf), "--threads", "1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "s" / "select.json").read_text())
    score = report["clusters"][0]["scores"][0]
    assert score["n"] == 3 and score["errors"] == 0 and score["file_mb"] is not None
    assert "| cluster | recommendation |" in out.stdout


def test_a_candidate_with_an_adapter_counts_both_files(tmp_path: Path) -> None:
    from slmgraph.pipeline.select import _model_facts

    base, adapter = tmp_path / "base.gguf", tmp_path / "lora.gguf"
    base.write_bytes(b"x" * 3_000_000)
    adapter.write_bytes(b"x" * 500_000)
    assert _model_facts(str(base)) == (3.0, None)
    assert _model_facts(f"{base}+{adapter}") == (3.5, None)
    assert _model_facts(str(tmp_path / "missing.gguf")) == (None, None)
