"""Conversion pipeline S2: curate a call log into scrubbed, deduplicated training examples;
also on a log written by a real graph run, and through `slmgraph curate`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from slmgraph import load_spec, run
from slmgraph.graphs.builder import build
from slmgraph.pipeline.curate import curate
from slmgraph.telemetry.calllog import CallLog, CallRecord


def _call(content: str, output: str | None, **kw: object) -> CallRecord:
    return CallRecord(
        messages=[{"role": "user", "content": content}], output=output, node="write_sql", **kw
    )


def test_curate_drops_failures_duplicates_and_scrubs(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "calls.sqlite")
    log.record(
        _call("Orders of dana@example.com?", "SELECT * FROM o WHERE email = 'dana@example.com'")
    )
    log.record(
        _call("Orders of dana@example.com?", "SELECT * FROM o WHERE email = 'dana@example.com'")
    )
    log.record(_call("broken", None, status="error", error="timeout"))
    log.record(_call("stopped", None, status="cancelled"))
    bad = _call("Count orders", "SELECT 1")
    log.record(bad)
    log.feedback(bad.call_id, -1.0, "wrong")
    log.record(
        _call("Count orders from 10.1.2.3", "SELECT count(*) FROM o", tier="llm", run_id="r7")
    )
    log.record(_call("Count orders", "SELECT 2", tier="cand", params={"shadow_of": "llm"}))
    report = curate(log, tmp_path / "out.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert report.read == 7 and report.kept == 2
    assert report.dropped == {
        "duplicate": 1,
        "status error": 1,
        "status cancelled": 1,
        "negative feedback": 1,
        "shadow call": 1,
    }
    assert rows[1]["run_id"] == "r7" and rows[1]["tier"] == "llm"
    assert rows[0]["messages"][0]["content"] == "Orders of <EMAIL_1>?"
    assert rows[0]["output"] == "SELECT * FROM o WHERE email = '<EMAIL_1>'"  # same placeholder
    assert rows[1]["messages"][0]["content"] == "Count orders from <IP_ADDRESS_1>"
    assert report.pii == {"EMAIL": 2, "IP_ADDRESS": 1}
    assert "| EMAIL | 2 |" in report.markdown()


def test_curate_a_log_written_by_a_graph_and_the_cli(tmp_path: Path) -> None:
    tiers = {
        "slm": {
            "backend": "scripted",
            "settings": {
                "rules": [
                    {"node": "classify", "output": "billing"},
                    {
                        "node": "extract",
                        "output": '{"product": "Pro", "urgency": "high", "summary": "x"}',
                    },
                ]
            },
        },
        "llm": {"backend": "scripted", "settings": {"default": "We will refund you."}},
    }
    log = CallLog(tmp_path / "calls.sqlite")
    built = build(load_spec("triage", tier_overrides=tiers), call_log=log)
    for ticket in (
        "Charged twice, mail me at bo@example.org",
        "Charged twice, call +49 30 1234567",
    ):
        assert run(built, {"ticket": ticket}).status == "ok"
    log.close()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "slmgraph.cli",
            "curate",
            "--log",
            str(tmp_path / "calls.sqlite"),
            "--out",
            str(tmp_path / "ex.jsonl"),
            "--node",
            "classify",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in (tmp_path / "ex.jsonl").read_text().splitlines()]
    assert [r["node"] for r in rows] == ["classify", "classify"]
    text = " ".join(r["messages"][-1]["content"] for r in rows)
    assert "<EMAIL_1>" in text and "<PHONE_1>" in text and "bo@example.org" not in text
    report = json.loads((tmp_path / "ex.report.json").read_text())
    assert report["kept"] == 2 and report["dropped"]["other node"] == 4
    assert "wrote 2 examples" in out.stdout
