"""The query-writer graph driven by scripted models on the demo database: the happy path, the
repair loop, escalation to the llm tier (fixer exhausted, low logprob, empty result), refused
statements, human-in-the-loop interrupts, and `slmgraph ask --json`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from slmgraph import load_spec, run
from slmgraph.graphs.builder import build
from slmgraph.telemetry.calllog import CallLog
from slmgraph.tools.sql.demo import build_demo_db


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(build_demo_db(tmp_path_factory.mktemp("db") / "shop.sqlite"))


def tiers(
    slm_rules: list[dict[str, Any]], llm_rules: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "slm": {
            "backend": "scripted",
            "fallback": "llm",
            "settings": {"rules": slm_rules},
            "price": {"input_per_1m": 0.02, "output_per_1m": 0.06},
        },
        "llm": {
            "backend": "scripted",
            "settings": {"rules": llm_rules or []},
            "price": {"input_per_1m": 0.2, "output_per_1m": 0.6},
        },
    }


def qw_spec(t: dict[str, Any], *, linking: bool = True) -> Any:
    """The query-writer on scripted tiers. ``linking``: make the model pick tables even on the
    small demo schema (the shipped spec shows a schema of <= 60 columns whole)."""
    spec = load_spec("query_writer", tier_overrides=t)
    if not linking:
        return spec
    data = spec.model_dump(by_alias=True, exclude_none=True, exclude={"source"})
    data["nodes"]["extract_tables"]["params"]["skip_if_columns_at_most"] = 0
    data["nodes"]["rerank"]["params"]["max_columns"] = 40
    return load_spec(data)


def ask(shop: str, question: str, t: dict[str, Any], **kw: Any):  # type: ignore[no-untyped-def]
    linking = kw.pop("linking", True)
    return run(
        qw_spec(t, linking=linking),
        {"question": question, "db": shop},
        call_log=False,
        **kw,
    )


def nodes(result) -> list[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    return [(t["node"], t["tier"]) for t in result.trace if t["model"]]


def test_happy_path(shop: str) -> None:
    r = ask(
        shop,
        "How many customers are there?",
        tiers(
            [
                {"node": "extract_tables", "output": '["customers"]'},
                {"node": "write_sql", "output": "SELECT count(*) FROM customers"},
            ]
        ),
    )
    assert r.status == "ok"
    assert r.output["sql"] == "SELECT count(*) FROM customers"
    assert r.output["rows"] == [[40]] and r.output["answer"] == "The answer is 40."
    assert r.output["final_error"] is None and not r.output["escalated"]
    assert nodes(r) == [("extract_tables", "slm"), ("write_sql", "slm")]
    assert r.state["linked"] == {
        "customers": ["customer_id", "name", "email", "city", "country", "joined_on"]
    }


def test_small_schema_goes_to_the_writer_whole(shop: str) -> None:
    r = ask(
        shop,
        "How many customers are there?",
        tiers([{"node": "write_sql", "output": "SELECT count(*) FROM customers"}]),
        linking=False,
    )
    assert r.output["rows"] == [[40]]
    assert nodes(r) == [("write_sql", "slm")]  # no table-extraction call
    assert set(r.state["linked"]) == set(r.state["candidates"])


def test_value_hints_and_bridging(shop: str) -> None:
    r = ask(
        shop,
        "Which products are in the Books category?",
        tiers(
            [
                {"node": "extract_tables", "output": '["products"]'},
                {
                    "node": "write_sql",
                    "output": "SELECT T1.name FROM products AS T1 JOIN categories AS T2 "
                    "ON T1.category_id = T2.category_id WHERE T2.name = 'Books'",
                },
            ]
        ),
    )
    assert r.state["hints"] == {"categories": {"name": ["Books"]}}
    assert list(r.state["linked"]) == ["products", "categories"]  # the hinted table joins in
    assert len(r.output["rows"]) == 6


def test_vote_picks_the_result_most_samples_share(shop: str) -> None:
    spec = load_spec(
        "query_writer",
        tier_overrides=tiers(
            [
                {"node": "extract_tables", "output": '["customers"]'},
                {
                    "node": "write_sql",
                    "outputs": [
                        "SELECT count(*) FROM orders",  # greedy: wrong
                        "SELECT count(*) FROM customers",
                        "SELECT count(*) FROM nowhere",  # fails: does not count
                        "SELECT count(customer_id) FROM customers",  # same rows as the second
                    ],
                },
            ]
        ),
    )
    data = spec.model_dump(by_alias=True, exclude_none=True, exclude={"source"})
    data["nodes"]["write_sql"]["params"].update({"samples": 4, "vote": True, "grammar": "off"})
    r = run(load_spec(data), {"question": "How many customers?", "db": shop}, call_log=False)
    assert r.output["sql"] == "SELECT count(*) FROM customers"
    assert r.output["rows"] == [[40]]
    assert r.state["confidence"]["agreement"] == 0.5  # 2 of 4 candidates agree with the pick
    assert "SELECT count(*) FROM orders" in r.state["sql_samples"]


def test_repair_loop_fixes_a_wrong_column(shop: str) -> None:
    r = ask(
        shop,
        "What is the most expensive product?",
        tiers(
            [
                {"node": "extract_tables", "output": '["products"]'},
                {
                    "node": "write_sql",
                    "output": "SELECT nme FROM products ORDER BY price DESC LIMIT 1",
                },
                {
                    "node": "fix_sql",
                    "match": "Did you mean 'name'",
                    "output": "SELECT name FROM products ORDER BY price DESC LIMIT 1",
                },
            ]
        ),
    )
    assert r.output["answer"] == "The answer is 4K Monitor."
    assert nodes(r) == [("extract_tables", "slm"), ("write_sql", "slm"), ("fix_sql", "slm")]
    errors = [a["error"] for a in r.state["attempts"] if a.get("error")]
    assert errors and "Column 'nme' could not be resolved" in errors[0]


def test_exhausted_fixer_escalates_to_the_llm(shop: str) -> None:
    r = ask(
        shop,
        "What is the most expensive product?",
        tiers(
            [
                {"node": "extract_tables", "output": '["products"]'},
                {"node": "write_sql", "output": "SELECT nme FROM products"},
                {
                    "node": "fix_sql",
                    "outputs": ["SELECT nam FROM products", "SELECT naem FROM products"],
                },
            ],
            [
                {
                    "node": "research",
                    "match": "WRONG",
                    "output": "SELECT name FROM products ORDER BY price DESC LIMIT 1",
                }
            ],
        ),
    )
    assert r.output["answer"] == "The answer is 4K Monitor."
    assert r.output["escalated"] is True
    assert nodes(r)[-1] == ("research", "llm")
    assert [n for n, _ in nodes(r)].count("fix_sql") == 2


def test_low_logprob_escalates(shop: str) -> None:
    r = ask(
        shop,
        "How many orders were shipped?",
        tiers(
            [
                {"node": "extract_tables", "output": '["orders"]'},
                {"node": "write_sql", "output": "SELECT count(*) FROM orders", "logprob": -2.0},
            ],
            [
                {
                    "node": "research",
                    "output": "SELECT count(*) FROM orders WHERE status = 'shipped'",
                }
            ],
        ),
    )
    assert r.output["rows"] == [[29]] and r.output["escalated"] is True
    reasons = [a["note"] for a in r.state["attempts"] if a.get("note")]
    assert reasons and "mean token logprob -2.00" in reasons[0]


def test_empty_result_escalates_and_llm_answer_stands(shop: str) -> None:
    r = ask(
        shop,
        "Which customers live in Oslo?",
        tiers(
            [
                {"node": "extract_tables", "output": '["customers"]'},
                {"node": "write_sql", "output": "SELECT name FROM customers WHERE city = 'oslo'"},
            ],
            [{"node": "research", "output": "SELECT name FROM customers WHERE city = 'Oslo'"}],
        ),
    )
    assert r.output["rows"] == [] and r.output["escalated"] is True
    assert r.output["answer"] == "No rows match the question."
    assert [n for n, _ in nodes(r)].count("research") == 1  # the llm's answer is final


def test_destructive_sql_is_refused_and_repaired(shop: str) -> None:
    before = Path(shop).read_bytes()
    r = ask(
        shop,
        "Delete all orders",
        tiers(
            [
                {"node": "extract_tables", "output": '["orders"]'},
                {"node": "write_sql", "output": "DELETE FROM orders"},
                {"node": "fix_sql", "output": "SELECT count(*) FROM orders"},
            ]
        ),
    )
    refused = [a["error"] for a in r.state["attempts"] if a.get("error")]
    assert refused and "DELETE is not allowed" in refused[0]
    assert r.output["rows"] == [[150]]
    assert Path(shop).read_bytes() == before


def test_everything_fails_ends_in_a_defined_state(shop: str) -> None:
    r = ask(
        shop,
        "?",
        tiers(
            [
                {"node": "extract_tables", "output": '["orders"]'},
                {"node": "write_sql", "output": "SELECT x FROM orders"},
                {"node": "fix_sql", "output": "SELECT y FROM orders"},
            ],
            [{"node": "research", "output": "SELECT z FROM orders"}],
        ),
    )
    assert r.status == "ok"  # the graph finished; the answer says why there is none
    assert r.output["final_error"] and r.output["answer"].startswith("I could not answer")
    assert r.output["rows"] == []


def test_missing_database_is_a_run_error(tmp_path: Path) -> None:
    r = run(
        load_spec("query_writer", tier_overrides=tiers([])),
        {"question": "q", "db": str(tmp_path / "none.sqlite")},
        call_log=False,
    )
    assert r.status == "error" and "no SQLite database" in (r.error or "")
    assert r.state["failed_node"] == "link"


def test_human_in_the_loop_approve_and_edit(shop: str) -> None:
    spec = load_spec(
        "query_writer",
        tier_overrides=tiers(
            [
                {"node": "extract_tables", "output": '["customers"]'},
                {"node": "write_sql", "output": "SELECT count(*) FROM customers"},
            ]
        ),
    )
    spec.nodes["execute"].interrupt_before = True
    built = build(spec, call_log=False)
    inputs = {"question": "How many customers live in Berlin?", "db": shop}
    paused = run(built, inputs, thread_id="t1")
    assert paused.status == "interrupted" and paused.next_nodes == ["execute"]
    assert "rows" not in paused.state or not paused.state.get("rows")
    edited = "SELECT count(*) FROM customers WHERE city = 'Berlin'"
    done = run(built, {"sql": edited}, thread_id="t1", resume=True)
    assert done.status == "ok" and done.output["sql"] == edited
    assert done.output["rows"] == [[6]]
    # An edit that is not read-only is refused at execute, like any model's SQL.
    run(built, inputs, thread_id="t2")
    before = Path(shop).read_bytes()
    bad = run(built, {"sql": "DROP TABLE customers"}, thread_id="t2", resume=True)
    assert "DROP is not allowed" in (bad.state.get("exec_error") or "")
    assert Path(shop).read_bytes() == before


def test_ask_json_cli(shop: str, tmp_path: Path) -> None:
    import yaml

    f = tmp_path / "tiers.yaml"
    f.write_text(
        yaml.safe_dump(
            tiers(
                [
                    {"node": "extract_tables", "output": '["products"]'},
                    {
                        "node": "write_sql",
                        "output": "SELECT name, price FROM products ORDER BY price DESC",
                    },
                ]
            )
        )
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "slmgraph",
            "ask",
            "List products by price",
            "--db",
            shop,
            "--json",
            "--no-log",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SLMGRAPH_TIERS": str(f)},
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert {"sql", "rows", "answer", "error", "trace"} <= set(data)
    assert data["error"] is None and data["rows"][0] == ["4K Monitor", 329.0]
    assert len(data["rows"]) == 28 and data["truncated"] is False
    for step in data["trace"]:
        assert {"node", "tier", "model", "tokens_in", "tokens_out", "latency_s"} <= set(step)
    # The demo schema is small: it goes to the writer whole, no table-extraction call.
    assert [s["node"] for s in data["trace"] if s["model"]] == ["write_sql"]


def test_prompt_files_are_read_when_the_graph_is_built(shop: str, tmp_path: Path) -> None:
    """A prompt file edited while a graph is in use changes nothing for it (an edit that added a
    placeholder once broke every later run of a long benchmark)."""
    prompt = tmp_path / "writer.yaml"
    prompt.write_text("system: Write SQL.\nuser: '{schema} Question: {question}'\n")
    spec = qw_spec(
        tiers([{"node": "write_sql", "output": "SELECT count(*) FROM customers"}]), linking=False
    )
    data = spec.model_dump(by_alias=True, exclude_none=True, exclude={"source"})
    data["nodes"]["write_sql"]["params"]["prompt"] = str(prompt)
    built = build(load_spec(data), call_log=False)
    prompt.write_text("system: Write SQL.\nuser: '{no_such_key}'\n")
    r = run(built, {"question": "How many customers?", "db": shop})
    assert r.status == "ok", r.error
    assert r.output["rows"] == [[40]]


def test_vote_stops_drawing_once_the_winner_cannot_change(shop: str) -> None:
    """k = 6: after the greedy answer and four samples, one result has 4 votes against 1 with one
    draw left, so the sixth is never drawn; the answer is what the full vote would give."""
    outputs = [
        "SELECT count(*) FROM customers",
        "SELECT count(customer_id) FROM customers",
        "SELECT count(*) FROM orders",
        "SELECT count(*) FROM customers",
        "SELECT count(*) FROM customers",
        "SELECT count(*) FROM orders",
    ]
    spec = load_spec(
        "query_writer",
        tier_overrides=tiers(
            [
                {"node": "extract_tables", "output": '["customers"]'},
                {"node": "write_sql", "outputs": outputs},
            ]
        ),
    )
    data = spec.model_dump(by_alias=True, exclude_none=True, exclude={"source"})
    data["nodes"]["write_sql"]["params"].update({"samples": 6, "vote": True, "grammar": "off"})
    r = run(load_spec(data), {"question": "How many customers?", "db": shop}, call_log=False)
    assert r.output["rows"] == [[40]]
    assert len(r.state["sql_samples"]) == 4  # greedy + 4 drawn = 5 candidates, 1 is the pick
    calls = [t for t in r.trace if t["node"] == "write_sql" and t["model"]]
    assert len(calls) == 5  # one call per candidate: the sixth was not drawn


def test_ask_on_a_durable_thread_keeps_a_refused_approval_paused(shop: str, tmp_path: Path) -> None:
    """`ask --thread T --approve` answered "n" leaves the thread paused before the SQL runs; the
    same question without --approve is refused (nothing runs unapproved); with --approve and
    "y" it runs; once more, the stored answer comes back without a model call."""
    import yaml

    f = tmp_path / "tiers.yaml"
    f.write_text(
        yaml.safe_dump(tiers([{"node": "write_sql", "output": "SELECT count(*) FROM customers"}]))
    )
    log = tmp_path / "calls.sqlite"

    def ask(*extra: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "slmgraph", "ask", "How many customers?", "--db", shop,
             "--json", "--thread", "T", *extra],
            input=stdin, capture_output=True, text=True, timeout=120,
            env={**os.environ, "SLMGRAPH_TIERS": str(f), "SLMGRAPH_CALL_LOG": str(log),
                 "SLMGRAPH_CHECKPOINTS": str(tmp_path / "cp.sqlite")},
        )  # fmt: skip

    refused = ask("--approve", stdin="n\n")
    assert refused.returncode == 1 and "Not run." in refused.stderr
    unapproved = ask()
    assert unapproved.returncode == 1 and "paused for approval" in unapproved.stderr
    assert len(unapproved.stderr.strip().splitlines()) == 1
    approved = ask("--approve", stdin="y\n")
    assert approved.returncode == 0, approved.stderr
    assert json.loads(approved.stdout)["rows"] == [[40]]
    again = ask()
    assert again.returncode == 0 and "had finished" in again.stderr
    assert json.loads(again.stdout)["rows"] == [[40]]
    assert len(CallLog(log).rows()) == 1  # write_sql, once
