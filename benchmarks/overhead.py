"""Framework overhead: the same 5-node graph on the scripted backend, built by slmgraph from YAML
versus written by hand in LangGraph. Both call the same backend object; the difference per node
is what slmgraph adds (prompt rendering, output checks, context, trace, visit counting, error
branches) — with the call log off, and on (one SQLite row per model call).

    .venv/bin/python benchmarks/overhead.py [--runs 300]

Runs alternate between the systems so machine noise hits all of them alike; the report gives
medians and ratios. Writes benchmarks/results/overhead-latest.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

from slmgraph import load_spec
from slmgraph.graphs.builder import build
from slmgraph.models.scripted import ScriptedBackend
from slmgraph.telemetry import CallLog

N_NODES = 5
NODES = [f"step{i}" for i in range(N_NODES)]

SPEC = {
    "name": "overhead",
    "state": {"text": "str", **{f"out{i}": "str" for i in range(N_NODES)}},
    "tiers": {"slm": {"backend": "scripted"}},
    "nodes": {
        name: {"agent": "prompt", "params": {"user": f"Step {i}: {{text}}", "output": f"out{i}"}}
        for i, name in enumerate(NODES)
    },
    "edges": [{"from": "START", "to": NODES[0]}]
    + [{"from": a, "to": b} for a, b in itertools.pairwise(NODES)]
    + [{"from": NODES[-1], "to": "END"}],
}


def hand_written(backend: ScriptedBackend) -> Any:
    class State(TypedDict, total=False):
        text: str
        out0: str
        out1: str
        out2: str
        out3: str
        out4: str

    def make(i: int) -> Any:
        def node(state: State) -> dict[str, str]:
            messages = [{"role": "user", "content": f"Step {i}: {state['text']}"}]
            return {f"out{i}": backend.complete(messages).text.strip()}  # type: ignore[arg-type]

        return node

    g = StateGraph(State)
    for i, name in enumerate(NODES):
        g.add_node(name, make(i))
    g.add_edge(START, NODES[0])
    for a, b in itertools.pairwise(NODES):
        g.add_edge(a, b)
    g.add_edge(NODES[-1], END)
    return g.compile()


def machine() -> str:
    import os

    cpu = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results/overhead-latest.json"))
    args = ap.parse_args()

    backend = ScriptedBackend(default="ok")
    spec = load_spec(SPEC)
    tmp = tempfile.mkdtemp()
    systems = {
        "langgraph-hand-written": hand_written(backend),
        "slmgraph-no-log": build(spec, backends={"slm": backend}, call_log=False).graph,
        "slmgraph-sqlite-log": build(
            spec, backends={"slm": backend}, call_log=CallLog(Path(tmp) / "calls.sqlite")
        ).graph,
    }
    inputs = {"text": "hello world"}
    for graph in systems.values():  # warm up
        for _ in range(20):
            graph.invoke(inputs)
    times: dict[str, list[float]] = {k: [] for k in systems}
    for _ in range(args.runs):
        for name, graph in systems.items():
            times[name].append(timed(lambda g=graph: g.invoke(inputs)))
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["langgraph-hand-written"]
    result = {
        "benchmark": "framework overhead",
        "machine": machine(),
        "date": date.today().isoformat(),
        "command": f"python benchmarks/overhead.py --runs {args.runs}",
        "nodes": N_NODES,
        "runs": args.runs,
        "median_run_ms": {k: round(v * 1000, 3) for k, v in med.items()},
        "overhead_per_node_ms": {k: round((v - base) * 1000 / N_NODES, 3) for k, v in med.items()},
        "ratio_to_hand_written": {k: round(v / base, 2) for k, v in med.items()},
        "target": "overhead <= 1 ms per node",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
