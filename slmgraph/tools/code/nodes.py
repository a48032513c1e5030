"""The software team's tool nodes (no model): run the tests in the sandbox, finish the run.

The sandbox is a per-run resource (``sandbox``), shared by the runs of a process so that
bwrap is probed once."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from slmgraph.context import RunContext
from slmgraph.registry import NodeEnv, NodeFn, State, Update, register_resource, register_tool
from slmgraph.tools.code.harness import run_cases
from slmgraph.tools.code.sandbox import Limits, Sandbox, shared_sandbox

register_resource(
    "sandbox",
    lambda state: shared_sandbox(),
    description="The code sandbox (bubblewrap where it runs, else resource limits)",
)


class RunTestsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    wall_s: float = Field(20.0, gt=0, le=600, description="Wall clock for all the cases")
    cpu_s: int = Field(20, ge=1, le=600)
    memory_mb: int = Field(512, ge=64)
    per_case_s: int = Field(3, ge=1, le=60, description="Time for one case")
    isolation: Literal["auto", "bwrap", "rlimits"] = "auto"


@register_tool(
    "team.run_tests",
    RunTestsParams,
    reads=lambda p, b: ["code", "tests"],
    writes=lambda p: ["report", "qa_status", "history"],
    description="Run the QA's cases against the code in the sandbox: a structured report",
)
def run_tests(env: NodeEnv) -> NodeFn:
    params: RunTestsParams = env.params
    limits = Limits(wall_s=params.wall_s, cpu_s=params.cpu_s, memory_mb=params.memory_mb)

    def run(state: State, ctx: RunContext) -> Update:
        sandbox: Sandbox = (
            ctx.resource("sandbox", state, env.name)
            if params.isolation == "auto"
            else shared_sandbox(params.isolation)
        )
        cases = list(state.get("tests") or [])
        report = run_cases(sandbox, str(state.get("code") or ""), cases, params.per_case_s, limits)
        return {
            "report": report,
            # No valid case: nothing says the code is wrong, and no fix could be checked.
            "qa_status": "pass"
            if report["all_passed"]
            else "untested"
            if not report["total"]
            else "fail",
            "history": [{"node": env.name, "report": report}],
        }

    return run


def _rank(report: dict[str, Any]) -> tuple[bool, int]:
    return report.get("load_error") is None, int(report.get("passed") or 0)


def best_version(history: list[dict[str, Any]]) -> tuple[str, dict[str, Any]] | None:
    """The version that passed most cases (one that imports before one that does not; the
    latest of equals) and its report."""
    best: tuple[str, dict[str, Any]] | None = None
    code = None
    for item in history:
        if "code" in item:
            code = item["code"]
        elif (
            code is not None
            and "report" in item
            and (best is None or _rank(item["report"]) >= _rank(best[1]))
        ):
            best = (code, item["report"])
    return best


@register_tool(
    "team.finish",
    reads=lambda p, b: ["history"],
    writes=lambda p: ["code", "report", "outcome"],
    description="End the run: the passing code, else the best version and its failing report",
)
def finish(env: NodeEnv) -> NodeFn:
    def run(state: State) -> Update:
        if state.get("qa_status") in ("pass", "untested") and not state.get("budget"):
            return {"outcome": "passed" if state["qa_status"] == "pass" else "untested"}
        outcome = "budget" if state.get("budget") else "failed"
        best = best_version(list(state.get("history") or []))
        if best is None:  # no version was tested: what there is, as it is
            return {"outcome": outcome}
        code, report = best
        return {"outcome": "passed" if report["all_passed"] else outcome, "code": code,
                "report": report}  # fmt: skip

    return run
