"""`langgraph dev` (LangGraph Studio's server) on loopback runs the built-in graphs through its
HTTP API: create a thread, run the triage graph on scripted tiers, read the thread state back;
the query-writer, whose database is a per-run resource although the server passes no slmgraph
context, the software team, whose code sandbox is one too, and the operator, whose browser is."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conftest import ROOT
from servers import free_port, wait_http

pytestmark = [pytest.mark.studio, pytest.mark.slow]

TIERS = """
slm:
  backend: scripted
  settings:
    rules:
      - {node: classify, output: technical}
      - {node: extract, output: '{"product": "App", "urgency": "medium", "summary": "crash"}'}
      - {node: write_sql, output: "SELECT count(*) FROM customers"}
      - node: product_manager
        output: '{"goal": "sum", "inputs": ["xs"], "output": "int", "edge_cases": [],
          "examples": [{"call": "total([1, 2])", "expected": "3"}]}'
      - {node: qa, output: '{"cases": [{"call": "total([])", "expected": "0"}]}'}
      - {node: engineer, output: "def total(xs):\\n    return sum(xs)\\n"}
      - {node: information_gathering, output: '{"relevant": [4], "values": []}'}
      - {node: skill_curation, output: none}
      - {node: action_planning, output: "click(4)"}
llm:
  backend: scripted
  settings:
    default: "Thanks, we are looking into the crash."
    rules:
      - node: architect
        output: '{"signature": "def total(xs):", "data_structures": [], "steps": ["sum"],
          "test_cases": []}'
      - {node: task_inference, output: "click(4)"}  # the plan: one action
"""


def test_langgraph_dev_runs_a_builtin_graph(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "langgraph"
    if not exe.exists() and shutil.which("langgraph") is None:
        pytest.skip("langgraph-cli is not installed (the `studio` extra)")
    from slmgraph.tools.sql.demo import build_demo_db

    tiers = tmp_path / "tiers.yaml"
    tiers.write_text(TIERS)
    db = build_demo_db(tmp_path / "shop.sqlite")
    port = free_port()
    env = {
        **os.environ,
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGGRAPH_NO_VERSION_CHECK": "true",
        "LANGSMITH_TRACING": "false",
        "SLMGRAPH_TIERS": str(tiers),
        "SLMGRAPH_CALL_LOG": str(tmp_path / "calls.sqlite"),
        "SLMGRAPH_SKILLS": str(tmp_path / "skills.sqlite"),
    }
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            str(exe if exe.exists() else "langgraph"),
            "dev",
            "--no-browser",
            "--no-reload",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/ok", 90, proc)
        with httpx.Client(base_url=base, timeout=60) as client:
            assistants = client.post("/assistants/search", json={"limit": 10}).json()
            assert "triage" in {a["graph_id"] for a in assistants}
            thread = client.post("/threads", json={}).json()["thread_id"]
            final = client.post(
                f"/threads/{thread}/runs/wait",
                json={
                    "assistant_id": "triage",
                    "input": {"ticket": "The app crashes when I open settings."},
                },
            ).json()
            assert final.get("category") == "technical", final
            state = client.get(f"/threads/{thread}/state").json()
        values = state["values"]
        assert values["details"]["product"] == "App"
        assert values["reply"].startswith("Thanks")
        assert [t["node"] for t in values["trace"]] == ["classify", "extract", "reply"]
        assert state["next"] == []
        with httpx.Client(base_url=base, timeout=60) as client:
            thread = client.post("/threads", json={}).json()["thread_id"]
            answer = client.post(
                f"/threads/{thread}/runs/wait",
                json={
                    "assistant_id": "query_writer",
                    "input": {"question": "How many customers are there?", "db": str(db)},
                },
            ).json()
        assert answer.get("answer") == "The answer is 40.", answer
        with httpx.Client(base_url=base, timeout=60) as client:
            thread = client.post("/threads", json={}).json()["thread_id"]
            team = client.post(
                f"/threads/{thread}/runs/wait",
                json={
                    "assistant_id": "software_team",
                    "input": {"task": 'def total(xs):\n    """Sum of xs."""'},
                },
            ).json()
        assert team.get("outcome") == "passed", {k: team.get(k) for k in ("error", "trace", "code")}
        assert team["report"]["passed"] == 2  # the sandbox ran under the server too
        from slmgraph.tools.browser import chromium

        if chromium.available() is None:  # the browser, a per-run resource, under the server
            with httpx.Client(base_url=base, timeout=90) as client:
                thread = client.post("/threads", json={}).json()["thread_id"]
                op = client.post(
                    f"/threads/{thread}/runs/wait",
                    json={"assistant_id": "operator", "input": {"task": "click-test", "seed": 1}},
                ).json()
            assert op.get("outcome") == "success", {k: op.get(k) for k in ("error", "steps")}
    except Exception:
        print((tmp_path / "server.log").read_text()[-4000:])
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
