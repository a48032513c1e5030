"""The README's YAML example and the examples/ scripts run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from slmgraph import load_spec, run


def readme_yaml() -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## A graph in YAML\s+```yaml\n(.*?)```", text, re.S)
    assert block, "README lost its YAML example"
    return block.group(1)


def test_readme_example_validates_and_runs_on_scripted_tiers() -> None:
    tiers = {
        "slm": {"backend": "scripted", "settings": {"default": "billing"}},
        "llm": {"backend": "scripted", "settings": {"default": "A refund is on its way."}},
    }
    spec = load_spec(readme_yaml(), tier_overrides=tiers)
    result = run(spec, {"question": "Why was I charged twice?"}, call_log=False)
    assert result.status == "ok"
    assert [(t["node"], t["tier"]) for t in result.trace] == [
        ("classify", "slm"),
        ("answer", "llm"),
    ]
    # With the default tiers it validates too (real models are not loaded to validate).
    assert load_spec(readme_yaml()).tiers["slm"].backend == "llamacpp"


def test_example_script_runs_on_scripted_tiers() -> None:
    env = {**os.environ, "SLMGRAPH_TIERS": str(ROOT / "examples" / "scripted_tiers.yaml")}
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "run_triage.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("route: classify[slm]") == 3
    assert "category: technical" in out.stdout and "category: other" in out.stdout


SQL_TIERS = """
slm:
  backend: scripted
  settings:
    rules:
      - {node: extract_tables, match: "customers", output: '["customers"]'}
      - {node: extract_tables, output: '["products", "categories"]'}
      - {node: write_sql, match: "How many customers", output: "SELECT count(*) FROM customers"}
      - {node: write_sql, match: "which city|Which city",
         output: "SELECT city FROM customers GROUP BY city ORDER BY count(*) DESC LIMIT 1"}
      - node: write_sql
        output: >-
          SELECT T1.name FROM products AS T1 JOIN categories AS T2
          ON T1.category_id = T2.category_id WHERE T2.name = 'Books'
llm: {backend: scripted, settings: {default: "SELECT 1"}}
"""


def test_sql_example_runs_on_scripted_tiers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from slmgraph.tools.sql.demo import build_demo_db

    db = build_demo_db(tmp_path / "shop.sqlite")
    tiers = tmp_path / "tiers.yaml"
    tiers.write_text(SQL_TIERS)
    env = {**os.environ, "SLMGRAPH_TIERS": str(tiers)}
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "ask_sql.py"), str(db)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "The answer is 40." in out.stdout and "The answer is Berlin." in out.stdout
    assert "6 rows: The Pragmatic Programmer" in out.stdout


def test_software_team_example_runs_on_scripted_tiers() -> None:
    env = {**os.environ, "SLMGRAPH_TIERS": str(ROOT / "examples" / "scripted_tiers.yaml")}
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "software_team.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "engineer[slm] -> engineer[slm]" in out.stdout  # the fix loop's second try passed
    assert "outcome: passed" in out.stdout and "tests: 3 of 3 pass" in out.stdout


def test_operator_example_runs_on_scripted_tiers(tmp_path: Path) -> None:
    from slmgraph.tools.browser import chromium

    if chromium.available() is not None:
        pytest.skip(f"no headless browser: {chromium.available()}")
    env = {**os.environ, "SLMGRAPH_TIERS": str(ROOT / "examples" / "scripted_tiers.yaml"),
           "SLMGRAPH_SKILLS": str(tmp_path / "skills.sqlite")}  # fmt: skip
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "operator.py"), "click-test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # its screenshots go under the working folder's .slmgraph/
    )
    assert out.returncode == 0, out.stderr
    assert "1. click(4)" in out.stdout and "outcome: success (reward 1.0)" in out.stdout
    assert "task_inference[llm]" in out.stdout
