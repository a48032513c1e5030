"""The OpenAI-compatible client: the exact request body each server kind receives (a recording
server on loopback stands in for vLLM and OpenAI), error normalisation, and a real llama.cpp
server running the tiny GGUF."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import needs_llama
from servers import RecordingServer, llama_cpp_server
from slmgraph.constraints import Constraint
from slmgraph.errors import ModelError
from slmgraph.models.openai_compat import OpenAICompatBackend
from slmgraph.models.settings import OpenAICompatSettings

MSG = [{"role": "user", "content": "hi"}]
SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}


def backend(url: str, server: str, **extra: object) -> OpenAICompatBackend:
    return OpenAICompatBackend(
        "served-model", OpenAICompatSettings(base_url=url, server=server, **extra)
    )


@pytest.mark.parametrize(
    ("constraint", "field"),
    [
        (Constraint.json(SCHEMA), {"json": SCHEMA}),
        (Constraint.pattern(r"\d+"), {"regex": r"\d+"}),
        (Constraint.choice(["yes", "no"]), {"choice": ["yes", "no"]}),
        (Constraint.grammar(gbnf='root ::= "a"'), {"grammar": 'root ::= "a"'}),
    ],
)
def test_vllm_gets_structured_outputs_never_guided_fields(constraint, field) -> None:  # type: ignore[no-untyped-def]
    with RecordingServer(reply="7") as srv:
        backend(srv.url, "vllm").complete(MSG, constraint, max_tokens=5, temperature=0.0, seed=3)
    body = srv.bodies[0]
    assert body == {
        "model": "served-model",
        "messages": MSG,
        "max_tokens": 5,
        "temperature": 0.0,
        "seed": 3,
        "logprobs": True,
        "structured_outputs": field,
    }
    assert not any(k.startswith("guided_") for k in body)


def test_openai_style_json_schema_and_choice_unwrapping() -> None:
    with RecordingServer(reply='{"a": 1}') as srv:
        c = backend(srv.url, "openai").complete(MSG, Constraint.json(SCHEMA), max_tokens=5)
    assert c.text == '{"a": 1}'
    assert srv.bodies[0]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": SCHEMA, "strict": True},
    }
    with RecordingServer(reply='{"choice": "no"}') as srv:
        c = backend(srv.url, "openai").complete(MSG, Constraint.choice(["yes", "no"]))
    assert c.text == "no"
    assert srv.bodies[0]["response_format"]["json_schema"]["schema"]["properties"]["choice"][
        "enum"
    ] == ["yes", "no"]


def test_openai_style_rejects_regex_clearly() -> None:
    with pytest.raises(ModelError, match="do not accept regex") as info:
        backend("http://127.0.0.1:9/v1", "openai").complete(MSG, Constraint.pattern("a+"))
    assert info.value.kind == "unsupported" and not info.value.retryable


def test_llamacpp_server_gets_our_gbnf_and_no_logprobs_by_default() -> None:
    with RecordingServer(reply='{"s": "x"}') as srv:
        backend(srv.url, "llamacpp").complete(
            MSG,
            Constraint.json(
                {"type": "object", "properties": {"s": {"type": "string"}}, "required": ["s"]}
            ),
        )
    body = srv.bodies[0]
    assert body["grammar"].startswith("root ::= ")
    assert r"\x20-\x21" in body["grammar"]  # our control-character-free string rule
    assert "logprobs" not in body and "response_format" not in body


def test_usage_latency_and_logprobs_are_read() -> None:
    with RecordingServer(reply="hello") as srv:
        c = backend(srv.url, "vllm").complete(MSG)
    assert (c.text, c.usage.input_tokens, c.usage.output_tokens) == ("hello", 11, 1)
    assert c.logprobs == [-0.25] and c.latency_s > 0


def test_server_error_is_retryable_and_connection_refused_is_connection() -> None:
    with RecordingServer(status=503) as srv, pytest.raises(ModelError) as info:
        backend(srv.url, "vllm").complete(MSG)
    assert info.value.kind == "server" and info.value.retryable
    from servers import free_port

    with pytest.raises(ModelError) as info:
        backend(f"http://127.0.0.1:{free_port()}/v1", "vllm").complete(MSG)
    assert info.value.kind == "connection" and info.value.retryable


SPEC = """
name: server_or_inprocess
state: {{ticket: str, category: str}}
tiers:
  slm:
{tier}
nodes:
  classify:
    agent: prompt
    tier: slm
    params:
      user: "Ticket: {{ticket}}"
      output: category
      constraint: {{choice: [billing, technical, other]}}
edges:
  - {{from: START, to: classify}}
  - {{from: classify, to: END}}
"""


@needs_llama
@pytest.mark.llamacpp
@pytest.mark.slow
def test_same_spec_in_process_and_on_a_real_llama_cpp_server(
    tiny_gguf: Path, tmp_path: Path
) -> None:
    """One spec; only the tier's backend lines change between the two runs."""
    from slmgraph import load_spec, run
    from slmgraph.telemetry import CallLog

    in_process = (
        f"    backend: llamacpp\n    model: {tiny_gguf}\n"
        "    settings: {n_ctx: 1024, n_threads: 1}"
    )
    log = CallLog(tmp_path / "calls.sqlite")
    from slmgraph.graphs.builder import build

    a = run(build(load_spec(SPEC.format(tier=in_process)), call_log=log), {"ticket": "x"})
    assert a.status == "ok", a.error
    assert a.output["category"] in {"billing", "technical", "other"}

    with llama_cpp_server(tiny_gguf, tmp_path / "server.log") as url:
        served = (
            f"    backend: openai_compat\n    model: tiny\n"
            f"    settings: {{base_url: '{url}', server: llamacpp}}"
        )
        b = run(build(load_spec(SPEC.format(tier=served)), call_log=log), {"ticket": "x"})
    assert b.status == "ok", b.error
    assert b.output["category"] in {"billing", "technical", "other"}
    rows = log.rows()
    assert [r["backend"] for r in rows] == ["llamacpp", "openai_compat"]
    assert all(r["tokens_in"] and r["tokens_out"] for r in rows)
