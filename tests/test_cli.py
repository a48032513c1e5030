"""The `slmgraph` command line, run as a user would (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BAD = """
name: bad
state: {q: str, a: str}
tiers: {slm: {backend: scripted, settings: {default: x}}}
nodes:
  answer: {agent: prompt, tier: slmm, params: {user: "{q}", output: a}}
edges:
  - {from: START, to: answer}
  - {from: answer, to: END}
"""

TIERS = """
slm: {backend: scripted, settings: {rules: [{node: classify, output: account},
      {node: extract, output: '{"product": "Login", "urgency": "low", "summary": "reset"}'}]}}
llm: {backend: scripted, settings: {default: "Use the reset link."}}
"""


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "slmgraph", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_help_reads_well() -> None:
    out = cli("--help")
    assert out.returncode == 0
    for word in ("run", "graph", "schema", "validate", "models", "examples:"):
        assert word in out.stdout


def test_validate_ok_and_bad(tmp_path: Path) -> None:
    assert "triage: ok" in cli("validate", "triage").stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    out = cli("validate", str(bad))
    assert out.returncode == 1
    assert "Unknown tier 'slmm' at nodes.answer.tier" in out.stderr
    assert "Did you mean 'slm'?" in out.stderr
    assert "Traceback" not in out.stderr


def test_schema_is_json() -> None:
    schema = json.loads(cli("schema").stdout)
    assert schema["title"] == "slmgraph graph spec" and "nodes" in schema["properties"]


def test_graph_prints_mermaid() -> None:
    out = cli("graph", "triage")
    assert out.returncode == 0 and out.stdout.lstrip().startswith("---")
    assert "classify" in out.stdout and "graph TD" in out.stdout


def test_run_json_on_scripted_tiers(tmp_path: Path) -> None:
    tiers = tmp_path / "tiers.yaml"
    tiers.write_text(TIERS)
    out = cli(
        "run",
        "triage",
        "--json",
        "--input",
        '{"ticket": "I cannot log in"}',
        env={"SLMGRAPH_TIERS": str(tiers)},
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["status"] == "ok" and data["error"] is None
    assert data["output"]["category"] == "account"
    assert [t["node"] for t in data["trace"]] == ["classify", "extract", "reply"]
    assert data["totals"]["model_calls"] == 3


def test_run_bad_input_is_a_clear_error() -> None:
    out = cli("run", "triage", "--input", "{not json")
    assert out.returncode == 1 and "--input is not valid JSON" in out.stderr


def test_models_list() -> None:
    out = cli("models", "list")
    assert out.returncode == 0
    assert "qwen2.5-coder-0.5b-instruct-q4_k_m" in out.stdout and "Apache-2.0" in out.stdout


def test_session_app_and_feedback_reach_the_call_log(tmp_path: Path) -> None:
    """S1: a run logged with its app and session; a user's rating of the run reaches every
    call of it, and a wrong id is an error rather than a silent no-op."""
    from slmgraph.telemetry.calllog import CallLog

    tiers = tmp_path / "tiers.yaml"
    tiers.write_text(TIERS)
    log = tmp_path / "calls.sqlite"
    env = {"SLMGRAPH_TIERS": str(tiers)}
    out = cli(
        "run", "triage", "--json", "--input", '{"ticket": "I cannot log in"}',
        "--call-log", str(log), "--session", "chat-7", "--app", "helpdesk", env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    run_id = json.loads(out.stdout)["run_id"]
    rated = cli("feedback", run_id, "-1", "--note", "wrong product", "--log", str(log))
    assert rated.returncode == 0, rated.stderr
    assert "rated 3 call(s) -1" in rated.stdout
    rows = CallLog(log).rows()
    assert {(r["app"], r["session_id"], r["run_id"]) for r in rows} == {
        ("helpdesk", "chat-7", run_id)
    }
    assert [r["feedback"] for r in rows] == [-1.0] * 3
    assert rows[0]["feedback_note"] == "wrong product"
    typo = cli("feedback", "no-such-run", "1", "--log", str(log))
    assert typo.returncode == 1 and "no call with run_id 'no-such-run'" in typo.stderr
    missing = cli("feedback", run_id, "1", "--log", str(tmp_path / "absent.sqlite"))
    assert missing.returncode == 1 and "no call log at" in missing.stderr
