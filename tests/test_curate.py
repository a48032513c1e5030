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


def test_curate_keeps_only_the_runs_asked_for(tmp_path: Path) -> None:
    """A run killed midway logged a call its rerun repeats word for word: without ``runs`` the
    orphan is kept and the rerun's call dropped as its duplicate; with the finished runs, the
    rerun's call is the one kept."""
    log = CallLog(tmp_path / "calls.sqlite")
    log.record(_call("How many singers?", "SELECT count(*) FROM singer", run_id="killed"))
    log.record(_call("How many singers?", "SELECT count(*) FROM singer", run_id="rerun"))
    log.record(_call("Oldest singer?", "SELECT max(age) FROM singer", run_id="other"))
    everything = curate(log, tmp_path / "all.jsonl")
    assert everything.dropped == {"duplicate": 1}
    assert json.loads((tmp_path / "all.jsonl").read_text().splitlines()[0])["run_id"] == "killed"
    report = curate(log, tmp_path / "finished.jsonl", runs={"rerun", "other"})
    rows = [json.loads(line) for line in (tmp_path / "finished.jsonl").read_text().splitlines()]
    assert [r["run_id"] for r in rows] == ["rerun", "other"]
    assert report.read == 3 and report.kept == 2 and report.dropped == {"other run": 1}


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
    run_ids = []
    for ticket in (
        "Charged twice, mail me at bo@example.org",
        "Charged twice, call +49 30 1234567",
    ):
        result = run(built, {"ticket": ticket})
        assert result.status == "ok"
        run_ids.append(result.run_id)
    log.close()

    def cli(out: str, *extra: str) -> subprocess.CompletedProcess[str]:
        got = subprocess.run(
            [sys.executable, "-m", "slmgraph.cli", "curate", "--log",
             str(tmp_path / "calls.sqlite"), "--out", str(tmp_path / out), *extra],
            capture_output=True, text=True, timeout=120, env={**os.environ},
        )  # fmt: skip
        assert got.returncode == 0, got.stderr
        return got

    one = cli("one.jsonl", "--run", run_ids[1], "--node", "classify")
    rows = [json.loads(line) for line in (tmp_path / "one.jsonl").read_text().splitlines()]
    assert [r["run_id"] for r in rows] == [run_ids[1]] and "wrote 1 example to" in one.stdout
    out = cli("ex.jsonl", "--node", "classify")
    rows = [json.loads(line) for line in (tmp_path / "ex.jsonl").read_text().splitlines()]
    assert [r["node"] for r in rows] == ["classify", "classify"]
    text = " ".join(r["messages"][-1]["content"] for r in rows)
    assert "<EMAIL_1>" in text and "<PHONE_1>" in text and "bo@example.org" not in text
    report = json.loads((tmp_path / "ex.report.json").read_text())
    assert report["kept"] == 2 and report["dropped"]["other node"] == 4
    assert "wrote 2 examples" in out.stdout
