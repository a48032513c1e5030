"""The operator's tool nodes (no model): observe the page, act on it, finish the episode.

Per-run resources: ``browser`` (a MiniWoB++ environment in one headless Chromium, opened on
first use and closed with the run; a benchmark passes one browser for all its episodes) and
``skills`` (the skill store, ``$SLMGRAPH_SKILLS`` or ``.slmgraph/skills.sqlite``).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from slmgraph.context import RunContext
from slmgraph.errors import RunError
from slmgraph.registry import NodeEnv, NodeFn, State, Update, register_resource, register_tool
from slmgraph.tiers import trace_sink
from slmgraph.tools.browser.actions import Action, execute
from slmgraph.tools.browser.miniwob import MiniWoB
from slmgraph.tools.browser.page import Element, Page, changes
from slmgraph.tools.browser.skills import SkillStore, learn, run_skill


def _close_env(env: MiniWoB) -> None:
    env.close()


register_resource(
    "browser",
    lambda state: MiniWoB(),
    _close_env,
    description="A MiniWoB++ environment in a headless Chromium that reaches only its pages",
)
register_resource(
    "skills",
    lambda state: SkillStore(os.environ.get("SLMGRAPH_SKILLS", ".slmgraph/skills.sqlite")),
    lambda store: store.close(),
    description="The operator's skill store (SQLite; $SLMGRAPH_SKILLS)",
)


def _trace(name: str, status: str = "ok", error: str | None = None, **extra: Any) -> None:
    """The node's trace line, with what a tool adds (the step's screenshot)."""
    sink = trace_sink.get()
    if sink is not None:
        sink.append({"node": name, "tier": None, "size": None, "backend": None, "model": None,
                     "tokens_in": 0, "tokens_out": 0, "latency_s": 0.0, "cost_usd": 0.0,
                     "status": status, "error": error, "call_id": None, **extra})  # fmt: skip


class ObserveParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    episode_s: float = Field(300.0, gt=0, le=3600, description="Wall time of one episode")
    screenshots: str | None = Field(
        ".slmgraph/operator/screens",
        description="Folder for each step's screenshot (per run); null keeps none",
    )
    max_elements: int = Field(50, ge=5, le=200, description="Elements shown to the models")
    max_actions: int = Field(12, ge=1, le=200, description="Actions per episode, at most")


@register_tool(
    "operator.observe",
    ObserveParams,
    reads=lambda p, b: ["task", "seed", "page", "started", "claimed"],
    writes=lambda p: ["page", "goal", "changes", "status", "started", "step"],
    description="Start the episode (first visit) or read the page: elements with refs, changes",
)
def observe(env: NodeEnv) -> NodeFn:
    params: ObserveParams = env.params

    def run(state: State, ctx: RunContext) -> Update:
        browser: MiniWoB = ctx.resource("browser", state, env.name)
        if not state.get("task"):
            raise RunError("the input needs a `task` (a MiniWoB++ task name, e.g. click-button)")
        before = Page.from_dict(state["page"]) if state.get("page") else None
        started = state.get("started")
        if before is None:
            page = browser.reset(str(state["task"]), int(state.get("seed") or 0))
            started = time.time()
        else:
            page = browser.page()
        step = int(state.get("step") or 0) + (0 if before is None else 1)
        elapsed = time.time() - float(started or time.time())
        status = (
            "ended"
            if page.done or state.get("claimed")
            else "timeout"
            if elapsed > params.episode_s
            else "limit"
            if step >= params.max_actions
            else "acting"
        )
        shot = None
        if params.screenshots:
            folder = Path(params.screenshots) / str(ctx.run_id or "run")
            shot = browser.screenshot(folder / f"step-{step:02d}.png")
        shown = Page(page.goal, page.elements[: params.max_elements], page.done, page.reward)
        _trace(env.name, screenshot=str(shot) if shot else None, step=step, page_status=status)
        return {
            "page": shown.to_dict(),
            "goal": page.goal,
            "changes": changes(before, shown),
            "status": status,
            "started": started,
            "step": step,
        }

    return run


class ActParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refuse_repeats: bool = Field(
        False,
        description="Refuse an action identical to the last one, which the page accepted: a"
        " loop is reflected on (and the plan revised) instead of run to the step limit",
    )


#: How ``refuse_repeats`` refuses (the benchmark counts these apart from the page's refusals).
REPEAT_REFUSAL = "the same action as the last step, which already took effect"


def _repeats(state: State, action: Action) -> bool:
    """Whether ``action`` is the last action the page accepted (refusals in between, such as
    this rule's own, do not count: asking again is the same loop)."""
    accepted = [m for m in state.get("memory") or [] if not m.get("error")]
    return bool(accepted) and accepted[-1].get("action") == str(action)


@register_tool(
    "operator.act",
    ActParams,
    reads=lambda p, b: ["page", "action", "skill", "subtask", "memory"],
    writes=lambda p: ["action_error", "memory", "performed", "claimed", "skill_used"],
    description="Run the planned action (or skill) in the browser; a refusal is reported",
)
def act(env: NodeEnv) -> NodeFn:
    params: ActParams = env.params

    def run(state: State, ctx: RunContext) -> Update:
        browser: MiniWoB = ctx.resource("browser", state, env.name)
        page = Page.from_dict(state.get("page") or {})
        if not state.get("action"):
            raise RunError("no action was planned")
        action = Action.from_dict(state["action"])
        performed: list[tuple[Action, Element | None]] = []
        update: dict[str, Any] = {}
        error: str | None = None
        if action.op == "done":
            update["claimed"] = True
        elif params.refuse_repeats and _repeats(state, action):
            error = f"{REPEAT_REFUSAL}; do the next part of the instruction"
        elif action.op == "skill":
            chosen = state.get("skill") or {}
            store: SkillStore = ctx.resource("skills", state, env.name)
            skill = store.get(str(action.text))
            if skill is None or chosen.get("name") != action.text:
                error = f"no skill {action.text!r} was retrieved for this step"
            else:
                performed, error = run_skill(
                    skill,
                    list(chosen.get("values") or []),
                    browser.page,
                    lambda a, p: execute(browser, a, p),
                )
                update["skill_used"] = skill.name  # fmt: skip
        else:
            error = execute(browser, action, page)
            performed = [(action, page.get(action.ref) if action.ref is not None else None)]
        update["action_error"] = error
        update["performed"] = [{"action": a.to_dict(), "element": asdict(e) if e else None}
                               for a, e in performed]  # fmt: skip
        update["memory"] = [{
            "step": int(state.get("step") or 0),
            "subtask": state.get("subtask"),
            "action": str(action),
            "error": error,
        }]  # fmt: skip
        return update

    return run


def _element(data: dict[str, Any] | None) -> Element | None:
    return None if not data else Element(**{**data, "options": tuple(data.get("options") or ())})


class FinishParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    learn: bool = Field(True, description="Store a skill from a successful episode")


@register_tool(
    "operator.finish",
    FinishParams,
    reads=lambda p, b: ["task", "goal", "performed", "skill_used", "status", "claimed"],
    writes=lambda p: ["outcome", "reward", "skill_learned", "steps"],
    description="End the episode: success, failure or limit by the page's reward; learn a skill",
)
def finish(env: NodeEnv) -> NodeFn:
    params: FinishParams = env.params

    def run(state: State, ctx: RunContext) -> Update:
        browser: MiniWoB = ctx.resource("browser", state, env.name)
        status = browser.status()
        if status.done:
            outcome = "success" if status.reward > 0 else "failure"
        elif state.get("claimed"):
            outcome = "failure"  # said done() but the page did not end the episode
        else:
            outcome = "limit"  # steps, time or budget ran out first
        steps = [
            f"{i}. {m.get('action')}"
            + (f"  [refused: {m['error']}]" if m.get("error") else "")
            + (f"  (subtask: {m['subtask']})" if m.get("subtask") else "")
            for i, m in enumerate(state.get("memory") or [], 1)
        ]
        update: dict[str, Any] = {"outcome": outcome, "reward": status.reward, "steps": steps}
        used = state.get("skill_used")
        wants_store = params.learn or used
        store: SkillStore | None = ctx.resource("skills", state, env.name) if wants_store else None
        if store is not None and used:
            store.record(str(used), outcome == "success")
        if store is not None and params.learn and outcome == "success":
            performed = [(Action.from_dict(p["action"]), _element(p.get("element")))
                         for p in state.get("performed") or []]  # fmt: skip
            skill = learn(str(state.get("task")), str(state.get("goal") or ""), performed)
            if skill is not None and skill.name != used:  # a used skill was counted above
                store.add(skill)
                update["skill_learned"] = skill.name
        return update

    return run
