"""Malformed specs: each gives one SpecError naming the YAML path, with a suggestion where a
name is unknown. Never a traceback from pydantic or LangGraph."""

from __future__ import annotations

import textwrap

import pytest

from slmgraph import SpecError, load_spec

GOOD = """
name: demo
state: {question: str, label: str, answer: str}
tiers:
  slm: {backend: scripted, settings: {default: "x"}, fallback: llm}
  llm: {backend: scripted, settings: {default: "y"}}
defaults: {tier: slm}
nodes:
  classify:
    agent: prompt
    params:
      user: "Question: {question}"
      output: label
      constraint: {choice: [easy, hard]}
  write_answer:
    agent: prompt
    tier: llm
    params: {user: "Answer {question}", output: answer}
  shortcut:
    tool: set
    params: {values: {answer: "skip"}}
edges:
  - {from: START, to: classify}
  - from: classify
    router: field
    params: {key: label}
    routes: {easy: shortcut, hard: write_answer}
  - {from: write_answer, to: END}
  - {from: shortcut, to: END}
"""


def test_good_spec_loads() -> None:
    spec = load_spec(GOOD)
    assert list(spec.nodes) == ["classify", "write_answer", "shortcut"]


# (description, old text, new text, expected path, expected fragments of the message)
CASES = [
    (
        "unknown tier with suggestion",
        'tier: llm\n    params: {user: "Answer',
        'tier: llmm\n    params: {user: "Answer',
        "nodes.write_answer.tier",
        ["Unknown tier 'llmm'", "Did you mean 'llm'?"],
    ),
    (
        "unknown agent with suggestion",
        'agent: prompt\n    params:\n      user: "Question',
        'agent: promt\n    params:\n      user: "Question',
        "nodes.classify.agent",
        ["Unknown agent 'promt'", "Did you mean 'prompt'?"],
    ),
    (
        "unknown tool with suggestion",
        "tool: set",
        "tool: sett",
        "nodes.shortcut.tool",
        ["Unknown tool 'sett'", "Did you mean 'set'?"],
    ),
    (
        "edge to unknown node",
        "{from: write_answer, to: END}",
        "{from: write_answer, to: ENDD}",
        "edges[2].to",
        ["unknown node 'ENDD'", "Did you mean 'END'?"],
    ),
    (
        "edge from unknown node",
        "{from: shortcut, to: END}",
        "{from: shortcutt, to: END}",
        "edges[3].from",
        ["unknown node 'shortcutt'", "Did you mean 'shortcut'?"],
    ),
    (
        "unknown router",
        "router: field",
        "router: feild",
        "edges[1].router",
        ["Unknown router 'feild'", "Did you mean 'field'?"],
    ),
    (
        "route label without target",
        "routes: {easy: shortcut, hard: write_answer}",
        "routes: {easy: shortcut}",
        "edges[1].routes",
        ["Route label 'hard'", "has no target"],
    ),
    (
        "route to unknown node",
        "routes: {easy: shortcut, hard: write_answer}",
        "routes: {easy: shortcut, hard: write_anwser}",
        "edges[1].routes.hard",
        ["unknown node 'write_anwser'", "Did you mean 'write_answer'?"],
    ),
    (
        "no edge from START",
        "  - {from: START, to: classify}\n",
        "",
        "edges",
        ["No edge from START"],
    ),
    (
        "unreachable node",
        "routes: {easy: shortcut, hard: write_answer}",
        "routes: {easy: shortcut, hard: shortcut}",
        "nodes.write_answer",
        ["unreachable from START"],
    ),
    (
        "unknown field with suggestion",
        "defaults: {tier: slm}",
        "defaults: {teir: slm}",
        "defaults.teir",
        ["Unknown field 'teir'", "Did you mean 'tier'?"],
    ),
    (
        "unknown backend",
        'backend: scripted, settings: {default: "y"}',
        'backend: llama, settings: {default: "y"}',
        "tiers.llm.backend",
        ["Unknown backend 'llama'", "Did you mean 'llamacpp'?"],
    ),
    (
        "unknown fallback tier",
        "fallback: llm",
        "fallback: lm",
        "tiers.slm.fallback",
        ["Unknown tier 'lm'", "Did you mean 'llm'?"],
    ),
    (
        "prompt reads an undeclared state key",
        'user: "Answer {question}"',
        'user: "Answer {questoin}"',
        "nodes.write_answer.params",
        ["{questoin}", "Did you mean 'question'?"],
    ),
    (
        "unknown agent parameter",
        'params: {user: "Answer {question}", output: answer}',
        'params: {user: "Answer {question}", ouput: answer}',
        "nodes.write_answer.params.ouput",
        ["Unknown parameter 'ouput'", "Did you mean 'output'?"],
    ),
    (
        "loop without a bound",
        "{from: shortcut, to: END}",
        "{from: shortcut, to: classify}",
        "nodes.classify",
        ["Loop without a bound", "max_visits"],
    ),
    (
        "node with both agent and tool",
        "tool: set\n",
        "tool: set\n    agent: prompt\n",
        "nodes.shortcut",
        ["exactly one of 'agent' or 'tool'"],
    ),
    (
        "wrong type",
        "{from: write_answer, to: END}",
        "{from: write_answer, to: [END]}",
        "edges[2].to",
        ["valid string"],
    ),
    (
        "writes an undeclared state key",
        "output: label",
        "output: lable",
        "nodes.classify.params.output",
        ["'lable'", "Did you mean 'label'?"],
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "path", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_malformed_spec(old: str, new: str, path: str, fragments: list[str]) -> None:
    assert old in GOOD, old
    with pytest.raises(SpecError) as info:
        load_spec(GOOD.replace(old, new, 1))
    err = info.value
    assert path in err.paths, f"{path} not in {err.paths}: {err}"
    issue = next(i for i in err.issues if i.path == path)
    text = str(issue)
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"


def test_every_issue_has_a_line_number() -> None:
    with pytest.raises(SpecError) as info:
        load_spec(GOOD.replace("tier: llm\n    params", "tier: llmm\n    params", 1))
    issue = info.value.issues[0]
    assert issue.hint is not None and issue.hint.startswith("(line ")


def test_yaml_syntax_error_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="YAML error at line"):
        load_spec("name: x\nnodes: [\n")


def test_several_problems_are_reported_together() -> None:
    bad = GOOD.replace("tool: set", "tool: sett").replace("router: field", "router: feild")
    with pytest.raises(SpecError) as info:
        load_spec(bad)
    assert {"nodes.shortcut.tool", "edges[1].router"} <= set(info.value.paths)
    assert "2 problems" in str(info.value) or len(info.value.issues) >= 2


def test_bounded_loop_is_accepted() -> None:
    spec = load_spec(
        GOOD.replace("{from: shortcut, to: END}", "{from: shortcut, to: classify}").replace(
            "  classify:\n", "  classify:\n    max_visits: 2\n    on_limit: END\n"
        )
    )
    assert spec.nodes["classify"].max_visits == 2


def test_missing_file_and_unknown_builtin() -> None:
    with pytest.raises(SpecError, match="not found"):
        load_spec("no/such/file.yaml")
    with pytest.raises(SpecError, match="Did you mean 'triage'"):
        load_spec("triag")


def test_fallback_cycle() -> None:
    bad = GOOD.replace(
        'llm: {backend: scripted, settings: {default: "y"}}',
        'llm: {backend: scripted, settings: {default: "y"}, fallback: slm}',
    )
    with pytest.raises(SpecError, match="Fallback cycle"):
        load_spec(bad)


def test_json_schema_export_is_valid() -> None:
    from jsonschema import Draft202012Validator

    from slmgraph.spec import json_schema

    schema = json_schema()
    Draft202012Validator.check_schema(schema)
    import yaml

    data = yaml.safe_load(textwrap.dedent(GOOD))
    Draft202012Validator(schema).validate(data)
    assert "source" not in schema["properties"]
