"""LangChain both ways: a LangChain chat model as a tier, and our tiers as LangChain chat models."""

from __future__ import annotations

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from slmgraph.constraints import Constraint
from slmgraph.errors import ModelError
from slmgraph.models.langchain import LangChainBackend, SlmgraphChatModel
from slmgraph.models.scripted import ScriptedBackend
from slmgraph.models.settings import ScriptedRule


def test_langchain_model_as_a_tier_validates_constrained_output() -> None:
    model = FakeListChatModel(responses=['{"a": 2}', "maybe", "yes"])
    backend = LangChainBackend(model, structured_output="prompt")
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    c = backend.complete([{"role": "user", "content": "q"}], Constraint.json(schema))
    assert c.text == '{"a": 2}'
    from slmgraph.constraints import check_output

    with pytest.raises(ModelError) as info:
        check_output(
            backend.complete(
                [{"role": "user", "content": "q"}], Constraint.choice(["yes", "no"])
            ).text,
            Constraint.choice(["yes", "no"]),
        )
    assert info.value.kind == "invalid_output"


def test_langchain_tier_in_a_spec() -> None:
    from slmgraph import load_spec, run

    spec = load_spec("""
name: lc
state: {q: str, a: str}
imports: [langchain_core.language_models.fake_chat_models]
tiers:
  slm:
    backend: langchain
    settings:
      chat_model: "langchain_core.language_models.fake_chat_models:FakeListChatModel"
      kwargs: {responses: ["forty-two"]}
nodes:
  answer: {agent: prompt, params: {user: "{q}", output: a}}
edges: [{from: START, to: answer}, {from: answer, to: END}]
""")
    result = run(spec, {"q": "meaning?"}, call_log=False)
    assert result.output["a"] == "forty-two"
    assert result.trace[0]["backend"] == "langchain"


def test_our_backend_as_a_langchain_chat_model() -> None:
    scripted = ScriptedBackend([ScriptedRule(match="capital", output="Paris")], model="s")
    chat = SlmgraphChatModel(backend=scripted)
    msg = chat.invoke([SystemMessage("be brief"), HumanMessage("capital of France?")])
    assert msg.content == "Paris"
    assert msg.usage_metadata is not None and msg.usage_metadata["output_tokens"] == 1
    sent, _ = scripted.calls[0]
    assert [m["role"] for m in sent] == ["system", "user"]
