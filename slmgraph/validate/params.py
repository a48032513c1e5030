"""Params of an agent, tool, router or backend against its pydantic model, as SpecIssues."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from slmgraph import plugins
from slmgraph._suggest import did_you_mean
from slmgraph.errors import SpecIssue
from slmgraph.registry import Impl, UndeclaredImport


def params_issues(
    model: type[BaseModel],
    params: dict[str, Any],
    path: str,
    context: dict[str, Any] | None = None,
) -> list[SpecIssue]:
    """Validate ``params`` against ``model``; issues carry ``path`` + the pydantic location."""
    try:
        model.model_validate(params, context=context)
    except ValidationError as exc:
        out = []
        for err in exc.errors(include_url=False):
            loc = ".".join(str(x) for x in err["loc"])
            where = f"{path}.{loc}" if loc else path
            if err["type"] == "extra_forbidden":
                key = str(err["loc"][-1])
                names = list(model.model_fields)
                out.append(
                    SpecIssue(
                        where, f"Unknown parameter {key!r}", did_you_mean(key, names, "parameters")
                    )
                )
            elif err["type"] == "missing":
                out.append(SpecIssue(where, f"Missing required parameter {str(err['loc'][-1])!r}"))
            else:
                msg = str(err["msg"]).removeprefix("Value error, ")
                out.append(SpecIssue(where, msg[:1].upper() + msg[1:]))
        return out
    except RecursionError:
        return [SpecIssue(path, "The parameters nest too deeply")]
    return []


def impl(
    kind: str,
    name: str,
    path: str,
    imports: Sequence[str],
    extra_known: Sequence[str] = (),
) -> tuple[Impl | None, list[SpecIssue]]:
    """The implementation a spec names, or why it cannot be had (never importing a module the
    spec did not declare)."""
    try:
        return plugins.lookup(kind, name, imports), []
    except KeyError:
        names = [*plugins.known(kind), *extra_known]
        hint = did_you_mean(name, names, f"{kind}s")
        if "." in name and ":" not in name:
            hint += f" ({name.split('.')[0]!r} looks like a plug-in's namespace.)"
        return None, [SpecIssue(path, f"Unknown {kind} {name!r}", hint + plugins.unknown_hint())]
    except UndeclaredImport as exc:
        return None, [
            SpecIssue(
                path,
                f"{kind.capitalize()} {name!r} imports module {exc.module!r}, which the spec "
                "does not declare",
                f"Add `imports: [{exc.module}]` at the top of the spec if you trust that module "
                "(validation imports nothing else).",
            )
        ]
    except Exception as exc:  # a declared module failed to import (ImportError, its own bug)
        return None, [
            SpecIssue(
                path,
                f"Cannot import {kind} {name!r}: {type(exc).__name__}: {exc}",
                "Use 'package.module:attribute' with an importable module.",
            )
        ]
