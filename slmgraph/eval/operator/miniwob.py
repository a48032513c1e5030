"""The operator's benchmark on MiniWoB++: tasks and seeds, the systems side by side, one
episode per item, scored by the page's own reward.

Tasks (25, fixed): they span what an operator meets — single clicks (click-test, click-test-2,
click-button, click-link, click-dialog, click-dialog-2, click-widget, focus-text,
focus-text-2), text entry (enter-text, enter-text-2, enter-password), forms (login-user,
login-user-popup, click-option), lists and menus (choose-list, click-checkboxes, click-tab,
click-collapsible, navigate-tree, use-autocomplete) and multi-step tasks (click-button-sequence,
search-engine, email-inbox, book-flight) — and need no pixels or dragging (our models read
text; coordinate and drawing tasks are left to a vision tier). Seeds are 0..N-1 per task.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from slmgraph.eval.tiers import bench_tiers, code_fingerprint
from slmgraph.graphs.builder import BuiltGraph, build
from slmgraph.loader import load_spec
from slmgraph.runner import run
from slmgraph.spec import GraphSpec
from slmgraph.telemetry import CallLog
from slmgraph.tools.browser.miniwob import MiniWoB
from slmgraph.tools.browser.skills import SkillStore

TASKS = (
    "click-test", "click-test-2", "click-button", "click-link", "click-dialog",
    "click-dialog-2", "click-widget", "focus-text", "focus-text-2", "enter-text",
    "enter-text-2", "enter-password", "login-user", "login-user-popup", "click-option",
    "choose-list", "click-checkboxes", "click-tab", "click-collapsible", "navigate-tree",
    "use-autocomplete", "click-button-sequence", "search-engine", "email-inbox", "book-flight",
)  # fmt: skip
MODULES = ("information_gathering", "self_reflection", "task_inference", "skill_curation",
           "action_planning")  # fmt: skip
SYSTEMS = ("react-0.5b", "react-1.5b", "operator-slm", "operator-llm", "operator-mixed",
           "operator-mixed-noskills")  # fmt: skip


@dataclass(frozen=True)
class Episode:
    task: str
    seed: int

    @property
    def id(self) -> str:
        return f"{self.task}/{self.seed}"


def episodes(
    tasks: tuple[str, ...] | list[str] = TASKS, n: int = 10, first_seed: int = 0
) -> list[Episode]:
    """``n`` seeds of every task from ``first_seed``, seed-major (every task's first seed,
    then the next, ...), so a run cut short still covers every task. Settings are chosen on
    seeds from :data:`DEV_SEED` on, never on the benchmark's ``0..n-1``."""
    return [Episode(t, s) for s in range(first_seed, first_seed + n) for t in tasks]


#: The first seed of the development episodes (where prompts and settings are chosen).
DEV_SEED = 1000


def operator_spec(variant: str, n_threads: int | None = None, skills: bool = True) -> GraphSpec:
    """The operator with its modules on tiers: ``slm`` / ``llm`` (every module on that tier)
    or ``mixed`` (the graph's defaults: task inference on llm)."""
    data = load_spec("operator").model_dump(by_alias=True, exclude_none=True, exclude={"source"})
    nodes = data["nodes"]
    if variant in ("slm", "llm"):
        for module in MODULES:
            nodes[module]["tier"] = variant
    elif variant != "mixed":
        raise ValueError(f"unknown operator variant {variant!r}")
    if not skills:
        nodes["skill_curation"].setdefault("params", {})["enabled"] = False
        nodes["finish"].setdefault("params", {})["learn"] = False
    nodes["observe"].setdefault("params", {})["screenshots"] = None  # the benchmark keeps none
    data["tiers"] = bench_tiers(n_threads)
    return load_spec(data)


def react_spec(tier: str, n_threads: int | None = None) -> GraphSpec:
    """The baseline a user writes: observe, one call to the next action, act, repeat (the
    same page reading, action grammar, step bound and scoring as the operator)."""
    base = load_spec("operator").model_dump(by_alias=True, exclude_none=True, exclude={"source"})
    nodes = {k: base["nodes"][k] for k in ("observe", "act", "finish")}
    nodes["observe"].setdefault("params", {})["screenshots"] = None
    nodes["act"].pop("params", None)  # the plain loop: no refusal of repeated actions
    nodes["finish"]["params"] = {"learn": False}  # and no skills
    nodes["react"] = {"agent": "operator.react", "tier": tier}
    data: dict[str, Any] = {
        "name": f"react_{tier}",
        "state": base["state"],
        "output": base["output"],
        "nodes": nodes,
        "edges": [
            {"from": "START", "to": "observe"},
            {
                "from": "observe",
                "router": "field",
                "params": {"key": "status"},
                "routes": {
                    "acting": "react",
                    "ended": "finish",
                    "timeout": "finish",
                    "limit": "finish",
                },
            },
            {"from": "react", "to": "act"},
            {"from": "act", "to": "observe"},
            {"from": "finish", "to": "END"},
        ],
        "limits": {**base["limits"], "max_steps": 45},
        "tiers": bench_tiers(n_threads),
    }
    return load_spec(data)


@dataclass
class OperatorSystem:
    """A MiniWoB++ system: a built graph, one browser for all its episodes, its own skill
    store (in its run folder, so skills carry across its episodes and resumed runs)."""

    name: str
    built: BuiltGraph
    skills_path: Path | str = ":memory:"
    browser: MiniWoB = field(default_factory=MiniWoB)
    _store: SkillStore | None = None

    def fingerprint(self) -> str:
        """Over the spec and the code the system runs: a react baseline does not depend on
        the operator's other modules, so changing those does not discard its episodes."""
        spec = self.built.spec.model_dump(by_alias=True, exclude_none=True, exclude={"source"})
        if self.name.startswith("react-"):
            parts: tuple[str, ...] = (
                "agents/operator/common.py", "agents/operator/react.py",
                "prompts/operator/react.yaml", "tools/browser/actions.py",
                "tools/browser/chromium.py", "tools/browser/miniwob.py", "tools/browser/nodes.py",
                "tools/browser/page.py", "eval/operator/miniwob.py", "models",
            )  # fmt: skip
            # (not planning.py, skills.py: a baseline plans no steps and learns no skills)
        else:
            parts = ("agents/operator", "tools/browser", "eval/operator", "prompts/operator",
                     "graphs/operator.yaml", "models")  # fmt: skip
        return code_fingerprint(self.name, spec, parts)

    def predict(self, item: Episode) -> dict[str, Any]:
        if self._store is None:
            self._store = SkillStore(self.skills_path)
        started = time.perf_counter()
        result = run(self.built, {"task": item.task, "seed": item.seed},
                     resources={"browser": self.browser, "skills": self._store})  # fmt: skip
        state = result.state
        return {
            "run_id": result.run_id,
            "outcome": result.output.get("outcome") if not result.error else "error",
            "reward": state.get("reward"),
            "error": result.error,
            "goal": state.get("goal"),
            "actions": [m.get("action") for m in state.get("memory") or []],
            "refused": [m.get("error") for m in state.get("memory") or [] if m.get("error")],
            "skill_used": state.get("skill_used"),
            "skill_learned": state.get("skill_learned"),
            "trace": result.trace,
            "seconds": round(time.perf_counter() - started, 3),
        }

    def close(self) -> None:
        self.browser.close()
        if self._store is not None:
            self._store.close()


def make_system(
    name: str,
    n_threads: int | None = None,
    run_dir: Path | None = None,
    call_log: CallLog | Literal[False] = False,
) -> OperatorSystem:
    """One of :data:`SYSTEMS` on the benchmark's tiers."""
    if name in ("react-0.5b", "react-1.5b"):
        spec = react_spec("slm" if name == "react-0.5b" else "llm", n_threads)
    elif name.startswith("operator-"):
        variant = name.removeprefix("operator-")
        skills = not variant.endswith("-noskills")
        spec = operator_spec(variant.removesuffix("-noskills"), n_threads, skills)
    else:
        raise ValueError(f"unknown system {name!r}; systems: {', '.join(SYSTEMS)}")
    skills_path = (run_dir / "skills.sqlite") if run_dir is not None else ":memory:"
    return OperatorSystem(name, build(spec, call_log=call_log), skills_path)


def score(item: Episode, pred: dict[str, Any]) -> dict[str, Any]:
    keys = ("node", "tier", "size", "tokens_in", "tokens_out", "cost_usd", "latency_s",
            "status", "error")  # fmt: skip
    trace = [{k: t.get(k) for k in keys} for t in pred.get("trace") or []]
    return {
        "id": item.id,
        "task": item.task,
        "seed": item.seed,
        "run_id": pred.get("run_id"),
        "correct": pred.get("outcome") == "success",
        "outcome": pred.get("outcome"),
        "reward": pred.get("reward"),
        "error": pred.get("error"),
        "goal": pred.get("goal"),
        "actions": pred.get("actions") or [],
        "refused": pred.get("refused") or [],
        "skill_used": pred.get("skill_used"),
        "skill_learned": pred.get("skill_learned"),
        "seconds": pred.get("seconds"),
        "trace": trace,
    }
