"""Faults of an OpenAI-compatible server end in fallback or a defined error, within the tier's
timeout: the committed corpus (``fixtures/reliability/backends/scenarios.yaml``) played by a
raw-socket fault server on loopback against the real ``openai_compat`` backend in real graph
runs; and the empty-completion rule of the tier client."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from slmgraph.constraints import Constraint
from slmgraph.errors import RETRYABLE_KINDS, ModelError
from slmgraph.models.openai_compat import OpenAICompatBackend
from slmgraph.models.scripted import ScriptedBackend
from slmgraph.models.settings import OpenAICompatSettings
from slmgraph.spec import TierSpec
from slmgraph.telemetry import CallLog
from slmgraph.tiers import TierClient

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "fixtures" / "reliability" / "backends"))

from fault_server import (  # noqa: E402
    DEFAULT_TIMEOUT_S,
    FALLBACK_ANSWER,
    SERVER_ANSWER,
    FaultServer,
    load_scenarios,
    play,
)

SCENARIOS = load_scenarios()
FAULTS = [s for s in SCENARIOS if s["expect"] != "ok"]
MSG = [{"role": "user", "content": "q"}]
#: Over a scenario's limit a loaded 2-core machine may add; far below what an unbounded
#: read would take (the trickled body alone would run for minutes).
SLACK_S = 1.0


def by_name(name: str) -> dict[str, Any]:
    return next(s for s in SCENARIOS if s["name"] == name)


def limit(scenario: dict[str, Any]) -> float:
    return float(scenario.get("timeout_s", DEFAULT_TIMEOUT_S))


def test_the_corpus_is_wide() -> None:
    kinds = {s["expect"] for s in FAULTS}
    assert kinds == {"connection", "timeout", "server", "config", "invalid_output"}
    assert len(FAULTS) >= 30 and len(SCENARIOS) - len(FAULTS) >= 5


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s["name"])
def test_fault_falls_back_to_the_next_tier(scenario: dict[str, Any]) -> None:
    played = play(scenario, fallback=True)
    assert played.escaped is None, played.escaped
    result = played.result
    assert result is not None and result.status == "ok", result and result.error
    entry = played.remote
    assert entry is not None
    assert entry["latency_s"] <= limit(scenario) + SLACK_S
    if scenario["expect"] == "ok":
        assert result.output["answer"] == SERVER_ANSWER
        assert [t["tier"] for t in result.trace] == ["remote"]
        return
    assert result.output["answer"] == FALLBACK_ANSWER
    assert [(t["tier"], t["status"]) for t in result.trace] == [
        ("remote", "error"),
        ("local", "ok"),
    ]
    assert played.kind == scenario["expect"], entry["error"]
    assert "\n" not in entry["error"]


@pytest.mark.parametrize("scenario", FAULTS, ids=lambda s: s["name"])
def test_fault_without_fallback_is_a_defined_error(scenario: dict[str, Any]) -> None:
    played = play(scenario, fallback=False)
    assert played.escaped is None, played.escaped
    result = played.result
    assert result is not None and result.status == "error"
    assert result.state["failed_node"] == "ask"
    error = result.error or ""
    assert error.startswith(f"ask: [{scenario['expect']} openai_compat/served] "), error
    assert "\n" not in error and "Traceback" not in error and len(error) < 400
    assert played.wall_s <= limit(scenario) + SLACK_S + 2.0  # building and running the graph


@pytest.mark.parametrize("scenario", FAULTS, ids=lambda s: s["name"])
def test_backend_error_kind_and_retryable(scenario: dict[str, Any]) -> None:
    """The backend alone: the fault is a ModelError of the scenario's kind (``layer: tier``
    faults are completions the backend returns and the tier refuses)."""
    with FaultServer(scenario["server"]) as srv:
        backend = OpenAICompatBackend(
            "served",
            OpenAICompatSettings(
                base_url=srv.url, server="vllm", max_retries=scenario.get("max_retries", 0)
            ),
        )
        started = time.perf_counter()
        if scenario.get("layer") == "tier":
            assert backend.complete(MSG, timeout_s=limit(scenario)).text.strip() == ""
            return
        with pytest.raises(ModelError) as info:
            backend.complete(MSG, timeout_s=limit(scenario))
    assert time.perf_counter() - started <= limit(scenario) + SLACK_S
    assert info.value.kind == scenario["expect"]
    assert info.value.retryable == (scenario["expect"] in RETRYABLE_KINDS)


def test_retry_after_past_the_deadline_is_not_slept_through() -> None:
    played = play(by_name("retry_after_past_deadline"), fallback=True)
    assert played.requests == 1  # no retry: waiting 30 s would spend the whole 1 s budget
    assert played.remote is not None and played.remote["latency_s"] < 0.5


def test_client_retries_recover_a_busy_server() -> None:
    played = play(by_name("retry_then_ok"), fallback=False)
    assert played.requests == 2
    assert played.result is not None and played.result.output["answer"] == SERVER_ANSWER


def test_a_caller_built_client_is_still_bounded_between_chunks() -> None:
    """A plain httpx.Client has per-read timeouts only; the deadline is then checked after
    every chunk, so a trickle overruns the limit by at most one byte's gap."""
    plan = {"trickle": "body", "trickle_s": 0.2, "completion": SERVER_ANSWER}
    with FaultServer(plan) as srv, httpx.Client() as client:
        backend = OpenAICompatBackend(
            "served", OpenAICompatSettings(base_url=srv.url, server="vllm"), client=client
        )
        started = time.perf_counter()
        with pytest.raises(ModelError) as info:
            backend.complete(MSG, timeout_s=1.0)
    assert info.value.kind == "timeout"
    assert time.perf_counter() - started <= 1.0 + 0.2 + SLACK_S


def test_a_call_without_timeout_s_uses_per_operation_timeouts() -> None:
    with FaultServer({"hang_s": 0.2, "completion": SERVER_ANSWER}) as srv:
        backend = OpenAICompatBackend("served", OpenAICompatSettings(base_url=srv.url))
        assert backend.complete(MSG).text == SERVER_ANSWER


def test_the_call_log_keeps_the_failed_attempt(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "calls.sqlite")
    played = play(by_name("html_at_200"), fallback=True, call_log=log)
    assert played.result is not None and played.result.status == "ok"
    rows = log.rows()
    assert [(r["tier"], r["status"], r["error_kind"]) for r in rows] == [
        ("remote", "error", "invalid_output"),
        ("local", "ok", None),
    ]
    assert rows[1]["fallback_from"] == "remote"


# The empty-completion rule ------------------------------------------------------------------


def tier(output: str) -> TierClient:
    return TierClient("t", TierSpec(backend="scripted"), ScriptedBackend(default=output), None)


@pytest.mark.parametrize("output", ["", "  \n\t"])
def test_an_empty_unconstrained_completion_is_invalid_output(output: str) -> None:
    with pytest.raises(ModelError, match="empty completion") as info:
        tier(output).complete(MSG, call_group="g")
    assert info.value.kind == "invalid_output" and info.value.retryable


def test_a_caller_may_allow_empty_completions() -> None:
    assert tier("").complete(MSG, call_group="g", allow_empty=True).value == ""


def test_a_constraint_decides_for_itself_whether_empty_is_valid() -> None:
    assert tier("").complete(MSG, Constraint.pattern(r"\d*"), call_group="g").value == ""
    with pytest.raises(ModelError, match="not one of"):
        tier("").complete(MSG, Constraint.choice(["yes", "no"]), call_group="g")


def test_the_benchmark_reports_every_scenario() -> None:
    path = HERE.parent / "benchmarks" / "reliability_backends.py"
    spec = importlib.util.spec_from_file_location("reliability_backends", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    figures = bench.measure(["ok", "html_at_200", "connection_refused", "empty_completion"])
    assert figures["scenarios"] == 4 and figures["outside"] == 0 and figures["unexpected"] == 0
    text = bench.section(figures)
    assert "fault scenarios that end outside fallback or a defined error state: **0**" in text
    assert "| `html_at_200` |" in text


# A failed call keeps what the model wrote ----------------------------------------------------


class _Runaway(ScriptedBackend):
    """Like llama.cpp when a constrained output runs to max_tokens: the error carries the text."""

    def complete(self, messages, constraint=None, **kwargs):  # type: ignore[no-untyped-def]
        raise ModelError(
            "constrained output hit max_tokens=8 before the grammar completed",
            kind="invalid_output",
            output="def f(:\n    # and on and on",
            tokens=(12, 8),
        )


def test_a_failed_calls_output_reaches_the_call_log_and_the_trace(tmp_path: Path) -> None:
    from slmgraph.tiers import trace_sink

    log = CallLog(tmp_path / "calls.sqlite")
    client = TierClient("t", TierSpec(backend="scripted"), _Runaway(), log)
    sink: list[dict[str, Any]] = []
    token = trace_sink.set(sink)
    try:
        with pytest.raises(ModelError, match="max_tokens"):
            client.complete(MSG, Constraint.pattern(r"def .*"), call_group="g")
    finally:
        trace_sink.reset(token)
    log.flush()
    (row,) = log.rows()
    assert row["status"] == "error" and row["output"] == "def f(:\n    # and on and on"
    assert row["tokens_out"] == 8
    assert sink[0]["status"] == "error" and sink[0]["output"] == row["output"]
    ok = TierClient("t", TierSpec(backend="scripted"), ScriptedBackend(default="x"), None)
    token = trace_sink.set(sink)
    try:
        ok.complete(MSG, call_group="g")
    finally:
        trace_sink.reset(token)
    assert "output" not in sink[1]  # a call that succeeded: its output is the node's result
