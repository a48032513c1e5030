"""Loading a spec: YAML (read safely, :mod:`slmgraph.yamlfile`) -> pydantic models
(:mod:`slmgraph.spec`) -> whole-graph validation (:mod:`slmgraph.validate`).

Every problem on the way is a :class:`~slmgraph.errors.SpecError` whose issues name their YAML
path (with its line where the spec came from a file or a string) and, where a name is unknown,
the closest known one. Nothing a spec names is imported unless the spec lists its module under
``imports:``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ValidationError

from slmgraph import plugins, yamlfile
from slmgraph import spec as spec_module
from slmgraph._suggest import did_you_mean
from slmgraph.errors import SpecError, SpecIssue
from slmgraph.spec import GraphSpec, default_tiers
from slmgraph.validate import validate_spec

TIERS_ENV = "SLMGRAPH_TIERS"


def load_spec(
    source: str | Path | dict[str, Any],
    *,
    validate: bool = True,
    tier_overrides: dict[str, Any] | None = None,
) -> GraphSpec:
    """Load a spec from a YAML file path, a built-in graph's name, a YAML string or a dict, and
    validate the whole graph.

    ``tier_overrides`` (or the YAML file named by ``$SLMGRAPH_TIERS``) replaces tiers by name, so
    the same spec runs on scripted models in tests or on a server in production; a tiers file
    may list ``imports:`` of its own (for a ``langchain`` tier's chat model).

    Raises :class:`SpecError` listing every problem with its YAML path.
    """
    lines: dict[str, int] = {}
    if isinstance(source, dict):
        data: Any = source
        origin = "<dict>"
    else:
        parsed, origin = _read(source)
        data, lines = parsed.data, parsed.lines
    if not isinstance(data, dict):
        raise SpecError.single(
            "", "A spec must be a YAML mapping (name:, nodes:, edges: ...)", source=origin
        )
    data = dict(data)
    overrides, extra_imports = _overrides(tier_overrides)
    if overrides:
        base = data.get("tiers")
        data["tiers"] = {**(base if isinstance(base, dict) else {}), **overrides}
    if extra_imports:
        own = data.get("imports")
        data["imports"] = [*(own if isinstance(own, list) else []), *extra_imports]
    data.setdefault("tiers", {})
    if isinstance(data["tiers"], dict):
        data["tiers"] = dict(data["tiers"])
        for name, tier in default_tiers().items():
            data["tiers"].setdefault(name, tier)
    try:
        spec = GraphSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_with_lines(_issues_from_pydantic(exc), lines), origin) from None
    except RecursionError:
        raise SpecError.single(
            "", "The spec nests too deeply (or refers to itself)", source=origin
        ) from None
    spec.source = origin
    if validate:
        issues = validate_spec(spec)
        if issues:
            raise SpecError(_with_lines(issues, lines), origin)
    return spec


def _overrides(given: dict[str, Any] | None) -> tuple[dict[str, Any], list[Any]]:
    """Tiers that replace the spec's by name, and the imports their file declares."""
    if given:
        return dict(given), []
    env_file = os.environ.get(TIERS_ENV)
    if not env_file:
        return {}, []
    path = _path(env_file)
    parsed = yamlfile.parse_bytes(_read_file(path, f"${TIERS_ENV}"), str(path))
    data = parsed.data
    if not isinstance(data, dict):
        raise SpecError.single(
            "", f"${TIERS_ENV} must name a YAML mapping of tiers", source=str(path)
        )
    imports = data.get("imports") if "tiers" in data else None
    tiers = data.get("tiers", data) if "tiers" in data else data
    if not isinstance(tiers, dict):
        raise SpecError.single(
            "tiers", f"${TIERS_ENV}: `tiers:` must be a mapping", source=str(path)
        )
    return dict(tiers), list(imports) if isinstance(imports, list) else []


def _read_file(path: Path, what: str) -> bytes:
    try:
        with path.open("rb") as f:
            raw = f.read(yamlfile.MAX_BYTES + 1)
    except FileNotFoundError:
        raise SpecError.single("", f"{what}: no file at {str(path)!r}") from None
    except IsADirectoryError:
        raise SpecError.single("", f"{what}: {str(path)!r} is a folder, not a YAML file") from None
    except OSError as exc:
        raise SpecError.single(
            "", f"{what}: cannot read {str(path)!r}: {exc.strerror or exc}"
        ) from None
    return raw


def _looks_like_path(text: str) -> bool:
    if "\n" in text:
        return False
    if text.endswith((".yaml", ".yml")):
        return True
    try:
        return _path(text).is_file()  # a spec file of any name
    except (OSError, ValueError):  # a name the file system cannot hold
        return False


def _path(text: str | Path) -> Path:
    """``~`` expanded where it can be (``~nosuchuser`` stays as written)."""
    try:
        return Path(text).expanduser()
    except RuntimeError:
        return Path(text)


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def _is_dir(text: str) -> bool:
    try:
        return bool(text.strip()) and _path(text).is_dir()
    except (OSError, ValueError):
        return False


def _read(source: str | Path) -> tuple[yamlfile.Parsed, str]:
    """A spec's parsed YAML and its origin: a file, a built-in graph, or YAML text."""
    if isinstance(source, Path) or _looks_like_path(source):
        path = _path(source)
        if _exists(path):
            return yamlfile.parse_bytes(_read_file(path, "spec"), str(path)), str(path)
        builtin = plugins.builtin_graph_file(path.stem) if path.parent == Path(".") else None
        if builtin is None:
            raise SpecError.single(
                "",
                f"Spec file {str(path)!r} not found",
                "Give a path to a YAML file or a built-in graph name.",
            )
        return yamlfile.parse_bytes(builtin[0], builtin[1]), builtin[1]
    if "\n" not in source and ":" not in source:
        builtin = plugins.builtin_graph_file(source.strip())
        if builtin is not None:
            return yamlfile.parse_bytes(builtin[0], builtin[1]), builtin[1]
        shown = source if len(source) <= 120 else source[:120] + "…"
        if _is_dir(source):
            raise SpecError.single("", f"{shown!r} is a folder, not a spec file")
        raise SpecError.single(
            "",
            f"No spec file or built-in graph named {shown!r}",
            did_you_mean(source, plugins.builtin_graphs(), "built-in graphs")
            + plugins.unknown_hint(),
        )
    return yamlfile.parse(source, "<string>"), "<string>"


def _with_lines(issues: list[SpecIssue], lines: dict[str, int]) -> list[SpecIssue]:
    if not lines:
        return issues
    out = []
    for issue in issues:
        line = lines.get(issue.path)
        if line is None:
            # Fall back to the nearest enclosing path that has a line.
            parent = issue.path
            while parent and line is None:
                shorter = re.sub(r"(\.[^.\[]*|\[\d+\])$", "", parent)
                parent = "" if shorter == parent else shorter  # a single key: the root is next
                line = lines.get(parent)
        hint = issue.hint
        if line is not None and "(line " not in (hint or ""):
            hint = f"(line {line}){' ' + hint if hint else ''}"
        out.append(SpecIssue(issue.path, issue.message, hint))
    return out


# ---------------------------------------------------------------------------------------------
# pydantic errors -> SpecIssues with YAML paths


def _loc_to_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def _fields_at(loc: tuple[int | str, ...]) -> list[str]:
    """Field names (by alias) of the model found at ``loc`` in GraphSpec, for suggestions."""
    from typing import get_args, get_origin

    current: Any = GraphSpec
    for item in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            by_alias = {(f.alias or n): f for n, f in current.model_fields.items()}
            field = by_alias.get(str(item))
            if field is None:
                return []
            current = field.annotation
        else:
            # dict[str, X] / list[X] / X | None / Annotated: step into the value type.
            args = [a for a in get_args(current) if a is not type(None)]
            origin = get_origin(current)
            if origin is dict and len(args) == 2:
                current = args[1]
            elif origin is list and args:
                current = args[0]
            else:
                models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
                if not models:
                    return []
                current = models[0]
                # loc item was consumed by the union branch tag; try again on the model.
                by_alias = {(f.alias or n): f for n, f in current.model_fields.items()}
                if str(item) in by_alias:
                    current = by_alias[str(item)].annotation
        while True:
            args = [a for a in get_args(current) if a is not type(None)]
            if get_origin(current) is Annotated or (
                len(args) == 1 and get_origin(current) not in (dict, list)
            ):
                current = args[0]
            else:
                break
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [(f.alias or n) for n, f in current.model_fields.items() if n != "source"]
    models = [a for a in get_args(current) if isinstance(a, type) and issubclass(a, BaseModel)]
    if models:
        return [(f.alias or n) for n, f in models[0].model_fields.items()]
    return []


_TAG = re.compile(r"^[a-z][a-z-]*\[.*\]$")
_BASIC = frozenset({"str", "int", "float", "bool", "none", "any", "dict", "list"})


def _is_branch_tag(item: str) -> bool:
    """pydantic's name for one branch of a union (``literal['str', ...]``, ``StateField``), as
    opposed to a key the user wrote (``Answer``, ``strategy``)."""
    return bool(_TAG.match(item)) or item in _BASIC or item in _MODEL_NAMES


def _model_names() -> frozenset[str]:
    return frozenset(
        name
        for name, obj in vars(spec_module).items()
        if isinstance(obj, type) and issubclass(obj, BaseModel)
    )


_MODEL_NAMES = _model_names()


def _issues_from_pydantic(exc: ValidationError) -> list[SpecIssue]:
    issues: list[SpecIssue] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        # Unions report each branch; drop the branch tag ("StateField", "literal[...]").
        loc = tuple(x for x in loc if not (isinstance(x, str) and _is_branch_tag(x)))
        path = _loc_to_path(loc)
        etype = err["type"]
        if etype == "extra_forbidden":
            key = str(loc[-1])
            known = _fields_at(loc[:-1])
            issue = SpecIssue(path, f"Unknown field {key!r}", did_you_mean(key, known, "fields"))
        elif etype == "missing":
            issue = SpecIssue(path, f"Missing required field {str(loc[-1])!r}")
        elif etype == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            got = err.get("input")
            hint = None
            if isinstance(got, str):
                options = re.findall(r"'([^']*)'", str(expected))
                hint = did_you_mean(got, options, "values")
            issue = SpecIssue(path, f"Invalid value {got!r}; expected {expected}", hint)
        elif etype == "string_pattern_mismatch":
            issue = SpecIssue(
                path,
                f"Invalid name {err.get('input')!r}",
                "Names use letters, digits, '_' and '-', and start with a letter.",
            )
        elif etype == "value_error":
            msg = str(err["msg"]).removeprefix("Value error, ")
            issue = SpecIssue(path, msg[:1].upper() + msg[1:])
        else:
            got = err.get("input")
            shown = json.dumps(got, default=str)[:80] if not isinstance(got, dict) else "a mapping"
            issue = SpecIssue(path, f"{err['msg']} (got {shown})")
        key2 = (issue.path, issue.message)
        if key2 not in seen:
            seen.add(key2)
            issues.append(issue)
    return issues
