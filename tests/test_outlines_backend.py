"""The outlines backend (outlines-core for JSON/regex, llguidance for Lark) on the tiny GGUF."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from conftest import needs_llama
from slmgraph.constraints import Constraint, check_output

pytestmark = [
    needs_llama,
    pytest.mark.skipif(
        importlib.util.find_spec("outlines") is None,
        reason="outlines is not installed (the `outlines` extra)",
    ),
]
MSG = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def backend(tiny_gguf: Path):  # type: ignore[no-untyped-def]
    from slmgraph.models.base import create_backend

    return create_backend("outlines", str(tiny_gguf), {"n_ctx": 1024, "n_threads": 1})


def test_choice_regex_json_and_lark(backend) -> None:  # type: ignore[no-untyped-def]
    c = backend.complete(MSG, Constraint.choice(["yes", "no"]), max_tokens=5)
    assert c.text in {"yes", "no"} and c.usage.output_tokens > 0
    c = backend.complete(MSG, Constraint.pattern(r"\d{3}-[a-z]{2}"), max_tokens=12)
    assert re.fullmatch(r"\d{3}-[a-z]{2}", c.text)
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"enum": ["x", "y"]}},
        "required": ["a", "b"],
    }
    c = backend.complete(MSG, Constraint.json(schema), max_tokens=40)
    assert set(json.loads(c.text)) == {"a", "b"}
    check_output(c.text, Constraint.json(schema))
    c = backend.complete(
        MSG, Constraint.grammar(lark='start: "SELECT " COL\nCOL: "a" | "b"'), max_tokens=12
    )
    assert c.text in {"SELECT a", "SELECT b"}


def test_gbnf_only_grammar_is_unsupported(backend) -> None:  # type: ignore[no-untyped-def]
    from slmgraph.errors import ModelError

    with pytest.raises(ModelError) as info:
        backend.complete(MSG, Constraint.grammar(gbnf='root ::= "a"'))
    assert info.value.kind == "unsupported"
