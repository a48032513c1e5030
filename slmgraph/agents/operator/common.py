"""What the operator's modules share: their parameters, the page and the memory as a prompt
shows them, and one call under a constraint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from slmgraph.agents.prompt import render
from slmgraph.constraints.base import Constraint
from slmgraph.prompts import PromptTemplate
from slmgraph.registry import NodeEnv, State
from slmgraph.tiers import Result
from slmgraph.tools.browser.page import Page


class ModuleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(description="Built-in prompt name (operator/...) or a YAML file path")
    max_tokens: int = Field(120, ge=8, le=2048)
    temperature: float | None = Field(None, ge=0, le=2)
    memory: int = Field(5, ge=0, le=50, description="Last steps of memory shown in the prompt")
    marks: bool = Field(
        True,
        description="Mark with * the elements information gathering found relevant (false: "
        "the page as it is, so a module never inherits the gatherer's mistakes)",
    )


#: The placeholders :func:`context` fills (besides the state's own keys).
PROMPT_VARS = frozenset({"goal", "elements", "changes", "values", "subtask", "history",
                         "last_error", "reflection", "last_action", "page_answer", "skills",
                         "skill"})  # fmt: skip


def page_of(state: State) -> Page:
    return Page.from_dict(state.get("page") or {})


def chosen_skill(state: State) -> str | None:
    """The skill skill curation chose for this episode and that has not run yet, by name."""
    skill = state.get("skill") or {}
    return None if not skill.get("name") or state.get("skill_used") else str(skill["name"])


def recent(state: State, n: int) -> str:
    """The last ``n`` steps of memory, one line each: the action, then what became of it."""
    lines = []
    for item in list(state.get("memory") or [])[-n:] if n else []:
        result = f"refused: {item['error']}" if item.get("error") else "done"
        if item.get("reflection"):
            result += f"; reflection: {item['reflection']}"
        lines.append(f"- {item.get('action')} ({result})")
    return "\n".join(lines) or "(nothing yet)"


def context(
    state: State, params: ModuleParams, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Every placeholder a module's prompt may use, as text."""
    page = page_of(state)
    gathered = state.get("observation") or {}
    relevant = set(gathered.get("relevant") or []) if params.marks else set()
    lines = [("* " if e.ref in relevant else "  ") + e.line() for e in page.elements]
    values = gathered.get("values") or []
    reflection = state.get("reflection") or {}
    return {
        "goal": page.goal or state.get("goal") or "",
        "elements": "\n".join(lines) or "(no elements)",
        "changes": "\n".join(state.get("changes") or []) or "(nothing changed)",
        "values": ", ".join(f'"{v}"' for v in values) or "(none)",
        "subtask": state.get("subtask") or "(not set)",
        "history": recent(state, params.memory),
        "last_error": state.get("action_error") or "none",
        "reflection": (f"{'worked' if reflection.get('success') else 'did not work'}: "
                       f"{reflection.get('reason', '')}") if reflection else "(first step)",
        **(extra or {}),
    }  # fmt: skip


def ask(
    env: NodeEnv,
    params: ModuleParams,
    template: PromptTemplate,
    state: State,
    constraint: Constraint,
    extra: Mapping[str, Any] | None = None,
) -> Result:
    assert env.model is not None
    messages = render(env, template, context(state, params, extra))
    return env.model.complete(
        messages, constraint, max_tokens=params.max_tokens, temperature=params.temperature
    )
