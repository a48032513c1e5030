"""Prompt templates are package data, never prose inside nodes: one folder per domain
(``prompts/sql/``, ``prompts/triage/``; a plug-in registers its own folder under a namespace).

A prompt file is YAML with ``system`` and ``user`` templates; ``{name}`` placeholders are filled
from the graph state or by the agent (``{{`` and ``}}`` for literal braces). A spec names a
prompt as ``namespace/name`` (``sql/write``, ``triage/classify``), or gives a file path relative
to itself, or the templates inline.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from slmgraph import registry, yamlfile
from slmgraph._suggest import did_you_mean
from slmgraph.errors import SpecError
from slmgraph.models.base import Message


class PromptError(ValueError):
    """A prompt file or template that cannot be used (the message says why)."""


def template_fields(text: str) -> list[str]:
    """The placeholder names of a format template, in order; PromptError for a template that
    would fail when rendered (unbalanced braces, positional or dotted fields, conversions)."""
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise PromptError(
            f"malformed template: {exc} (write {{{{ and }}}} for literal braces)"
        ) from None
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if field == "" or field.isdigit():
            raise PromptError("positional placeholder {} in a template: name it, e.g. {question}")
        if not field.isidentifier():
            raise PromptError(
                f"placeholder {{{field}}}: use a plain state key name ({{name}}), no attributes "
                "or indexes"
            )
        if conversion not in (None, "r", "s", "a"):
            raise PromptError(
                f"placeholder {{{field}!{conversion}}}: the conversion must be !r, !s or !a"
            )
        if spec and ("{" in spec or "}" in spec):
            raise PromptError(
                f"placeholder {{{field}:{spec}}}: nested placeholders are not supported"
            )
        if field not in names:
            names.append(field)
    return names


@dataclass(frozen=True)
class PromptTemplate:
    system: str | None
    user: str
    source: str

    def placeholders(self) -> list[str]:
        names: list[str] = []
        for text in (self.system or "", self.user):
            for name in template_fields(text):
                if name not in names:
                    names.append(name)
        return names

    def render(self, values: dict[str, Any]) -> list[Message]:
        messages: list[Message] = []
        if self.system:
            messages.append({"role": "system", "content": self.system.format_map(values)})
        messages.append({"role": "user", "content": self.user.format_map(values)})
        return messages


def builtin_prompts() -> list[str]:
    """Every built-in prompt name (``namespace/name``) of the loaded plug-ins."""
    out = []
    for namespace, folder in sorted(registry.PROMPTS.items()):
        node = _folder(folder)
        if node is None:
            continue
        out += [f"{namespace}/{p.name[:-5]}" for p in node.iterdir() if p.name.endswith(".yaml")]
    return sorted(out)


def _folder(ref: str) -> Any:
    package, _, rel = ref.partition("/")
    try:
        node = resources.files(package)
    except ModuleNotFoundError:
        return None
    for part in filter(None, rel.split("/")):
        node = node.joinpath(part)
    return node if node.is_dir() else None


def _is_path(name: str) -> bool:
    return name.endswith((".yaml", ".yml")) or name.startswith(("/", ".", "~"))


def load_prompt(name: str, base_dir: Path | None = None) -> PromptTemplate:
    """Load a prompt by built-in name (``triage/classify``) or by path (relative to the spec).

    Raises FileNotFoundError (no such prompt) or :class:`PromptError` (a file that is not a
    usable prompt)."""
    if _is_path(name):
        try:
            path = Path(name).expanduser()
        except RuntimeError:  # ~nosuchuser
            path = Path(name)
        candidates = [path] if path.is_absolute() else ([base_dir / path] if base_dir else [])
        candidates.append(path)
        for cand in candidates:
            try:
                if cand.is_file():
                    return _parse(cand.read_bytes(), str(cand))
                if cand.exists():
                    raise PromptError(f"prompt {name!r} is a folder, not a YAML file")
            except (OSError, ValueError) as exc:
                if isinstance(exc, PromptError):
                    raise
                raise PromptError(f"cannot read prompt {name!r}: {exc}") from None
        raise FileNotFoundError(name)
    namespace, _, stem = name.rpartition("/")
    folder = _folder(registry.PROMPTS[namespace]) if namespace in registry.PROMPTS else None
    if folder is not None and stem:
        node = folder.joinpath(f"{stem}.yaml")
        if node.is_file():
            return _parse(node.read_bytes(), f"{registry.PROMPTS[namespace]}/{stem}.yaml")
    raise FileNotFoundError(name)


def prompt_hint(name: str) -> str:
    """ "Did you mean …?" for a prompt name that was not found."""
    known = builtin_prompts()
    if "/" not in name and "_" in name:  # the names before prompts had folders: sql_write
        candidate = name.replace("_", "/", 1)
        if candidate in known:
            return f"Did you mean {candidate!r}? (built-in prompts are named namespace/name)"
    return did_you_mean(name, known, "built-in prompts")


def _parse(raw: bytes, source: str) -> PromptTemplate:
    try:
        data = yamlfile.parse_bytes(raw, source).data
    except SpecError as exc:
        raise PromptError(str(exc)) from None
    if not isinstance(data, dict) or "user" not in data:
        raise PromptError(f"prompt file {source} needs a 'user' template (and may have 'system')")
    system, user = data.get("system"), data["user"]
    for key, value in (("system", system), ("user", user)):
        if value is not None and not isinstance(value, str):
            raise PromptError(
                f"prompt file {source}: {key!r} must be text, not {type(value).__name__}"
            )
    unknown = sorted(str(k) for k in data if k not in ("system", "user", "description"))
    if unknown:
        raise PromptError(
            f"prompt file {source}: unknown keys {unknown} (system, user, description)"
        )
    template = PromptTemplate(system=system, user=str(user), source=source)
    try:
        template.placeholders()
    except PromptError as exc:
        raise PromptError(f"prompt file {source}: {exc}") from None
    return template


__all__ = [
    "PromptError",
    "PromptTemplate",
    "builtin_prompts",
    "load_prompt",
    "prompt_hint",
    "template_fields",
]
