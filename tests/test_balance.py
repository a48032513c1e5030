"""Balancing training data by SQL shape: verification keeps the teacher's easy answers, so the
examples of rarer shapes are repeated until their shares match all the teacher's outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from slmgraph.pipeline.finetune import balance_examples, select_examples
from slmgraph.tools.sql.hooks import sql_shape

SHAPES = {
    "SELECT name FROM singer": "plain",
    "SELECT count(*) FROM singer WHERE age > 30": "plain",
    "SELECT country, count(*) FROM singer GROUP BY country": "group",
    "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.id = T2.singer_id": "join",
    "SELECT a.x FROM a, b WHERE a.id = b.id": "join",
    "SELECT name FROM singer WHERE id IN (SELECT singer_id FROM concert)": "nested",
    "SELECT name FROM singer EXCEPT SELECT name FROM singer WHERE age > 30": "nested",
    "SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer)": "nested",
    "SELECT FROM WHERE": "unparsed",
    "": "unparsed",
}


@pytest.mark.parametrize(("sql", "shape"), list(SHAPES.items()))
def test_sql_shape(sql: str, shape: str) -> None:
    assert sql_shape(sql) == shape


def pool(counts: dict[str, int], verified: dict[str, int]) -> list[dict[str, Any]]:
    """``counts`` outputs per shape, the first ``verified[shape]`` of them verified."""
    sql = {
        "plain": "SELECT name FROM t{i}",
        "group": "SELECT a, count(*) FROM t{i} GROUP BY a",
        "join": "SELECT x FROM t{i} JOIN u ON t{i}.id = u.id",
        "nested": "SELECT x FROM t{i} WHERE id IN (SELECT id FROM u)",
    }
    return [
        {
            "call_id": f"{shape}{i}",
            "node": "write_sql",
            "cluster": 0,
            "verified": i < verified.get(shape, 0),
            "messages": [{"role": "user", "content": f"question {shape} {i}"}],
            "output": sql[shape].format(i=i),
        }
        for shape, n in counts.items()
        for i in range(n)
    ]


def test_balance_matches_the_reference_shares_and_drops_nothing() -> None:
    # the teacher wrote 50% plain, 30% join, 20% nested; verification kept mostly plain ones
    everything = pool(
        {"plain": 50, "join": 30, "nested": 20}, {"plain": 40, "join": 10, "nested": 10}
    )
    verified = select_examples(everything, verified_only=True)
    assert len(verified) == 60
    out, b = balance_examples(verified, everything, shape=sql_shape)
    assert b.reference == {"join": 0.3, "nested": 0.2, "plain": 0.5}
    assert b.before == pytest.approx({"join": 0.1667, "nested": 0.1667, "plain": 0.6667}, abs=1e-3)
    assert b.after == pytest.approx(b.reference, abs=0.01)
    # every verified example is still there; the added ones are copies of verified examples
    ids = Counter(e["call_id"] for e in out)
    assert set(ids) == {e["call_id"] for e in verified}
    assert b.n_before == 60 and b.n_after == len(out) == 80  # 40 plain = 50% of 80
    # the repeats spread over the join examples instead of repeating one
    assert max(ids[f"join{i}"] for i in range(10)) - min(ids[f"join{i}"] for i in range(10)) <= 1
    # deterministic for a seed
    again, _ = balance_examples(verified, everything, shape=sql_shape)
    assert [e["call_id"] for e in again] == [e["call_id"] for e in out]


def test_balance_limits_growth_and_leaves_balanced_data_alone() -> None:
    everything = pool(
        {"plain": 50, "join": 50, "nested": 50}, {"plain": 50, "join": 2, "nested": 1}
    )
    verified = select_examples(everything, verified_only=True)
    out, b = balance_examples(verified, everything, shape=sql_shape)
    assert b.n_after == 150 and b.after == pytest.approx(b.reference, abs=0.01)
    out, b = balance_examples(verified, everything, max_growth=1.5, shape=sql_shape)
    # room for 26 more (1.5 x 53 = 79.5): the gaps of 48 joins and 49 nested scaled alike
    assert b.n_after == len(out) == 78
    assert Counter(sql_shape(e["output"]) for e in out) == {"plain": 50, "join": 14, "nested": 14}
    same = pool({"plain": 5, "join": 5}, {"plain": 5, "join": 5})
    out, b = balance_examples(same, same, shape=sql_shape)
    assert len(out) == 10 and b.after == b.before == b.reference


def test_balance_cannot_invent_a_missing_shape() -> None:
    # nested outputs were never verified: their share goes to the shapes present
    everything = pool({"plain": 6, "join": 2, "nested": 2}, {"plain": 3, "join": 1})
    verified = select_examples(everything, verified_only=True)
    _, b = balance_examples(verified, everything, shape=sql_shape)
    assert "nested" not in b.after
    assert b.after == pytest.approx({"join": 0.25, "plain": 0.75}, abs=0.01)


def test_drop_thins_the_common_shapes_and_repeats_nothing() -> None:
    everything = pool(
        {"plain": 50, "join": 30, "nested": 20}, {"plain": 40, "join": 10, "nested": 10}
    )
    verified = select_examples(everything, verified_only=True)
    out, b = balance_examples(verified, everything, mode="drop", shape=sql_shape)
    # joins are the rarest against their share (10 of 30%): all 10 stay, the others thinned to
    # the reference shares of a set of 10 / 0.3 = 33
    assert Counter(sql_shape(e["output"]) for e in out) == {"plain": 17, "join": 10, "nested": 7}
    assert b.mode == "drop" and (b.n_before, b.n_after) == (60, 34)
    assert b.after == pytest.approx(b.reference, abs=0.01)
    ids = [e["call_id"] for e in out]
    assert len(set(ids)) == len(ids)  # no repeats
    assert ids == [e["call_id"] for e in verified if e["call_id"] in set(ids)]  # order kept
    again, _ = balance_examples(verified, everything, mode="drop", shape=sql_shape)
    assert [e["call_id"] for e in again] == ids  # deterministic for a seed
    other, _ = balance_examples(verified, everything, mode="drop", seed=1, shape=sql_shape)
    assert [e["call_id"] for e in other] != ids
    # already at the reference shares: nothing to drop
    same = pool({"plain": 5, "join": 5}, {"plain": 5, "join": 5})
    out, b = balance_examples(same, same, mode="drop", shape=sql_shape)
    assert len(out) == 10 and b.after == b.before


def test_cli_prints_the_balance(tmp_path: Path) -> None:
    # --balance-sql happens before training, so a missing base model shows it without torch
    src = tmp_path / "ex.jsonl"
    everything = pool({"plain": 4, "join": 4}, {"plain": 4, "join": 1})
    src.write_text("".join(json.dumps(e) + "\n" for e in everything))
    p = subprocess.run(
        [sys.executable, "-m", "slmgraph", "finetune", str(src), "--base", "no-such-model",
         "--out", str(tmp_path / "o"), "--verified-only", "--balance-sql", "--holdout", "0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "balanced by SQL shape (repeat): 5 -> 8 examples" in p.stderr, p.stderr
    p = subprocess.run(
        [sys.executable, "-m", "slmgraph", "finetune", str(src), "--base", "no-such-model",
         "--out", str(tmp_path / "o"), "--verified-only", "--balance-sql", "drop",
         "--holdout", "0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "balanced by SQL shape (drop): 5 -> 2 examples" in p.stderr, p.stderr
