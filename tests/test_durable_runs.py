"""Durable runs: ``slmgraph run --thread T`` killed with ``kill -9`` and run again finishes with
the same answer, 0 lost and 0 duplicated call-log rows — on SQLite (the default checkpointer,
beside the call log) and on a real PostgreSQL server (``pgserver``): see
:mod:`slmgraph.testing.resume` for the trial. The runner's other durable cases run in process.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from slmgraph.errors import RunError
from slmgraph.graphs.builder import build
from slmgraph.loader import load_spec
from slmgraph.runner import run
from slmgraph.telemetry.calllog import CallLog
from slmgraph.telemetry.checkpoints import CheckpointError, Checkpoints, default_checkpoints
from slmgraph.testing.resume import CALLS, INSIDE_A_NODE, kill_and_resume


def _check(figures: dict[str, Any]) -> None:
    assert figures["baseline_status"] == "ok" and figures["baseline_rows"] == CALLS
    for t in figures["trials"]:
        where = f"killed at call {t['kill_at_call']}"
        assert t["rows_at_kill"] == t["kill_at_call"] - 1, where  # each finished call logged
        assert t["lost"] == 0 and t["duplicated"] == 0 and t["same_rows"], where
        assert t["rows"] == CALLS and t["one_run_id"], where
        assert t["same_answer"] and t["resumed"] == "continued", where
        assert t["replayed_calls"] == (1 if t["kill_at_call"] in INSIDE_A_NODE else 0), where
        assert t["again"] == "finished" and t["again_same_answer"], where
        assert t["again_model_calls"] == 0 and t["again_new_rows"] == 0, where


def test_kill_and_resume_on_sqlite(tmp_path: Path) -> None:
    log, checkpoints = str(tmp_path / "calls.sqlite"), str(tmp_path / "cp.sqlite")
    _check(kill_and_resume(tmp_path, log, checkpoints, (2, 3, 5)))


@pytest.fixture(scope="module")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("pgserver", reason="pgserver (a PostgreSQL build) absent")
    pytest.importorskip("langgraph.checkpoint.postgres", reason="the postgres extra is absent")
    from slmgraph.testing.servers import postgres_server

    with postgres_server(tmp_path_factory.mktemp("pg")) as url:
        yield url


def test_kill_and_resume_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    # The call log and the checkpoints in one PostgreSQL database (the default for a PG log).
    _check(kill_and_resume(tmp_path, pg_url, pg_url, (2, 3)))


# --- in process: the runner's durable cases ---

SPEC = """
name: two
state: {q: str, a: str, b: str}
output: [b]
tiers: {slm: {backend: scripted, settings: {default: fine}}}
nodes:
  first: {agent: prompt, params: {user: "{q}", output: a}}
  second: {agent: prompt, params: {user: "{a}", output: b}, interrupt_before: INTERRUPT}
edges:
  - {from: START, to: first}
  - {from: first, to: second}
  - {from: second, to: END}
"""


def _built(tmp_path: Path, *, interrupt: bool = False) -> Any:
    spec = load_spec(SPEC.replace("INTERRUPT", "true" if interrupt else "false"))
    return build(spec, call_log=CallLog(tmp_path / "calls.sqlite"))


def test_a_finished_thread_returns_its_result_without_a_call(tmp_path: Path) -> None:
    with Checkpoints(tmp_path / "cp.sqlite") as cp:
        first = run(_built(tmp_path), {"q": "hi"}, thread_id="t", checkpointer=cp)
        assert first.status == "ok" and first.resumed is None
        again = run(_built(tmp_path), {"q": "hi"}, thread_id="t", checkpointer=cp)
    assert again.resumed == "finished" and again.output == first.output
    assert again.run_id == first.run_id
    assert len(CallLog(tmp_path / "calls.sqlite").rows()) == 2


def test_a_thread_refuses_another_input(tmp_path: Path) -> None:
    with Checkpoints(tmp_path / "cp.sqlite") as cp:
        run(_built(tmp_path), {"q": "hi"}, thread_id="t", checkpointer=cp)
        with pytest.raises(RunError, match="another q"):
            run(_built(tmp_path), {"q": "bye"}, thread_id="t", checkpointer=cp)


def test_a_paused_thread_stays_paused_and_is_not_run_past(tmp_path: Path) -> None:
    with Checkpoints(tmp_path / "cp.sqlite") as cp:
        paused = run(_built(tmp_path, interrupt=True), {"q": "hi"}, thread_id="t", checkpointer=cp)
        assert paused.status == "interrupted" and paused.next_nodes == ["second"]
        # A later process with the same interrupt: still paused, for the caller to approve.
        again = run(_built(tmp_path, interrupt=True), {"q": "hi"}, thread_id="t", checkpointer=cp)
        assert again.resumed == "paused" and again.status == "interrupted"
        # Without the interrupt (e.g. `ask` without --approve): refused, not run unapproved.
        with pytest.raises(RunError, match="paused for approval"):
            run(_built(tmp_path), {"q": "hi"}, thread_id="t", checkpointer=cp)
        done = run(
            _built(tmp_path, interrupt=True), {}, thread_id="t", resume=True, checkpointer=cp
        )
    assert done.status == "ok" and done.output == {"b": "fine"}


def test_a_durable_run_needs_a_thread(tmp_path: Path) -> None:
    with Checkpoints(tmp_path / "cp.sqlite") as cp, pytest.raises(RunError, match="thread_id"):
        run(_built(tmp_path), {"q": "hi"}, checkpointer=cp)


def test_checkpoints_default_beside_the_call_log(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.delenv("SLMGRAPH_CHECKPOINTS", raising=False)
    log = CallLog(tmp_path / "logs" / "calls.sqlite")
    assert default_checkpoints(log) == str(tmp_path / "logs" / "checkpoints.sqlite")
    assert default_checkpoints(CallLog("postgresql://u@h/db")) == "postgresql://u@h/db"
    monkeypatch.setenv("SLMGRAPH_CHECKPOINTS", str(tmp_path / "x.sqlite"))
    assert default_checkpoints(log) == str(tmp_path / "x.sqlite")


@pytest.mark.parametrize("case", ["not a database", "under a file", "a folder"])
def test_unusable_checkpoints_fail_in_one_line(tmp_path: Path, case: str) -> None:
    where = tmp_path / "cp.sqlite"
    if case == "not a database":
        where.write_bytes(b"hello, this is not SQLite" * 100)
    elif case == "under a file":
        (tmp_path / "file").write_text("x")
        where = tmp_path / "file" / "cp.sqlite"
    else:  # (root, as in CI, writes to a read-only folder: not a case to test here)
        where.mkdir()
    with pytest.raises(CheckpointError, match="--checkpoints") as err:
        Checkpoints(where)
    assert "\n" not in str(err.value)
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC.replace("INTERRUPT", "false"))
    out = subprocess.run(
        [sys.executable, "-m", "slmgraph", "run", str(spec), "--input", '{"q": "x"}',
         "--call-log", str(tmp_path / "calls.sqlite"), "--thread", "t",
         "--checkpoints", str(where)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_checkpoints_need_a_thread_on_the_command_line(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "slmgraph", "run", "triage", "--checkpoints", str(tmp_path / "c")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 1 and "give --thread" in out.stderr
