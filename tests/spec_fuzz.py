"""The property behind tests/test_spec_fuzz.py (run there in a subprocess under a memory
limit): every mutation of a built-in spec is either a valid spec — which then builds and runs
on scripted tiers to a defined end — or a SpecError, in bounded time.

Mutations: a key deleted; a value replaced by another type, an unknown or reserved name, a
`module:attr` reference, a loop bound; and at the text level a duplicated line, a `!!python`
tag, binary bytes, a byte that is not UTF-8, an alias bomb, deep nesting, a truncated file.
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slmgraph import SpecError, load_spec
from slmgraph.graphs.builder import build
from slmgraph.models.scripted import ScriptedBackend
from slmgraph.plugins import builtin_graph_file
from slmgraph.runner import run

HERE = Path(__file__).parent
BASES = {name: builtin_graph_file(name)[0].decode() for name in ("triage", "query_writer")}  # type: ignore[index]
BASES["sink"] = (HERE / "specs" / "sink.yaml").read_text()
EXAMPLES = int(os.environ.get("SLMGRAPH_FUZZ_EXAMPLES", "1000"))
#: Seconds one mutated spec may take to be validated, built and run (scripted tiers).
BOUND_S = 10.0

NAMES = [
    "slm", "llm", "END", "START", "__end__", "__start__", "this:s", "os:system", "json:loads",
    "helpers:check_draft", "sql_wrtie", "sql/write", "triage/classify", "prompt", "cascade",
    "sql.execute", "field", "rules", "classifier", "sql_executes", "trace", "error", "", "x",
    "a" * 300, "../../etc/passwd", "/etc/passwd", "missing.yaml", "(?P<", "[a-", "{x}", "{",
    "é中", "with space", "1", "-1", "~nosuchuser/x.yaml", "a\x00b.yaml", "./a\x00", "/etc",
    "/proc/self/mem",
]  # fmt: skip
VALUES: list[Any] = [
    None, 0, -1, 1, 10**12, 1e308, float("inf"), True, False, "", [], {}, [1, 2], {"a": 1},
    "a" * 5000, {"x": {"y": {"z": 1}}}, [[[]]], "{0}", "{x!z}", "{x.y}", "*+",
]  # fmt: skip


def _paths(d: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(d, dict):
        for k, v in d.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(data: dict[str, Any], draw: Any) -> dict[str, Any]:
    d = copy.deepcopy(data)
    where = draw(st.sampled_from([p for p in _paths(d) if p]))
    parent: Any = d
    for k in where[:-1]:
        parent = parent[k]
    key = where[-1]
    op = draw(st.sampled_from(["delete", "name", "value", "add", "bound"]))
    if op == "delete":
        del parent[key]
    elif op == "name":
        parent[key] = draw(st.sampled_from(NAMES))
    elif op == "value":
        parent[key] = copy.deepcopy(draw(st.sampled_from(VALUES)))
    elif op == "add" and isinstance(parent, dict):
        parent[draw(st.sampled_from(NAMES)) or "k"] = draw(st.sampled_from(NAMES))
    elif isinstance(d.get("nodes"), dict) and d["nodes"]:
        node = d["nodes"][draw(st.sampled_from(sorted(d["nodes"])))]
        if isinstance(node, dict):
            node["max_visits"] = draw(st.sampled_from([1, 5, 60, 1000]))
            node["on_limit"] = draw(st.sampled_from([*d["nodes"], "END"]))
        d["limits"] = {"max_steps": draw(st.sampled_from([1, 3, 10, 50]))}
    return d


def _text(text: str, draw: Any) -> str | bytes:
    lines = text.split("\n")
    op = draw(st.sampled_from(["dup", "tag", "binary", "utf8", "bomb", "deep", "cut", "bom"]))
    i = draw(st.integers(0, len(lines) - 1))
    if op == "dup":
        lines.insert(i, lines[i])
    elif op == "tag":
        lines[i] += " !!python/object/apply:os.system ['echo ran']"
    elif op == "binary":
        return bytes(draw(st.lists(st.integers(0, 255), min_size=1, max_size=200)))
    elif op == "utf8":
        raw = text.encode()
        cut = draw(st.integers(0, len(raw)))
        return raw[:cut] + b"\xff\xfe" + raw[cut:]
    elif op == "bomb":
        n = draw(st.sampled_from([9, 12]))
        bomb = 'z0: &z0 ["x","x","x","x","x","x","x","x","x"]\n'
        bomb += "".join(f"z{j + 1}: &z{j + 1} [{','.join([f'*z{j}'] * 9)}]\n" for j in range(n))
        return bomb + text
    elif op == "deep":
        depth = draw(st.sampled_from([70, 5000]))
        return text + "\ndescription: " + "[" * depth + "]" * depth + "\n"
    elif op == "cut":
        return text[: draw(st.integers(0, len(text)))]
    else:
        return "\ufeff" + text
    return "\n".join(lines)


@st.composite
def mutated(draw: Any) -> tuple[str, str | bytes]:
    name = draw(st.sampled_from(sorted(BASES)))
    base = BASES[name]
    if draw(st.booleans()):
        return name, _text(base, draw)
    return name, yaml.safe_dump(_mutate(yaml.safe_load(base), draw), sort_keys=False)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("SLMGRAPH_FUZZ_RANDOM") != "1",
    suppress_health_check=list(HealthCheck),
)
@given(mutated())
def test_a_mutated_spec_is_valid_or_a_spec_error(tmp_path_factory: Any, case: Any) -> None:
    name, source = case
    started = time.perf_counter()
    try:
        if isinstance(source, bytes):
            path = tmp_path_factory.mktemp("spec") / "mutated.yaml"
            path.write_bytes(source)
            spec = load_spec(path)
        else:
            spec = load_spec(source)
    except SpecError:
        assert time.perf_counter() - started < BOUND_S
        return
    backends = {tier: ScriptedBackend(default="SELECT 1") for tier in spec.tiers}
    try:
        built = build(spec, backends=backends, call_log=False)
    except SpecError:
        return
    inputs = {"question": "How many?", "ticket": "refund", "q": "why so"}
    fields = spec.state_fields()
    result = run(built, {k: v for k, v in inputs.items() if k in fields or not fields})
    assert result.status in ("ok", "error", "interrupted"), (name, result)
    assert time.perf_counter() - started < BOUND_S, (name, source)
