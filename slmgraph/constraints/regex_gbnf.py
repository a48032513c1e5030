r"""Regular expression -> GBNF, for backends that take grammars but not regexes (llama.cpp).

Parses with Python's own regex parser, so the accepted syntax is Python's, with ``\d``, ``\w``
and ``\s`` as ASCII classes (Python's ``re.ASCII`` semantics). Supported: literals,
escapes and classes (``\d \w \s``), ``.``, character sets, groups, alternation, greedy and lazy
quantifiers (``* + ? {m,n}``), and ``^``/``$`` at the ends. Look-arounds and back-references
raise ``ValueError`` (a grammar cannot express them).
"""

from __future__ import annotations

import importlib
import re
from typing import Any

# Python's own regex parser (private, but stable across 3.11+): the accepted syntax is Python's.
C: Any = importlib.import_module("re._constants")
P: Any = importlib.import_module("re._parser")

_CATEGORY_RANGES: dict[Any, list[tuple[int, int]]] = {
    C.CATEGORY_DIGIT: [(0x30, 0x39)],
    C.CATEGORY_WORD: [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
    C.CATEGORY_SPACE: [(0x09, 0x0D), (0x20, 0x20)],
}
_NEGATED = {
    C.CATEGORY_NOT_DIGIT: C.CATEGORY_DIGIT,
    C.CATEGORY_NOT_WORD: C.CATEGORY_WORD,
    C.CATEGORY_NOT_SPACE: C.CATEGORY_SPACE,
}
# Unicode scalar values. A negated class is written as the positive complement within these,
# because llama.cpp's `[^...]` also admits byte sequences that are not UTF-8 (lead bytes F5-F7,
# surrogates), which a strict decoder then rejects.
_SCALARS = [(0x0, 0xD7FF), (0xE000, 0x10FFFF)]


def _hex(code: int) -> str:
    if code < 0x80 and chr(code).isalnum():
        return chr(code)
    if code < 0x100:
        return f"\\x{code:02X}"
    return f"\\u{code:04X}" if code < 0x10000 else f"\\U{code:08X}"


def _class(ranges: list[tuple[int, int]]) -> str:
    if not ranges:
        raise ValueError("a character set that matches nothing is not supported")
    parts = [_hex(lo) if lo == hi else f"{_hex(lo)}-{_hex(hi)}" for lo, hi in ranges]
    return f"[{''.join(parts)}]"


def _normalise(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _complement(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    excluded = _normalise(ranges)
    for lo, hi in _SCALARS:
        cur = lo
        for elo, ehi in excluded:
            if ehi < cur or elo > hi:
                continue
            if elo > cur:
                out.append((cur, elo - 1))
            cur = max(cur, ehi + 1)
        if cur <= hi:
            out.append((cur, hi))
    return out


def _literal(code: int) -> str:
    ch = chr(code)
    if ch == "\\":
        return '"\\\\"'
    if ch == '"':
        return '"\\""'
    if code < 0x20 or code == 0x7F:
        return f'"\\x{code:02X}"'
    return f'"{ch}"'


def _set(items: list[tuple[Any, Any]]) -> str:
    negate = False
    ranges: list[tuple[int, int]] = []
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            ranges.append((av, av))
        elif op is C.RANGE:
            ranges.append((av[0], av[1]))
        elif op is C.CATEGORY:
            if av in _CATEGORY_RANGES:
                ranges += _CATEGORY_RANGES[av]
            else:
                ranges += _complement(_CATEGORY_RANGES[_NEGATED[av]])
        else:
            raise ValueError(f"unsupported item in a character set: {op}")
    return _class(_complement(ranges) if negate else _normalise(ranges))


def _seq(items: Any) -> str:
    out = [_node(op, av) for op, av in items]
    out = [o for o in out if o]
    return " ".join(out) if out else '""'


def _node(op: Any, av: Any) -> str:
    if op is C.LITERAL:
        return _literal(av)
    if op is C.NOT_LITERAL:
        return _class(_complement([(av, av)]))
    if op is C.ANY:
        return _class(_complement([(0x0A, 0x0A)]))
    if op is C.IN:
        return _set(av)
    if op is C.CATEGORY:
        if av in _CATEGORY_RANGES:
            return _class(_CATEGORY_RANGES[av])
        return _class(_complement(_CATEGORY_RANGES[_NEGATED[av]]))
    if op is C.SUBPATTERN:
        return f"({_seq(av[-1])})"
    if op is C.BRANCH:
        return "(" + " | ".join(_seq(b) for b in av[1]) + ")"
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None)):
        lo, hi, sub = av
        body = f"({_seq(sub)})"
        if hi is C.MAXREPEAT:
            return f"{body}*" if lo == 0 else (f"{body}+" if lo == 1 else f"{body}{{{lo},}}")
        if lo == 0 and hi == 1:
            return f"{body}?"
        return f"{body}{{{lo}}}" if lo == hi else f"{body}{{{lo},{hi}}}"
    if op is C.AT:
        if av in (C.AT_BEGINNING, C.AT_BEGINNING_STRING, C.AT_END, C.AT_END_STRING):
            return ""
        raise ValueError("word boundaries (\\b, \\B) are not supported in grammars")
    raise ValueError(f"regex construct {str(op).lower()} is not supported in grammars")


def regex_to_gbnf(pattern: str) -> str:
    """A GBNF grammar whose language is the full matches of ``pattern``."""
    re.compile(pattern)
    tree = P.parse(pattern)
    return f"root ::= {_seq(list(tree))}\n"
