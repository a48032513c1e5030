"""Skills: named, parameterised action sequences that succeeded before, kept in SQLite across
episodes and runs (Cradle's skill curation, for text observations).

A skill is stored from a successful episode. Its *template* is the instruction with every value
the episode used (a typed text, the text of a clicked element, an option) that appears in the
instruction replaced by a slot: ``Enter "Kasey" into the text field`` becomes ``Enter "{0}" into
the text field``; a value typed in another case than the instruction's (``Type "JERALD" in lower
case``) is that slot with a transform, ``{0:lower}``. Its *steps* name elements by what is
stable across episodes — tag and id, else tag and text (a slot where the text was a value) —
never by ref, since refs change with every page. A skill applies to an instruction its template
matches; the match binds the slots. Running it resolves each step on the page as it is then; a
step that finds no element stops the skill with a message for the reflection, not a crash."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slmgraph.tools.browser.actions import Action
from slmgraph.tools.browser.page import Element, Page

_SLOT = re.compile(r"\{(\d+)\}")  # a slot of a template
_FILL = re.compile(r"\{(\d+)(?::(lower|upper))?\}")  # a slot of a step, maybe transformed


@dataclass(frozen=True)
class Skill:
    name: str
    task: str
    template: str
    steps: list[dict[str, Any]]
    successes: int = 0
    failures: int = 0

    def bind(self, goal: str) -> list[str] | None:
        """The slot values when ``goal`` matches the template, else None."""
        parts = _SLOT.split(self.template)
        pattern = "".join(re.escape(p) if i % 2 == 0 else f"(?P<s{p}_{i}>.+?)"
                          for i, p in enumerate(parts))  # fmt: skip
        m = re.fullmatch(pattern, goal.strip(), re.S)
        if not m:
            return None
        values: dict[int, str] = {}
        for key, value in m.groupdict().items():
            slot = int(key[1:].split("_")[0])
            if values.setdefault(slot, value) != value:  # one slot, two different values
                return None
        return [values[i] for i in sorted(values)]

    def describe(self) -> str:
        steps = "; ".join(_describe(s) for s in self.steps)
        return f'skill("{self.name}"): {steps} (succeeded {self.successes}x)'


def _describe(step: dict[str, Any]) -> str:
    target = step.get("target") or {}
    what = target.get("tag", "")
    if target.get("id"):
        what += f"#{target['id']}"
    if target.get("text"):
        what += f' "{target["text"]}"'
    if step["op"] == "press":
        return f"press {step.get('text')}"
    if step["op"] in ("type", "select"):
        return f'{step["op"]} "{step.get("text")}" into {what}'
    return f"click {what}"


def _slot(text: str, values: list[str]) -> str:
    """``text`` as the slot of the value it is (``{0}``), or of the value it is in lower or
    upper case (``{0:lower}``); else ``text`` as it is."""
    for i, value in sorted(enumerate(values), key=lambda p: -len(p[1])):
        if value and value == text:
            return "{" + str(i) + "}"
    for i, value in sorted(enumerate(values), key=lambda p: -len(p[1])):
        for case in ("lower", "upper"):
            if value and text != value and getattr(value, case)() == text:
                return "{" + f"{i}:{case}" + "}"
    return text


def _named(text: str, goal: str) -> str | None:
    """``text`` as the instruction writes it: itself, or the instruction's same word in
    another case (a task that asks for a value in lower case names it in upper)."""
    if text in goal:
        return text
    m = re.search(rf"(?<!\w){re.escape(text)}(?!\w)", goal, re.I)
    return m.group(0) if m and text in (m.group(0).lower(), m.group(0).upper()) else None


def learn(task: str, goal: str, steps: Sequence[tuple[Action, Element | None]]) -> Skill | None:
    """A skill from a successful episode's actions (with the element each acted on)."""
    values: list[str] = []
    for action, element in steps:
        for text in (
            action.text if action.op in ("type", "select") else None,
            element.text if element is not None and action.op == "click" else None,
        ):
            named = _named(text, goal) if text and len(text) >= 2 else None
            if named and named not in values:
                values.append(named)
    template = goal
    for i, value in sorted(enumerate(values), key=lambda p: -len(p[1])):
        template = template.replace(value, "{" + str(i) + "}")
    out: list[dict[str, Any]] = []
    for action, element in steps:
        if action.op in ("done", "skill"):
            continue
        step: dict[str, Any] = {"op": action.op}
        if action.op in ("type", "select", "press"):
            step["text"] = _slot(str(action.text), values) if action.op != "press" else action.text
        if action.op != "press":
            if element is None:
                return None
            target: dict[str, Any] = {"tag": element.tag}
            if element.id:
                target["id"] = element.id
            elif element.text:
                target["text"] = _slot(element.text, values)
            step["target"] = target
        out.append(step)
    if not out:
        return None
    digest = hashlib.sha1(json.dumps([template, out], sort_keys=True).encode()).hexdigest()
    name = f"{task}/{digest[:6]}"
    return Skill(name, task, template, out)


def resolve(step: dict[str, Any], values: list[str], page: Page) -> Action | str:
    """The action for ``step`` on ``page`` with the slots bound, or why it cannot be found."""

    def value(m: re.Match[str]) -> str:
        i, case = int(m.group(1)), m.group(2)
        if i >= len(values):
            return m.group(0)
        return values[i].lower() if case == "lower" else values[i].upper() if case else values[i]

    def fill(text: str) -> str:
        return _FILL.sub(value, text)

    if step["op"] == "press":
        return Action("press", text=str(step.get("text")))
    target = step.get("target") or {}
    candidates = [e for e in page.elements if e.tag == target.get("tag")]
    if target.get("id"):
        candidates = [e for e in candidates if e.id == target["id"]]
    if target.get("text"):
        want = fill(str(target["text"]))
        candidates = [e for e in candidates if e.text == want]
    if not candidates:
        return f"no {_describe({'op': 'click', 'target': target})} on the page"
    text = fill(str(step["text"])) if "text" in step else None
    return Action(step["op"], candidates[0].ref, text)


class SkillStore:
    """Skills in a SQLite file (``:memory:`` for one process); safe across threads."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS skills (name TEXT PRIMARY KEY, task TEXT NOT NULL,"
            " template TEXT NOT NULL, steps TEXT NOT NULL, successes INTEGER DEFAULT 0,"
            " failures INTEGER DEFAULT 0, created REAL, updated REAL)"
        )
        self._db.commit()

    def retrieve(self, task: str, goal: str, k: int = 3) -> list[tuple[Skill, list[str]]]:
        """Up to ``k`` skills of ``task`` whose template matches ``goal``, with their slot
        values; the most reliable first (successes minus failures)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT name, task, template, steps, successes, failures FROM skills WHERE task=?"
                " ORDER BY successes - failures DESC, updated DESC",
                (task,),
            ).fetchall()
        out = []
        for row in rows:
            skill = Skill(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5])
            bound = skill.bind(goal)
            if bound is not None and skill.successes > skill.failures:  # more often right
                out.append((skill, bound))
        return out[:k]

    def get(self, name: str) -> Skill | None:
        with self._lock:
            row = self._db.execute(
                "SELECT name, task, template, steps, successes, failures FROM skills WHERE name=?",
                (name,),
            ).fetchone()
        return None if row is None else Skill(row[0], row[1], row[2], json.loads(row[3]),
                                              row[4], row[5])  # fmt: skip

    def add(self, skill: Skill) -> None:
        """Store ``skill`` (one success), or count one more success of the same skill."""
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO skills VALUES (?, ?, ?, ?, 1, 0, ?, ?) ON CONFLICT(name) DO UPDATE"
                " SET successes = successes + 1, updated = excluded.updated",
                (skill.name, skill.task, skill.template, json.dumps(skill.steps), now, now),
            )
            self._db.commit()

    def record(self, name: str, success: bool) -> None:
        column = "successes" if success else "failures"
        with self._lock:
            self._db.execute(
                f"UPDATE skills SET {column} = {column} + 1, updated = ? WHERE name = ?",
                (time.time(), name),
            )
            self._db.commit()

    def all(self) -> list[Skill]:
        with self._lock:
            rows = self._db.execute(
                "SELECT name, task, template, steps, successes, failures FROM skills ORDER BY name"
            ).fetchall()
        return [Skill(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def run_skill(
    skill: Skill,
    values: list[str],
    read: Callable[[], Page],
    act: Callable[[Action, Page], str | None],
) -> tuple[list[tuple[Action, Element | None]], str | None]:
    """Run ``skill``'s steps, each resolved on the page as it is then. The steps done (with
    their elements) and the first error, if any."""
    done: list[tuple[Action, Element | None]] = []
    for i, step in enumerate(skill.steps):
        page = read()
        if page.done:
            break
        action = resolve(step, values, page)
        if isinstance(action, str):
            return done, f"skill {skill.name}, step {i + 1}: {action}"
        element = page.get(action.ref) if action.ref is not None else None
        error = act(action, page)
        done.append((action, element))
        if error:
            return done, f"skill {skill.name}, step {i + 1}: {error}"
    return done, None


__all__ = ["Skill", "SkillStore", "learn", "resolve", "run_skill"]
