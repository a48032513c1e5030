"""Reading a YAML file that a user wrote, safely: every way it can be wrong is a SpecError.

PyYAML's safe loader refuses ``!!python`` tags but leaves other hazards to the caller. Before
any node tree is built (let alone a map of line numbers over it), one pass over the parser's
events — which is iterative, so it cannot overflow the stack — bounds:

- the size of the file and its encoding (UTF-8, with or without a BOM, or UTF-16/32 with a
  BOM); a binary file or a byte that is not UTF-8 is reported with its line and column;
- the nesting depth (the composer and everything after it recurse);
- the size of the document once its aliases are expanded (a "billion laughs" alias bomb of a
  few hundred bytes grows to gigabytes when anything walks it).

Then the tree is composed and checked for duplicate mapping keys (YAML would keep the last one
silently; both lines are named), and each YAML path gets its line number without following an
alias twice.
"""

from __future__ import annotations

import codecs
from collections import deque
from dataclasses import dataclass
from typing import Any

import yaml

from slmgraph.errors import SpecError, SpecIssue

#: Larger files are refused unread (a spec is a few kilobytes).
MAX_BYTES = 4 * 1024 * 1024
#: Mappings and sequences nested deeper than this are refused.
MAX_DEPTH = 64
#: Nodes of the document with every alias expanded.
MAX_NODES = 200_000

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass
class Parsed:
    """A parsed document, and the line of each YAML path (``nodes.a.tier``, ``edges[0]``)."""

    data: Any
    lines: dict[str, int]


def _where(line: int, column: int) -> str:
    return f"line {line}, column {column}"


def decode(raw: bytes, origin: str) -> str:
    """The text of a YAML file, or a SpecError saying where the first bad byte is."""
    if len(raw) > MAX_BYTES:
        raise SpecError.single(
            "",
            f"The file is {len(raw):,} bytes; a spec may have at most {MAX_BYTES:,}",
            source=origin,
        )
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            try:
                return raw.decode(encoding)
            except UnicodeDecodeError as exc:
                raise SpecError.single(
                    "", f"The file is not valid {encoding.upper()}: {exc.reason}", source=origin
                ) from None
    nul = raw.find(b"\x00")
    if nul != -1:
        line, column = _position(raw, nul)
        raise SpecError.single(
            "",
            f"The file is binary, not YAML text (a NUL byte at {_where(line, column)})",
            "Give a YAML spec (UTF-8 text).",
            source=origin,
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _position(raw, exc.start)
        raise SpecError.single(
            "",
            f"The file is not UTF-8: byte 0x{raw[exc.start]:02x} at {_where(line, column)}",
            "Save the file as UTF-8.",
            source=origin,
        ) from None


def _position(raw: bytes, offset: int) -> tuple[int, int]:
    line = raw.count(b"\n", 0, offset) + 1
    start = raw.rfind(b"\n", 0, offset) + 1
    column = len(raw[start:offset].decode("utf-8", errors="replace")) + 1
    return line, column


def _yaml_error(exc: yaml.YAMLError, origin: str) -> SpecError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f" at {_where(mark.line + 1, mark.column + 1)}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    text = f"YAML error{where}: {problem}" + (f" ({context})" if context else "")
    hint = None
    if "could not determine a constructor" in problem or "tag" in problem:
        hint = "Tags that run code (!!python/...) and custom tags are not allowed in specs."
    return SpecError.single("", text, hint, source=origin)


def _bounds(text: str, origin: str) -> None:
    """Nesting depth and alias-expanded size, from the parser's events alone."""
    sizes: dict[str, int] = {}  # anchor -> expanded size of its node
    starts: list[tuple[int, str | None]] = []  # per open collection: count at its start, anchor
    expanded = 0  # nodes so far, each alias counted as the node it stands for

    def grow(n: int, mark: Any) -> None:
        nonlocal expanded
        expanded += n
        if expanded > MAX_NODES:
            where = f" (at {_where(mark.line + 1, mark.column + 1)})" if mark else ""
            raise SpecError.single(
                "",
                f"The document expands to more than {MAX_NODES:,} nodes once its aliases are "
                f"resolved{where}",
                "Remove the nested aliases (*name); a spec needs no more than a few.",
                source=origin,
            )

    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                if len(starts) >= MAX_DEPTH:
                    mark = event.start_mark
                    where = f" at {_where(mark.line + 1, mark.column + 1)}" if mark else ""
                    raise SpecError.single(
                        "",
                        f"Nested more than {MAX_DEPTH} levels deep{where}",
                        "Flatten the spec; no part of it needs that depth.",
                        source=origin,
                    )
                starts.append((expanded, event.anchor))
                grow(1, event.start_mark)
            elif isinstance(event, yaml.CollectionEndEvent):
                began, anchor = starts.pop()
                if anchor:
                    sizes[anchor] = expanded - began
            elif isinstance(event, yaml.ScalarEvent):
                if event.anchor:
                    sizes[event.anchor] = 1
                grow(1, event.start_mark)
            elif isinstance(event, yaml.AliasEvent):
                grow(sizes.get(event.anchor or "", 1), event.start_mark)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, origin) from None


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _walk(node: yaml.Node, origin: str) -> tuple[dict[str, int], list[SpecIssue]]:
    """Lines by YAML path, and duplicate keys, visiting each composed node once."""
    lines: dict[str, int] = {}
    issues: list[SpecIssue] = []
    seen: set[int] = set()
    todo: deque[tuple[yaml.Node, str]] = deque([(node, "")])  # document order
    while todo:
        cur, path = todo.popleft()
        lines.setdefault(path, cur.start_mark.line + 1)
        if id(cur) in seen:
            continue  # an alias: its node was walked where it was anchored
        seen.add(id(cur))
        if isinstance(cur, yaml.MappingNode):
            first: dict[tuple[str, str], int] = {}
            for key, value in cur.value:
                label = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    marker = (key.tag, key.value)
                    line = key.start_mark.line + 1
                    if marker in first:
                        issues.append(
                            SpecIssue(
                                _child(path, label),
                                f"Duplicate key {label!r} (lines {first[marker]} and {line})",
                                "YAML would keep only the last one; remove or rename one.",
                            )
                        )
                    else:
                        first[marker] = line
                child = _child(path, label)
                lines[child] = key.start_mark.line + 1
                todo.append((value, child))
        elif isinstance(cur, yaml.SequenceNode):
            for i, value in enumerate(cur.value):
                child = f"{path}[{i}]"
                lines[child] = value.start_mark.line + 1
                todo.append((value, child))
    return lines, issues


def parse(text: str, origin: str) -> Parsed:
    """Parse one YAML document within the bounds above; SpecError for anything else."""
    _bounds(text, origin)
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            lines: dict[str, int] = {}
            if node is not None:
                lines, dupes = _walk(node, origin)
                if dupes:
                    raise SpecError(dupes, origin)
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, origin) from None
    except (RecursionError, MemoryError) as exc:  # bounded above; a last line of defence
        raise SpecError.single(
            "", f"The YAML is too large to read ({type(exc).__name__})"
        ) from None
    return Parsed(data, lines)


def parse_bytes(raw: bytes, origin: str) -> Parsed:
    return parse(decode(raw, origin), origin)


__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "Parsed", "decode", "parse", "parse_bytes"]
