"""The operator's actions, the grammar that admits only actions on the page's own elements,
and their execution in the browser.

An action is one line of text, as a small model writes a function call::

    click(12)   type(5, "hello")   select(3, "Option A")   press("Enter")
    skill("login-user/1")   done()

The grammar (a regular expression, which every backend takes: llama.cpp compiles it to GBNF,
vLLM takes it as ``structured_outputs.regex``) is built from the current page: a ``ref`` is an
enumeration of that page's refs (``type`` only those one can type into, ``select`` only lists,
each with its own options), ``press`` a fixed set of keys, ``skill`` the names retrieved for
this step. A decoded action can therefore only name an element that is there; the page may
still refuse it (hidden, covered, gone by the time it runs), and that is reported back to the
graph, not raised.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from slmgraph.constraints.base import Constraint
from slmgraph.tools.browser.miniwob import KEYS, MiniWoB
from slmgraph.tools.browser.page import Element, Page

Op = Literal["click", "type", "select", "press", "skill", "done"]
NOT_TYPABLE = ("checkbox", "radio", "button", "submit", "reset", "image", "file", "range",
               "color")  # fmt: skip
TEXT_MAX = 60
_PARSE = re.compile(r"^(?P<op>click|type|select|press|skill|done)\((?P<args>.*)\)$")


@dataclass(frozen=True)
class Action:
    op: Op
    ref: int | None = None
    text: str | None = None  # the text to type, the option, the key or the skill's name

    def __str__(self) -> str:
        if self.op == "done":
            return "done()"
        if self.op in ("press", "skill"):
            return f"{self.op}({json.dumps(self.text)})"
        if self.op == "click":
            return f"click({self.ref})"
        return f"{self.op}({self.ref}, {json.dumps(self.text, ensure_ascii=False)})"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in (("op", self.op), ("ref", self.ref), ("text", self.text))
                if v is not None}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Action:
        return cls(data["op"], data.get("ref"), data.get("text"))


def typable(element: Element) -> bool:
    if element.tag == "textarea":
        return True
    return element.tag.startswith("input_") and element.tag[6:] not in NOT_TYPABLE


def _alts(items: Sequence[str]) -> str:
    return "(" + "|".join(items) + ")"


def _quoted(text: str) -> str:
    """The regex for ``text`` as the parser reads it: a JSON string literal."""
    return re.escape(json.dumps(text, ensure_ascii=False))


def grammar(
    page: Page,
    skills: Sequence[str] = (),
    allow_done: bool = True,
    texts: Sequence[str] = (),
    exclude: Action | None = None,
) -> Constraint:
    """Only actions on ``page``'s elements (see the module docstring). With ``texts``, what
    ``type`` may write is one of them (the values the instruction names), not any text. With
    ``exclude``, not that action (the one that just took effect: repeating it is a loop); where
    ``type`` takes free text, excluding a ``type`` drops its field, since a regular expression
    of "any text but this one" is not worth its size."""
    ex = exclude if exclude is not None and exclude.op != "done" else None
    branches: list[str] = []
    refs = [str(e.ref) for e in page.elements
            if not (ex and ex.op == "click" and ex.ref == e.ref)]  # fmt: skip
    if refs:
        branches.append(r"click\(" + _alts(refs) + r"\)")
    free = '"(?:[^"\\\\\\n]|\\\\["\\\\])' + "{1," + str(TEXT_MAX) + '}"'
    allowed = [t[:TEXT_MAX] for t in dict.fromkeys(texts) if t]
    for e in page.elements:
        if not typable(e):
            continue
        here = allowed
        if ex and ex.op == "type" and ex.ref == e.ref:
            if not allowed:
                continue
            here = [t for t in allowed if t != ex.text]
        if allowed and not here:
            continue
        text = _alts([_quoted(t) for t in here]) if here else free
        branches.append(rf"type\({e.ref}, " + text + r"\)")
    for e in page.elements:
        if e.tag == "select" and e.options:
            same = ex is not None and ex.op == "select" and ex.ref == e.ref
            options = [_quoted(o) for o in e.options if not (same and ex and ex.text == o)]
            if options:
                branches.append(rf"select\({e.ref}, " + _alts(options) + r"\)")
    keys = [k for k in KEYS if not (ex and ex.op == "press" and ex.text == k)]
    branches.append(r"press\(" + _alts([_quoted(k) for k in keys]) + r"\)")
    if skills:
        branches.append(r"skill\(" + _alts([_quoted(s) for s in skills]) + r"\)")
    if allow_done:
        branches.append(r"done\(\)")
    return Constraint.pattern(_alts(branches))


def parse(text: str) -> Action:
    """An action from its text; ``ValueError`` when it is not one."""
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    m = _PARSE.match(line)
    args: list[Any] = []
    if m and m.group("args").strip():
        try:
            args = json.loads("[" + m.group("args") + "]")
        except json.JSONDecodeError:
            m = None
    if not m:
        raise ValueError(f"not an action: {line[:80]!r}")
    op = cast(Op, m.group("op"))
    kinds = [type(a) for a in args]
    if op == "done" and not args:
        return Action("done")
    if op in ("press", "skill") and kinds == [str]:
        return Action(op, text=args[0])
    if op == "click" and kinds == [int]:
        return Action("click", args[0])
    if op in ("type", "select") and kinds == [int, str]:
        return Action(op, args[0], args[1])
    raise ValueError(f"wrong arguments for {op}(): {line[:80]!r}")


def execute(env: MiniWoB, action: Action, page: Page) -> str | None:
    """Run ``action`` (not a skill) in the browser; an error message when it cannot be done."""
    if action.op == "done":
        return None
    if action.op == "press":
        return env.press(str(action.text))
    assert action.ref is not None
    element = page.get(action.ref)
    if element is None:
        return f"there is no element [{action.ref}] on the page"
    if action.op == "click":
        return env.click(action.ref)
    if action.op == "type":
        if not typable(element):
            return f"[{action.ref}] ({element.tag}) is not a field to type into"
        return env.type(action.ref, str(action.text))
    if action.op == "select":
        return env.select(action.ref, str(action.text))
    return f"{action.op} is not a browser action"


__all__ = ["Action", "execute", "grammar", "parse", "typable"]
