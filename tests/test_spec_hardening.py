"""The ways a spec used to crash, exhaust memory, run code or pass validation and then fail at
build or run: each is now a SpecError naming the YAML path (or line and column), before
anything is built — and what does pass validation builds and runs to a defined end."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from slmgraph import SpecError, load_spec
from slmgraph.graphs.builder import build
from slmgraph.routing.classifier import RouterModel
from slmgraph.runner import run

BASE = """\
name: t
state: {q: str, a: str, label: str}
tiers:
  slm: {backend: scripted, settings: {default: easy}}
nodes:
  first:
    agent: prompt
    params: {user: "{q}", output: label}
  second:
    tool: set
    params: {values: {a: done}}
edges:
  - {from: START, to: first}
  - {from: first, to: second}
  - {from: second, to: END}
"""


def error_of(source: str | Path | dict) -> SpecError:  # type: ignore[type-arg]
    with pytest.raises(SpecError) as info:
        load_spec(source)
    return info.value


def test_a_file_that_is_not_utf8_names_the_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(BASE.replace("done", "d\xe9j\xe0").encode("latin-1"))
    message = str(error_of(path))
    assert "not UTF-8: byte 0xe9 at line 11, column 27" in message and "Traceback" not in message


def test_a_binary_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.yaml"
    path.write_bytes(b"GGUF\x03\x00\x00\x00" + bytes(range(256)))
    assert "binary, not YAML text" in str(error_of(path))


def test_a_bom_and_utf16_are_read(tmp_path: Path) -> None:
    (tmp_path / "bom.yaml").write_bytes(b"\xef\xbb\xbf" + BASE.encode())
    (tmp_path / "u16.yaml").write_bytes(BASE.encode("utf-16"))
    assert load_spec(tmp_path / "bom.yaml").name == load_spec(tmp_path / "u16.yaml").name == "t"


@pytest.mark.parametrize("depth", [65, 5000])
def test_deep_nesting_is_refused_before_it_is_walked(depth: int) -> None:
    deep = BASE + "description: " + "[" * depth + "]" * depth + "\n"
    assert "Nested more than 64 levels deep at line 16" in str(error_of(deep))
    block = BASE + "description:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, depth))
    assert "Nested more than 64 levels deep" in str(error_of(block))


def test_an_alias_bomb_is_refused_before_any_map_is_built() -> None:
    levels = ['l0: &l0 ["x","x","x","x","x","x","x","x","x"]']
    levels += [f"l{i}: &l{i} [{','.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
    bomb = "\n".join(levels) + "\n" + BASE  # 9**10 nodes once expanded
    assert "expands to more than 200,000 nodes once its aliases are resolved" in str(error_of(bomb))
    # a few aliases, as people use them, are fine
    shared = BASE.replace("  slm: {backend", "  slm: &tier {backend").replace(
        "nodes:", "  other: *tier\nnodes:"
    )
    assert load_spec(shared).tiers["other"].backend == "scripted"


def test_a_python_tag_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    tagged = BASE.replace("name: t", f"name: !!python/object/apply:os.system ['touch {marker}']")
    message = str(error_of(tagged))
    assert "could not determine a constructor" in message and "!!python" in message
    assert not marker.exists()


@pytest.mark.parametrize(
    ("duplicate", "path", "lines"),
    [
        ("name: t\nname: u\n", "name", "lines 1 and 2"),
        ("  first:\n    agent: prompt\n    agent: cascade\n", "nodes.first.agent", "lines 7 and 8"),
        ('    params: {user: "{q}", output: label, output: a}\n', "nodes.first.params.output", ""),
        ("  slm: {backend: scripted}\n  slm: {backend: llamacpp}\n", "tiers.slm", "lines 4 and 5"),
    ],
)
def test_duplicate_keys_name_both_lines(duplicate: str, path: str, lines: str) -> None:
    if duplicate.startswith("name"):
        text = BASE.replace("name: t\n", duplicate)
    elif duplicate.startswith("  first"):
        text = BASE.replace("  first:\n    agent: prompt\n", duplicate)
    elif duplicate.startswith("    params"):
        text = BASE.replace('    params: {user: "{q}", output: label}\n', duplicate)
    else:
        text = BASE.replace("  slm: {backend: scripted, settings: {default: easy}}\n", duplicate)
    err = error_of(text)
    assert err.paths == [path] and "Duplicate key" in str(err) and lines in str(err)


@pytest.mark.parametrize("name", ["END", "START", "__end__", "__start__"])
def test_reserved_node_names(name: str) -> None:
    text = BASE.replace("  second:", f"  {name}:").replace("to: second", f"to: {name}")
    text = text.replace("from: second", f"from: {name}")
    assert any("reserved" in str(i) for i in error_of(text).issues)


def test_reserved_state_keys() -> None:
    err = error_of(BASE.replace("state: {q: str,", "state: {trace: str, q: str,"))
    assert err.paths == ["state.trace"] and "reserved" in str(err)


def test_an_invalid_regex_in_a_rules_router() -> None:
    text = BASE.replace(
        "  - {from: first, to: second}",
        "  - from: first\n    router: rules\n    params: {key: q, default: go, rules: "
        "[{route: go, match: '(?P<'}]}\n    routes: {go: second}",
    )
    err = error_of(text)
    assert err.paths == ["edges[1].params.rules.0.match"] and "Invalid regex '(?P<'" in str(err)


def test_a_missing_or_broken_router_model_file(tmp_path: Path) -> None:
    def spec(model: str) -> str:
        return BASE.replace(
            "  - {from: first, to: second}",
            f"  - from: first\n    router: classifier\n    params: {{key: q, model: {model}}}\n"
            "    routes: {slm: second, llm: second}",
        )

    assert "No router model at" in str(error_of(spec(str(tmp_path / "none.json"))))
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert "is not a router model" in str(error_of(spec(str(tmp_path / "bad.json"))))
    RouterModel("tfidf", [0.0], 0.0, 0.5, {"vocabulary": {"x": 0}, "idf": [1.0]}).save(
        tmp_path / "ok.json"
    )
    assert load_spec(spec(str(tmp_path / "ok.json"))).name == "t"


LOOP = """\
name: loop
state: {q: str, a: str, ok: bool}
limits: {max_steps: STEPS}
tiers:
  slm: {backend: scripted, settings: {default: "no"}}
nodes:
  draft:
    agent: prompt
    max_visits: VISITS
    on_limit: END
    params: {user: "{q}", output: a}
  judge:
    tool: set
    params: {values: {ok: false}}
edges:
  - {from: START, to: draft}
  - {from: draft, to: judge}
  - from: judge
    router: field
    params: {key: ok}
    routes: {"true": END, "false": draft}
"""


def test_loop_bounds_must_fit_in_max_steps() -> None:
    err = error_of(LOOP.replace("STEPS", "50").replace("VISITS", "30"))
    assert err.paths == ["limits.max_steps"]
    assert "A run may take 62 steps" in str(err) and "max_steps: 62" in str(err)
    # at the bound the worst-case run (the judge never satisfied) ends by its own on_limit
    spec = load_spec(LOOP.replace("STEPS", "62").replace("VISITS", "30"))
    result = run(build(spec, call_log=False), {"q": "x"})
    assert result.status == "ok" and result.state["visits"] == {"draft": 30, "judge": 30}


def test_every_cycle_needs_a_bound_not_just_every_loop() -> None:
    text = LOOP.replace("STEPS", "50").replace("VISITS", "3").replace(
        'routes: {"true": END, "false": draft}', 'routes: {"true": END, "false": draft}\n'
        "    default: judge"
    )  # fmt: skip
    err = error_of(text)
    assert "Loop without a bound (judge)" in str(err)


def test_a_misspelled_prompt_of_an_agent_that_loads_its_own() -> None:
    err = error_of(
        """
name: q
state: {question: str, db: str}
nodes:
  write_sql: {agent: sql.query_writer, params: {prompt: sql_wrtie}}
edges:
  - {from: START, to: write_sql}
  - {from: write_sql, to: END}
"""
    )
    assert "nodes.write_sql.params.prompt" in err.paths
    assert "Prompt 'sql_wrtie' not found" in str(err) and "Did you mean 'sql/write'?" in str(err)


def test_a_prompt_placeholder_that_nothing_fills(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text("user: 'Schema {schema}, {colour}: {question}'\n")
    spec = tmp_path / "q.yaml"
    spec.write_text(
        """
name: q
state: {question: str, db: str, sql: str, sql_logprob: float, sql_source: str,
        sql_samples: list, attempts: list}
nodes:
  write_sql: {agent: sql.query_writer, params: {prompt: ./mine.yaml}}
edges:
  - {from: START, to: write_sql}
  - {from: write_sql, to: END}
"""
    )
    err = error_of(spec)
    assert "uses {colour}, which `state:` does not declare and the agent does not fill" in str(err)


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("{}", "positional placeholder"),
        ("{q.upper}", "no attributes or indexes"),
        ("{q!x}", "the conversion must be"),
        ("{q", "malformed template"),
    ],
)
def test_templates_that_cannot_render(template: str, why: str) -> None:
    err = error_of(
        BASE.replace('{user: "{q}", output: label}', f'{{user: "{template}", output: label}}')
    )
    assert why in str(err)


def test_module_references_import_only_declared_modules() -> None:
    sys.modules.pop("this", None)
    err = error_of(BASE.replace("tool: set", "tool: 'this:s'"))
    assert "imports module 'this', which the spec does not declare" in str(err)
    assert "this" not in sys.modules  # validation ran none of it
    declared = BASE.replace(
        "tool: set\n    params: {values: {a: done}}", "tool: 'os:getcwd'"
    ).replace("name: t", "name: t\nimports: [os]")
    with pytest.raises(SpecError, match="Building node 'second' failed: TypeError"):
        build(load_spec(declared), call_log=False)


def test_a_router_that_raises_ends_the_run_in_its_error_state() -> None:
    text = BASE.replace("name: t", "name: t\nimports: [json]").replace(
        "  - {from: first, to: second}",
        "  - from: first\n    router: 'json:loads'\n    routes: {x: second}\n    default: second",
    )
    result = run(build(load_spec(text), call_log=False), {"q": "x"})
    assert result.status == "error" and "router after 'first' failed: TypeError" in str(
        result.error
    )
