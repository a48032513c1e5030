"""Prompt templates are package data (``slmgraph/prompts/*.yaml``), never prose inside nodes.

A prompt file is YAML with ``system`` and ``user`` templates; ``{name}`` placeholders are filled
from the graph state (``{{`` and ``}}`` for literal braces). A spec may also name a prompt file
relative to itself, or give the templates inline.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from slmgraph.models.base import Message


@dataclass(frozen=True)
class PromptTemplate:
    system: str | None
    user: str
    source: str

    def placeholders(self) -> list[str]:
        names: list[str] = []
        for text in (self.system or "", self.user):
            for _, field, _, _ in string.Formatter().parse(text):
                if field is not None and field != "":
                    root = field.split(".")[0].split("[")[0]
                    if root not in names:
                        names.append(root)
        return names

    def render(self, values: dict[str, Any]) -> list[Message]:
        messages: list[Message] = []
        if self.system:
            messages.append({"role": "system", "content": self.system.format_map(values)})
        messages.append({"role": "user", "content": self.user.format_map(values)})
        return messages


def builtin_prompts() -> list[str]:
    folder = resources.files("slmgraph.prompts")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_prompt(name: str, base_dir: Path | None = None) -> PromptTemplate:
    """Load a prompt by built-in name (``triage_classify``) or by path (relative to the spec)."""
    candidates: list[Path] = []
    if name.endswith((".yaml", ".yml")) or "/" in name:
        path = Path(name)
        candidates = [path] if path.is_absolute() else ([base_dir / path] if base_dir else [])
        candidates.append(path)
    for cand in candidates:
        if cand.exists():
            return _parse(cand.read_text(encoding="utf-8"), str(cand))
    stem = name[:-5] if name.endswith(".yaml") else name
    res = resources.files("slmgraph.prompts") / f"{stem}.yaml"
    if res.is_file():
        return _parse(res.read_text(encoding="utf-8"), f"slmgraph/prompts/{stem}.yaml")
    raise FileNotFoundError(name)


def _parse(text: str, source: str) -> PromptTemplate:
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or "user" not in data:
        raise ValueError(f"prompt file {source} needs a 'user' template (and may have 'system')")
    return PromptTemplate(system=data.get("system"), user=str(data["user"]), source=source)
