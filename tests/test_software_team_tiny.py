"""The software team on the real llama.cpp backend (a tiny random-weight GGUF for every tier):
its role schemas and the engineer's code-only pattern compile to grammars and decode, and the
run ends in a defined state whatever the model writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import needs_llama
from slmgraph import load_spec, run
from slmgraph.agents.team.engineer import CODE_ONLY
from slmgraph.agents.team.product_manager import SCHEMA
from slmgraph.constraints import Constraint, check_output
from slmgraph.errors import ModelError

pytestmark = [needs_llama, pytest.mark.llamacpp]


@pytest.fixture(scope="module")
def backend(tiny_gguf: Path) -> Any:
    from llama_cpp import Llama

    from slmgraph.models.llamacpp import LlamaCppBackend

    llama = Llama(str(tiny_gguf), n_ctx=4096, n_threads=1, n_batch=256, seed=0, verbose=False)
    return LlamaCppBackend(llama, model="tiny-random")


def test_the_team_runs_under_its_constraints_to_a_defined_end(backend: Any) -> None:
    data = load_spec("software_team").model_dump(by_alias=True, exclude_none=True,
                                                 exclude={"source"})  # fmt: skip
    for role in ("product_manager", "architect", "qa"):
        # A random model fills every string to its maxLength, one character per token.
        data["nodes"][role]["params"] = {"max_tokens": 2500}
    r = run(load_spec(data), {"task": 'def f(x):\n    """Twice x."""'},
            backends={"slm": backend, "llm": backend}, call_log=False)  # fmt: skip
    assert r.status in {"ok", "error"}
    assert r.status == "ok" or (r.error and "invalid_output" in r.error)  # a model's fault, said
    assert r.trace[0]["node"] == "product_manager" and r.trace[0]["status"] == "ok"
    requirements = r.state["requirements"]
    assert set(requirements) == set(SCHEMA["required"])  # valid under its schema, by grammar
    for t in r.trace:
        assert t["status"] in {"ok", "error", "budget"}, t


def test_the_code_only_pattern_decodes_on_llama_cpp(backend: Any) -> None:
    msg = [{"role": "user", "content": "Write a Python function."}]
    try:
        out = backend.complete(msg, Constraint.pattern(CODE_ONLY), max_tokens=200)
    except ModelError as exc:  # a random model rarely stops (cut at max_tokens) or writes bytes
        assert exc.kind == "invalid_output"  # that are not UTF-8: refused, retryable
    else:
        assert check_output(out.text, Constraint.pattern(CODE_ONLY)) == out.text
