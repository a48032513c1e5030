"""Domains plug in: a third party's domain registered from code works like a built-in one, a
broken plug-in is reported and left out, per-run resources live in the run context (opened
once per run, closed at its end), and tiers carry their size class into traces and reports."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT
from slmgraph import load_spec, run
from slmgraph.context import RESOURCES, RunContext
from slmgraph.graphs.builder import build
from slmgraph.plugins import active, builtin_graphs, register_plugin
from slmgraph.registry import register_resource, register_tool
from slmgraph.telemetry.calllog import CallLog
from slmgraph.telemetry.report import cost_report

EXAMPLE = ROOT / "examples" / "plugin_domain"


@pytest.fixture(scope="module")
def units() -> Iterator[Any]:
    sys.path.insert(0, str(EXAMPLE))
    try:
        from slmgraph_units import plugin

        register_plugin(plugin)
        yield plugin
    finally:
        sys.path.remove(str(EXAMPLE))


def test_a_third_party_domain_registered_from_code(units: Any) -> None:
    assert "units" in active() and "convert" in builtin_graphs()
    spec = load_spec(
        "convert",
        tier_overrides={
            "slm": {
                "backend": "scripted",
                "settings": {"default": '{"value": 12, "unit": "inch", "to": "centimetre"}'},
            }
        },
    )
    result = run(spec, {"question": "A foot in centimetres?"}, call_log=False)
    assert result.status == "ok" and result.output["answer"] == "12 in = 30.48 cm"
    # its agent in a spec of one's own, beside the core's
    mine = load_spec(
        """
name: mine
state: {question: str, quantity: dict, answer: str, shout: str}
tiers:
  slm:
    backend: scripted
    settings: {default: '{"value": 1, "unit": "kilometre", "to": "metre"}'}
nodes:
  read: {agent: units.read}
  convert: {tool: units.convert}
  shout: {tool: template, params: {template: "{answer}!", output: shout}}
edges:
  - {from: START, to: read}
  - {from: read, to: convert}
  - {from: convert, to: shout}
  - {from: shout, to: END}
"""
    )
    assert run(mine, {"question": "1 km in m"}, call_log=False).output["shout"] == "1 km = 1000 m!"


def test_the_readme_shows_the_example_plugin_as_it_is() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Write your own domain", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(?:python|toml|yaml)\n(.*?)```", section, re.S)
    files = [
        (EXAMPLE / "slmgraph_units" / "__init__.py").read_text(),
        (EXAMPLE / "slmgraph_units" / "nodes.py").read_text(),
    ]
    for text in files:  # the README quotes each file whole, or a contiguous part of it
        assert any(block.strip() in text for block in blocks), text[:80]
    assert '[project.entry-points."slmgraph.plugins"]' in section


def test_a_broken_plugin_is_reported_and_left_out(tmp_path: Path) -> None:
    env = {**os.environ, "SLMGRAPH_PLUGINS": "no_such_module_xyz:plugin", "SLMGRAPH_TIERS": ""}
    out = subprocess.run(
        [sys.executable, "-m", "slmgraph", "validate", "query_writer"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0 and "query_writer: ok" in out.stdout
    assert out.stderr.count("could not be loaded") == 1 and "Traceback" not in out.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "slmgraph", "plugins"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert listed.returncode == 1 and "FAILED to load: ModuleNotFoundError" in listed.stdout
    spec = tmp_path / "x.yaml"
    spec.write_text(
        "name: x\nnodes: {a: {tool: units.convert}}\n"
        "edges: [{from: START, to: a}, {from: a, to: END}]\n"
    )
    bad = subprocess.run(
        [sys.executable, "-m", "slmgraph", "validate", str(spec)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 1 and "Unknown tool 'units.convert'" in bad.stderr
    assert "Plug-ins that failed to load: no_such_module_xyz:plugin" in bad.stderr


OPENED: list[str] = []
CLOSED: list[str] = []


def _open_counter(state: Any) -> str:
    OPENED.append(str(state.get("q")))
    return f"handle-{len(OPENED)}"


register_resource("test.counter", _open_counter, CLOSED.append, reads=("q",))


@register_tool("test.use_counter", writes=lambda p: ["a"])
def _use_counter(env: Any) -> Any:
    def run_node(state: Any, ctx: RunContext) -> dict[str, str]:
        return {"a": f"{state.get('a') or ''}{ctx.resource('test.counter', state, env.name)};"}

    return run_node


COUNTER = """
name: counter
state: {q: str, a: str}
nodes:
  one: {tool: test.use_counter}
  two: {tool: test.use_counter}
  three: {tool: test.use_counter}
edges:
  - {from: START, to: one}
  - {from: one, to: two}
  - {from: two, to: three}
  - {from: three, to: END}
"""


def test_a_resource_is_opened_once_per_run_and_closed_at_its_end() -> None:
    OPENED.clear()
    CLOSED.clear()
    built = build(load_spec(COUNTER), call_log=False)
    first = run(built, {"q": "x"})
    assert first.output["a"] == "handle-1;handle-1;handle-1;" and OPENED == ["x"]
    assert CLOSED == ["handle-1"]
    second = run(built, {"q": "y"})
    assert second.output["a"] == "handle-2;handle-2;handle-2;" and CLOSED == [
        "handle-1",
        "handle-2",
    ]
    # a resource the caller holds is used as is, and not closed
    mine = run(built, {"q": "z"}, resources={"test.counter": "mine"})
    assert mine.output["a"] == "mine;mine;mine;" and len(OPENED) == 2 and len(CLOSED) == 2
    assert "test.counter" in RESOURCES


def test_the_query_writer_opens_its_database_once_per_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from slmgraph.tools.sql import hooks
    from slmgraph.tools.sql.demo import build_demo_db

    db = str(build_demo_db(tmp_path / "shop.sqlite"))
    opens: list[str] = []
    original = RESOURCES[hooks.DATABASE]

    def counting(state: Any) -> Any:
        opens.append(str(state.get("db")))
        return original.open(state)

    monkeypatch.setitem(RESOURCES, hooks.DATABASE, original.__class__(
        original.name, counting, original.close, original.description, original.reads
    ))  # fmt: skip
    tiers = {
        "slm": {"backend": "scripted", "settings": {"default": "SELECT city FROM customers"}},
        "llm": {"backend": "scripted", "settings": {"default": "SELECT 1"}},
    }
    spec = load_spec("query_writer", tier_overrides=tiers)
    result = run(build(spec, call_log=False), {"question": "Which cities?", "db": db})
    assert result.status == "ok" and result.output["rows"]
    sql_nodes = [t["node"] for t in result.trace]
    assert len(sql_nodes) >= 5 and opens == [db]  # link, rerank, write_sql, check, execute ...


def test_tiers_carry_their_size_class_into_traces_logs_and_reports(tmp_path: Path) -> None:
    spec = load_spec(
        """
name: sizes
state: {q: str, a: str, b: str}
tiers:
  fast: {backend: scripted, size: small, settings: {default: "x"}}
  strong: {backend: scripted, settings: {default: "y"}}
nodes:
  one: {agent: prompt, tier: fast, params: {user: "{q}", output: a}}
  two: {agent: prompt, tier: strong, params: {user: "{q}", output: b}}
edges:
  - {from: START, to: one}
  - {from: one, to: two}
  - {from: two, to: END}
"""
    )
    assert spec.tiers["fast"].size == "small" and spec.tiers["strong"].size == "large"
    assert load_spec("triage").tiers["slm"].size == "small"  # the default tiers say so
    log = CallLog(tmp_path / "calls.sqlite")
    result = run(build(spec, call_log=log), {"q": "hi"})
    assert [(t["tier"], t["size"]) for t in result.trace] == [
        ("fast", "small"),
        ("strong", "large"),
    ]
    assert result.totals["by_tier"]["fast"]["size"] == "small"
    rows = log.rows()
    assert sorted(r["tier_size"] for r in rows) == ["large", "small"]
    report = cost_report(rows)
    assert report.slm_calls == 1 and report.slm_call_share == 0.5 and report.unsized_calls == 0
    log.close()


def test_a_version_1_call_log_gains_the_size_column(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO meta VALUES ('schema_version', '1');"
        "CREATE TABLE calls (id INTEGER PRIMARY KEY AUTOINCREMENT, call_id TEXT NOT NULL UNIQUE,"
        " call_group TEXT NOT NULL, ts REAL NOT NULL, app TEXT, session_id TEXT, run_id TEXT,"
        " graph TEXT, node TEXT, tier TEXT, backend TEXT, model TEXT, attempt INTEGER NOT NULL"
        " DEFAULT 1, fallback_from TEXT, messages TEXT NOT NULL, constraint_kind TEXT,"
        " constraint_json TEXT, params TEXT, output TEXT, mean_logprob REAL, tokens_in INTEGER,"
        " tokens_out INTEGER, latency_s REAL, cost_usd REAL, status TEXT NOT NULL, error_kind"
        " TEXT, error TEXT, feedback REAL, feedback_note TEXT);"
        "INSERT INTO calls (call_id, call_group, ts, tier, messages, status)"
        " VALUES ('c1', 'g1', 1.0, 'slm', '[]', 'ok');"
    )
    conn.commit()
    conn.close()
    log = CallLog(path)
    rows = log.rows()
    assert rows[0]["tier_size"] is None
    report = cost_report(rows)
    assert report.unsized_calls == 1 and report.slm_calls == 0
    assert "logged without their tier's size class" in report.markdown()
    assert json.loads(json.dumps(rows))[0]["call_id"] == "c1"
    log.close()
