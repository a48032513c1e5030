"""Opt-in (SLMGRAPH_REAL_MODELS=1): the catalog's real GGUF models, pulled beforehand with
`slmgraph models pull …` (make demo does). Slow on CPU; the benchmarks run these at scale."""

from __future__ import annotations

import json

import pytest

from conftest import needs_llama, real_models_enabled
from slmgraph.models import catalog

pytestmark = [
    needs_llama,
    pytest.mark.real_model,
    pytest.mark.slow,
    pytest.mark.skipif(not real_models_enabled(), reason="set SLMGRAPH_REAL_MODELS=1 to run"),
]

SLM = "qwen2.5-coder-0.5b-instruct-q4_k_m"
LLM = "qwen2.5-coder-1.5b-instruct-q4_k_m"


@pytest.fixture(scope="module")
def tiers() -> dict[str, object]:
    for name in (SLM, LLM):
        if not catalog.is_pulled(name):
            pytest.skip(f"{name} is not pulled (slmgraph models pull {name})")
    settings = {"n_ctx": 2048, "n_threads": 1}
    return {
        "slm": {"backend": "llamacpp", "model": SLM, "settings": settings, "fallback": "llm"},
        "llm": {"backend": "llamacpp", "model": LLM, "settings": settings},
    }


def test_triage_on_the_real_models(tiers) -> None:  # type: ignore[no-untyped-def]
    from slmgraph import load_spec, run

    result = run(
        load_spec("triage", tier_overrides=tiers),
        {"ticket": "I was charged twice for my subscription, please refund one."},
        call_log=False,
    )
    assert result.status == "ok", result.error
    assert result.output["category"] == "billing"
    assert set(result.output["details"]) == {"product", "urgency", "summary"}
    assert len(result.output["reply"]) > 10
    assert [t["model"] for t in result.trace] == [SLM, SLM, LLM]


def test_real_slm_json_outputs_parse(tiers) -> None:  # type: ignore[no-untyped-def]
    from slmgraph.constraints import Constraint
    from slmgraph.models.base import create_backend

    backend = create_backend("llamacpp", SLM, {"n_ctx": 2048, "n_threads": 1})
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 40},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 4},
            "score": {"type": "number"},
        },
        "required": ["name", "tags", "score"],
    }
    prompts = [
        "Describe a cat as JSON.",
        "A JSON record for the song 'Yesterday'.",
        "Write a product card as JSON with newlines and tabs in the name.",
        'JSON for a user called O\'Brien "the great".',
    ]
    for prompt in prompts:
        c = backend.complete(
            [{"role": "user", "content": prompt}], Constraint.json(schema), max_tokens=160
        )
        value = json.loads(c.text)
        assert set(value) == {"name", "tags", "score"}
        assert c.logprobs and all(lp <= 0 for lp in c.logprobs)
