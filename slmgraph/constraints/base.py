r"""A constraint names the *shape* of an output; backends compile it (GBNF, Lark, server fields).

Kinds:

- ``json_schema`` — a JSON Schema (the output must parse as JSON and validate);
- ``grammar`` — a grammar in GBNF (llama.cpp, vLLM) and/or Lark (outlines/llguidance);
- ``regex`` — the whole output matches the pattern (Python syntax; ``\d``, ``\w``, ``\s`` are
  the ASCII classes, as with ``re.ASCII``);
- ``choice`` — the output is exactly one of the strings.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from slmgraph.errors import ModelError

Kind = Literal["json_schema", "grammar", "regex", "choice"]


@dataclass(frozen=True)
class Constraint:
    kind: Kind
    json_schema: dict[str, Any] | None = None
    gbnf: str | None = None
    lark: str | None = None
    regex: str | None = None
    choices: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def json(cls, schema: dict[str, Any]) -> Constraint:
        return cls("json_schema", json_schema=schema)

    @classmethod
    def grammar(cls, gbnf: str | None = None, lark: str | None = None) -> Constraint:
        if gbnf is None and lark is None:
            raise ValueError("a grammar constraint needs gbnf or lark text")
        return cls("grammar", gbnf=gbnf, lark=lark)

    @classmethod
    def pattern(cls, regex: str) -> Constraint:
        re.compile(regex)
        return cls("regex", regex=regex)

    @classmethod
    def choice(cls, choices: list[str] | tuple[str, ...]) -> Constraint:
        if not choices:
            raise ValueError("a choice constraint needs at least one option")
        return cls("choice", choices=tuple(choices))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Constraint:
        """The inverse of :meth:`to_dict` (a constraint as stored in the call log)."""
        if "json_schema" in data:
            return cls.json(dict(data["json_schema"]))
        if "grammar" in data:
            return cls.grammar(data["grammar"].get("gbnf"), data["grammar"].get("lark"))
        if "regex" in data:
            return cls.pattern(str(data["regex"]))
        if "choice" in data:
            return cls.choice(list(data["choice"]))
        raise ValueError(f"not a logged constraint: {sorted(data)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, as stored in the call log."""
        if self.kind == "json_schema":
            return {"json_schema": self.json_schema}
        if self.kind == "grammar":
            return {"grammar": {k: v for k, v in (("gbnf", self.gbnf), ("lark", self.lark)) if v}}
        if self.kind == "regex":
            return {"regex": self.regex}
        return {"choice": list(self.choices)}


class GrammarText(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gbnf: str | None = None
    lark: str | None = None


class ConstraintSpec(BaseModel):
    """The YAML form of a constraint: exactly one of the keys."""

    model_config = ConfigDict(extra="forbid")
    json_schema: dict[str, Any] | None = None
    grammar: GrammarText | str | None = Field(None, description="GBNF text, or {gbnf, lark}")
    regex: str | None = None
    choice: list[str] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ConstraintSpec:
        given = [k for k in ("json_schema", "grammar", "regex", "choice") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("a constraint has exactly one of json_schema, grammar, regex, choice")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"invalid regex: {exc}") from None
        if self.json_schema is not None:
            from jsonschema import Draft202012Validator
            from jsonschema.exceptions import SchemaError

            try:
                Draft202012Validator.check_schema(self.json_schema)
            except SchemaError as exc:
                raise ValueError(f"invalid JSON schema: {exc.message}") from None
        return self

    def build(self) -> Constraint:
        if self.json_schema is not None:
            return Constraint.json(self.json_schema)
        if self.regex is not None:
            return Constraint.pattern(self.regex)
        if self.choice is not None:
            return Constraint.choice(self.choice)
        g = self.grammar
        if isinstance(g, str):
            return Constraint.grammar(gbnf=g)
        assert g is not None  # guaranteed by _exactly_one
        return Constraint.grammar(gbnf=g.gbnf, lark=g.lark)


def check_output(text: str, constraint: Constraint | None) -> Any:
    """Check ``text`` against ``constraint`` and return the parsed value (JSON for json_schema).

    Raises ``ModelError(kind="invalid_output")`` — retryable, so a fallback tier gets a turn.
    Grammar outputs are not re-parsed here (the grammar is the check).
    """
    if constraint is None or constraint.kind == "grammar":
        return text
    if constraint.kind == "json_schema":
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelError(
                f"output is not valid JSON: {exc}", kind="invalid_output", output=text
            ) from None
        from jsonschema import Draft202012Validator

        errors = sorted(
            Draft202012Validator(constraint.json_schema or {}).iter_errors(value),
            key=lambda e: list(e.path),
        )
        if errors:
            first = errors[0]
            where = "/".join(str(p) for p in first.path) or "(root)"
            raise ModelError(
                f"output does not match the JSON schema at {where}: {first.message}",
                kind="invalid_output",
                output=text,
            )
        return value
    if constraint.kind == "regex":
        # ASCII classes, as the grammar compilers use them (\d = [0-9], \s = [ \t\n\r\f\v]).
        if re.fullmatch(constraint.regex or "", text, re.ASCII) is None:
            pattern = constraint.regex or ""
            shown = pattern if len(pattern) <= 80 else pattern[:77] + "..."
            first = text.strip().splitlines()[0][:60] if text.strip() else "(empty)"
            raise ModelError(
                f"output does not match /{shown}/ (it starts {first!r})",
                kind="invalid_output",
                output=text,
            )
        return text
    stripped = text.strip()
    if stripped not in constraint.choices:
        raise ModelError(
            f"output {stripped[:60]!r} is not one of {list(constraint.choices)}",
            kind="invalid_output",
            output=text,
        )
    return stripped
