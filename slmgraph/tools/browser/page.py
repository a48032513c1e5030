"""A page as the operator reads it: the task's instruction and its elements with stable refs.

``flatten`` turns MiniWoB's ``core.getDOMInfo()`` tree into a list of elements a small model
can read one per line — interactive elements (inputs, buttons, links, lists) and elements with
text of their own — each with the ``ref`` the page gave it (stable for the episode, so an
action names an element by it). Text the page splits into pseudo-elements (tag ``t``, negative
refs, not clickable) goes to its parent; an input without text of its own is named by its label
or the text beside it. ``changes`` says what differs between two pages.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

INTERACTIVE = ("button", "a", "select", "textarea", "label")
SKIP = {"body", "html", "script", "style"}


@dataclass(frozen=True)
class Element:
    ref: int
    tag: str  # lower case; inputs as input_<type> (input_text, input_checkbox, ...)
    text: str = ""
    value: str | bool | None = None
    id: str = ""
    focused: bool = False
    options: tuple[str, ...] = ()
    classes: str = ""

    @property
    def interactive(self) -> bool:
        return self.tag.startswith("input_") or self.tag in INTERACTIVE

    def line(self, width: int = 60) -> str:
        """One line: ``[12] button "Submit"``, ``[5] input_text #username value=""``."""
        parts = [f"[{self.ref}]", self.tag]
        if self.id:
            parts.append(f"#{self.id}")
        elif self.classes and not self.text:  # an icon: its class is its only name
            parts.append("." + ".".join(self.classes.split()[:3]))
        if self.text:
            text = self.text if len(self.text) <= width else self.text[: width - 1] + "…"
            parts.append(f'"{text}"')
        if isinstance(self.value, bool):
            parts.append("checked" if self.value else "unchecked")
        elif self.value is not None:
            parts.append(f'value="{self.value[:width]}"')
        if self.options:
            parts.append("options: " + " | ".join(o[:30] for o in self.options[:12]))
        if self.focused:
            parts.append("(focused)")
        return " ".join(parts)


@dataclass(frozen=True)
class Page:
    goal: str
    elements: list[Element] = field(default_factory=list)
    done: bool = False
    reward: float = 0.0

    def refs(self) -> list[int]:
        return [e.ref for e in self.elements]

    def get(self, ref: int) -> Element | None:
        return next((e for e in self.elements if e.ref == ref), None)

    def lines(self, limit: int = 50) -> str:
        return "\n".join(e.line() for e in self.elements[:limit]) or "(no elements)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "goal": self.goal,
            "done": self.done,
            "reward": self.reward,
            "elements": [_compact(e) for e in self.elements],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Page:
        elements = [
            Element(**{**e, "options": tuple(e.get("options") or ())})
            for e in data.get("elements") or []
        ]
        return cls(str(data.get("goal") or ""), elements, bool(data.get("done")),
                   float(data.get("reward") or 0.0))  # fmt: skip


def _compact(e: Element) -> dict[str, Any]:
    """The element's fields that say something (an empty value and unchecked do)."""
    return {k: v for k, v in asdict(e).items()
            if (k == "value" and v is not None) or v not in ("", None, False, ())}  # fmt: skip


def _text_of(node: dict[str, Any]) -> str:
    own = str(node.get("text") or "").strip()
    if own:
        return own
    pieces = [str(c.get("text") or "").strip() for c in node.get("children") or []
              if c.get("tag") == "t"]  # fmt: skip
    return " ".join(p for p in pieces if p)


def flatten(
    root: dict[str, Any] | None, selects: dict[int, list[str]] | None = None, limit: int = 80
) -> list[Element]:
    """The page's elements in document order (see the module docstring)."""
    out: list[Element] = []
    selects = selects or {}

    def visit(node: dict[str, Any], parent_text: str, sibling_text: str) -> None:
        tag = str(node.get("tag") or "").lower()
        ref = int(node.get("ref") or 0)
        if tag == "t" or (tag in SKIP and tag != "body"):
            return
        children = list(node.get("children") or [])
        text = _text_of(node)
        value = node.get("value")
        name = text
        if tag.startswith("input_") and not name:
            name = parent_text or sibling_text
        element = Element(
            ref=ref,
            tag=tag,
            text=name,
            value=value if isinstance(value, bool) else None if value is None else str(value),
            id=str(node.get("id") or ""),
            focused=bool(node.get("focused")),
            options=tuple(str(o) for o in selects.get(ref, ())),
            classes=str(node.get("classes") or "") if isinstance(node.get("classes"), str) else "",
        )
        leaf = not any(c.get("tag") != "t" for c in children)
        named = text or (element.classes and not children)  # text, or an icon
        if ref > 0 and tag != "body" and (element.interactive or (named and leaf)):
            out.append(element)
        previous = ""
        for child in children:
            if child.get("tag") == "t":
                previous = str(child.get("text") or "").strip() or previous
                continue
            visit(child, text if tag == "label" else "", previous)
            previous = _text_of(child) or previous

    if root:
        visit(root, "", "")
    interactive = [e for e in out if e.interactive]
    if len(out) > limit:  # keep every interactive element, then text, in document order
        keep = {e.ref for e in interactive[:limit]}
        room = limit - len(keep)
        for e in out:
            if room <= 0:
                break
            if e.ref not in keep:
                keep.add(e.ref)
                room -= 1
        out = [e for e in out if e.ref in keep]
    return out


def changes(before: Page | None, after: Page, limit: int = 8) -> list[str]:
    """What differs: ``+`` new elements, ``-`` gone, ``~`` changed (value, text, focus)."""
    if before is None:
        return []
    old = {e.ref: e.line() for e in before.elements}
    new = {e.ref: e.line() for e in after.elements}
    out = [f"+ {line}" for ref, line in new.items() if ref not in old]
    out += [f"~ {line}" for ref, line in new.items() if ref in old and old[ref] != line]
    out += [f"- {line}" for ref, line in old.items() if ref not in new]
    if before.goal != after.goal:
        out.insert(0, f"the instruction is now: {after.goal}")
    return out[:limit] + ([f"... and {len(out) - limit} more"] if len(out) > limit else [])


__all__ = ["Element", "Page", "changes", "flatten"]
