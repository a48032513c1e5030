"""The error types of slmgraph.

Three kinds, kept apart on purpose (see STYLE.md):

- :class:`SpecError` — a usage error found while loading or validating a spec, *before* anything
  runs. It carries one or more :class:`SpecIssue` s, each naming the YAML path of the offender and,
  where a name is unknown, the closest known name.
- :class:`ModelError` — a model call failed. Normalised across backends into a few kinds and tagged
  ``retryable`` so the fallback wrapper can decide whether the next tier should try.
- :class:`RunError` — a run could not complete (a router produced a label with no target, a tool
  raised). Runs end in a defined state rather than with a traceback from inside LangGraph.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal


class SlmgraphError(Exception):
    """Base class of every error slmgraph raises on purpose."""


@dataclass(frozen=True)
class SpecIssue:
    """One problem in a spec: where it is (a dotted YAML path), what is wrong, how to fix it."""

    path: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        text = f"{self.message}{where}."
        if self.hint:
            text += f" {self.hint}"
        return text


class SpecError(SlmgraphError, ValueError):
    """A spec is invalid. ``issues`` lists every problem found, each with its YAML path.

    ``source`` names the file (or ``<string>``) the spec came from.
    """

    def __init__(self, issues: Sequence[SpecIssue], source: str | None = None) -> None:
        self.issues: tuple[SpecIssue, ...] = tuple(issues)
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        head = f"Invalid spec {self.source}" if self.source else "Invalid spec"
        if len(self.issues) == 1:
            return f"{head}: {self.issues[0]}"
        lines = [f"{head}: {len(self.issues)} problems"]
        lines += [f"  - {issue}" for issue in self.issues]
        return "\n".join(lines)

    @property
    def paths(self) -> list[str]:
        return [i.path for i in self.issues]

    @classmethod
    def single(
        cls, path: str, message: str, hint: str | None = None, source: str | None = None
    ) -> SpecError:
        return cls([SpecIssue(path, message, hint)], source)


ErrorKind = Literal[
    "timeout", "connection", "server", "invalid_output", "config", "unsupported", "cancelled"
]

#: Kinds for which trying again (on the same or the next tier) can help.
RETRYABLE_KINDS: frozenset[str] = frozenset({"timeout", "connection", "server", "invalid_output"})


class ModelError(SlmgraphError):
    """A model call failed. ``kind`` is normalised across backends; ``retryable`` tells the
    fallback wrapper whether another attempt (or the next tier) may succeed."""

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind,
        retryable: bool | None = None,
        backend: str | None = None,
        model: str | None = None,
        output: str | None = None,
        tokens: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.retryable = kind in RETRYABLE_KINDS if retryable is None else retryable
        self.backend = backend
        self.model = model
        self.output = output
        #: (input, output) tokens the failed call spent, where the backend knows them: a call
        #: that ran to max_tokens cost as much as one that succeeded.
        self.tokens = tokens

    def __str__(self) -> str:
        who = "/".join(x for x in (self.backend, self.model) if x)
        prefix = f"[{self.kind}{' ' + who if who else ''}] "
        return prefix + super().__str__()


class AllTiersFailed(ModelError):
    """Every tier of a fallback chain failed; ``errors`` holds each tier's error in order."""

    def __init__(self, errors: Iterable[tuple[str, ModelError]]) -> None:
        self.errors = list(errors)
        detail = "; ".join(f"{tier}: {err}" for tier, err in self.errors)
        last = self.errors[-1][1] if self.errors else None
        super().__init__(
            f"all tiers failed ({detail})",
            kind=last.kind if last else "server",
            retryable=False,
        )


class RunError(SlmgraphError):
    """A run stopped in a defined failure state (the message says which node and why)."""

    def __init__(self, message: str, *, node: str | None = None) -> None:
        super().__init__(message)
        self.node = node
