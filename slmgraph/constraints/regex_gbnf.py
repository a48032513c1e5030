"""Regular expression -> GBNF, for backends that take grammars but not regexes (llama.cpp).

Parses with Python's own regex parser, so the accepted syntax is Python's; supported: literals,
escapes and classes (``\\d \\w \\s``), ``.``, character sets, groups, alternation, greedy and lazy
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

_CATEGORIES = {
    C.CATEGORY_DIGIT: "0-9",
    C.CATEGORY_WORD: "a-zA-Z0-9_",
    C.CATEGORY_SPACE: " \\t\\n\\r\\x0B\\x0C",
}
_NOT_CATEGORIES = {
    C.CATEGORY_NOT_DIGIT: "0-9",
    C.CATEGORY_NOT_WORD: "a-zA-Z0-9_",
    C.CATEGORY_NOT_SPACE: " \\t\\n\\r\\x0B\\x0C",
}


def _class_char(code: int) -> str:
    ch = chr(code)
    if ch.isalnum() and code < 128:
        return ch
    return f"\\x{code:02X}" if code < 0x100 else f"\\u{code:04X}"


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
    parts: list[str] = []
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            parts.append(_class_char(av))
        elif op is C.RANGE:
            parts.append(f"{_class_char(av[0])}-{_class_char(av[1])}")
        elif op is C.CATEGORY:
            if av in _CATEGORIES:
                parts.append(_CATEGORIES[av])
            else:
                raise ValueError("negated classes (\\D \\W \\S) inside [...] are not supported")
        else:
            raise ValueError(f"unsupported item in a character set: {op}")
    return f"[{'^' if negate else ''}{''.join(parts)}]"


def _seq(items: Any) -> str:
    out = [_node(op, av) for op, av in items]
    out = [o for o in out if o]
    return " ".join(out) if out else '""'


def _node(op: Any, av: Any) -> str:
    if op is C.LITERAL:
        return _literal(av)
    if op is C.NOT_LITERAL:
        return f"[^{_class_char(av)}]"
    if op is C.ANY:
        return "[^\\n]"
    if op is C.IN:
        return _set(av)
    if op is C.CATEGORY:
        if av in _CATEGORIES:
            return f"[{_CATEGORIES[av]}]"
        return f"[^{_NOT_CATEGORIES[av]}]"
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
