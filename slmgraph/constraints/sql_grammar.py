"""A SQL grammar whose identifiers come from the schema: small models cannot name a table or a
column the database lacks.

Deliberately *lexical*, not a full SQL grammar: a SELECT followed by tokens — keywords and
functions of the dialect, the linked tables and columns (and the aliases T1…T9), numbers,
quoted strings, operators and punctuation — with natural spacing. Forcing a rigid full grammar
(or a terminator the model would not write: ``;`` dropped Qwen-0.5B from 9/10 to 6/10 in a test
here) hurts small models; syntax is left to sqlglot's check and the fixer, while the grammar
removes the failure no repair loop fixes cheaply: hallucinated names.

Spacing rules: a word (keyword, identifier, number) after another word needs whitespace; after a
symbol (``(``, ``.``, ``,``, ``=``, …) it may follow directly, so ``COUNT(*)``, ``T1.name`` and
``(SELECT`` read as models write them. Whitespace is one to four spaces or a newline with
indentation; an optional ``;`` may end the statement.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from slmgraph.constraints.json_gbnf import gbnf_literal

KEYWORDS: dict[str, tuple[str, ...]] = {
    "sqlite": (
        "SELECT",
        "DISTINCT",
        "ALL",
        "FROM",
        "WHERE",
        "GROUP",
        "BY",
        "HAVING",
        "ORDER",
        "ASC",
        "DESC",
        "LIMIT",
        "OFFSET",
        "JOIN",
        "INNER",
        "LEFT",
        "OUTER",
        "CROSS",
        "NATURAL",
        "ON",
        "USING",
        "AS",
        "AND",
        "OR",
        "NOT",
        "IN",
        "IS",
        "NULL",
        "LIKE",
        "GLOB",
        "BETWEEN",
        "EXISTS",
        "CASE",
        "WHEN",
        "THEN",
        "ELSE",
        "END",
        "UNION",
        "INTERSECT",
        "EXCEPT",
        "CAST",
        "COLLATE",
        "NOCASE",
        "ESCAPE",
        "INTEGER",
        "REAL",
        "TEXT",
        "NUMERIC",
        "TRUE",
        "FALSE",
    ),
}
FUNCTIONS: dict[str, tuple[str, ...]] = {
    "sqlite": (
        "COUNT",
        "SUM",
        "AVG",
        "MIN",
        "MAX",
        "TOTAL",
        "ABS",
        "ROUND",
        "LENGTH",
        "LOWER",
        "UPPER",
        "SUBSTR",
        "SUBSTRING",
        "TRIM",
        "LTRIM",
        "RTRIM",
        "REPLACE",
        "INSTR",
        "COALESCE",
        "IFNULL",
        "NULLIF",
        "IIF",
        "STRFTIME",
        "DATE",
        "TIME",
        "DATETIME",
        "JULIANDAY",
        "GROUP_CONCAT",
        "TYPEOF",
        "PRINTF",
    ),
}
ALIASES = tuple(f"T{i}" for i in range(1, 10))
_SIMPLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Trie:
    def __init__(self) -> None:
        self.children: dict[str, _Trie] = {}
        self.terminal = False

    def add(self, word: str) -> None:
        node = self
        for ch in word:
            node = node.children.setdefault(ch, _Trie())
        node.terminal = True


def _char(ch: str) -> str:
    """One character, case-insensitive for letters (SQL keywords and SQLite names are)."""
    if ch.isalpha() and ch.lower() != ch.upper() and len(ch.upper()) == 1:
        lo, up = ch.lower(), ch.upper()
        if lo.isascii() and up.isascii():
            return f"[{lo}{up}]"
    return gbnf_literal(ch)


def _emit(node: _Trie) -> str:
    """GBNF for the words below ``node``, shaped as a prefix tree: llama.cpp keeps one parse
    stack per live alternative, so a flat list of 700 words makes every token check walk 700
    stacks (seconds per masked step); a tree keeps only the distinct next characters alive."""
    alts = []
    for ch, child in sorted(node.children.items()):
        seq = [_char(ch)]
        while len(child.children) == 1 and not child.terminal:
            ((nxt, grandchild),) = child.children.items()
            seq.append(_char(nxt))
            child = grandchild
        rest = _emit(child) if child.children else ""
        if rest and child.terminal:
            rest = f"({rest})?"
        alts.append(" ".join(seq) + (f" {rest}" if rest else ""))
    if not alts:
        return ""
    return alts[0] if len(alts) == 1 else "(" + " | ".join(alts) + ")"


def _words_rule(words: Iterable[str]) -> str:
    trie = _Trie()
    for w in words:
        trie.add(w.lower())
    return _emit(trie)


def sql_grammar(
    tables: Iterable[str],
    columns: Iterable[str],
    *,
    dialect: str = "sqlite",
    aliases: Iterable[str] = ALIASES,
) -> str:
    """GBNF for one SELECT statement naming only ``tables``, ``columns`` and ``aliases``.

    Keywords and names match case-insensitively; a name may also be written double-quoted
    (``"first name"``), and must be when it is not a plain identifier.
    """
    if dialect not in KEYWORDS:
        raise ValueError(f"no SQL grammar for dialect {dialect!r} yet (have: {sorted(KEYWORDS)})")
    names = list(dict.fromkeys([*tables, *columns]))
    if not names:
        raise ValueError("a SQL grammar needs at least one table")
    words = [*KEYWORDS[dialect], *FUNCTIONS[dialect], *aliases]
    words += [n for n in names if _SIMPLE.fullmatch(n)]
    words += ['"' + n.replace('"', '""') + '"' for n in names]
    rules = {
        "root": "select tail* end",
        "select": "[sS] [eE] [lL] [eE] [cC] [tT]",
        "tail": "sp word | sp? sym word?",
        "end": 'sp? ";"?',
        "sp": '" "{1,4} | "\\n" " "{0,8}',
        "word": "name | number",
        "name": _words_rule(words),
        "number": '[0-9]{1,12} ("." [0-9]{1,8})?',
        "sym": '"(" | ")" | "," | "." | "*" | "=" | "!=" | "<>" | "<=" | ">=" | "<" | ">" | '
        '"+" | "-" | "/" | "%" | "||" | string',
        "string": '"\'" strchar* "\'"',
        "strchar": "[\\x20-\\x26\\x28-\\x7E\\u0080-\\uD7FF\\uE000-\\U0010FFFF] | \"''\"",
    }
    return "\n".join(f"{k} ::= {v}" for k, v in rules.items()) + "\n"
