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
from collections.abc import Iterable, Mapping

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
OUT_ALIASES = (
    "count",
    "cnt",
    "num",
    "total",
    "amount",
    "number",
    "value",
    "result",
    "average",
    "maximum",
    "minimum",
    "revenue",
    "n",
    "c",
    "x",
)
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


def lexical_sql_grammar(
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


def _kw(word: str) -> str:
    return " ".join(_char(c) for c in word)


def _names_rule(names: Iterable[str]) -> str:
    """Names as a prefix tree: plain identifiers case-insensitively, any name double-quoted."""
    words = [n for n in names if _SIMPLE.fullmatch(n)]
    words += ['"' + n.replace('"', '""') + '"' for n in names]
    return _words_rule(words)


def structured_sql_grammar(
    tables: Iterable[str],
    columns: Iterable[str],
    *,
    dialect: str = "sqlite",
    aliases: Iterable[str] = ALIASES,
    owners: Mapping[str, Iterable[str]] | None = None,
) -> str:
    """GBNF for the SELECT statements a text-to-SQL model needs, shaped like SQL: every output
    parses, names only ``tables``/``columns`` (and the aliases), and is bounded in size
    (at most 3 compound parts, 4 joins, 4 conditions, one level of subqueries), so even a
    random model ends its statement.

    Covers: DISTINCT, ``*``, expressions with + - * /, aggregate and scalar functions,
    CASE-free predicates (comparisons, IN lists and subqueries, LIKE, BETWEEN, IS NULL, EXISTS),
    joins with ON, GROUP BY / HAVING, ORDER BY, LIMIT / OFFSET, UNION / INTERSECT / EXCEPT.

    ``owners`` (table -> its columns): the *qualified* form. Every column is written
    ``table.column`` with a table that holds it, and tables take no aliases, so a column can
    only be named with its own table (SQL writes FROM after SELECT: a grammar cannot know
    which tables an alias will stand for, but it can tie each column to a table's name). A
    table named by a column but missing from FROM is then joined along its foreign keys by
    the check node's repair, not guessed by the model.
    """
    if dialect not in KEYWORDS:
        raise ValueError(f"no SQL grammar for dialect {dialect!r} yet (have: {sorted(KEYWORDS)})")
    tables, columns, aliases = list(tables), list(dict.fromkeys(columns)), list(aliases)
    if not tables:
        raise ValueError("a SQL grammar needs at least one table")
    aggs = ("COUNT", "SUM", "AVG", "MIN", "MAX")
    # Scalar functions with the argument counts sqlglot accepts for them.
    scalars = {
        "ABS": (1, 1),
        "ROUND": (1, 2),
        "LENGTH": (1, 1),
        "LOWER": (1, 1),
        "UPPER": (1, 1),
        "SUBSTR": (2, 3),
        "TRIM": (1, 1),
        "REPLACE": (3, 3),
        "INSTR": (2, 2),
        "COALESCE": (2, 3),
        "IFNULL": (2, 2),
        "STRFTIME": (2, 2),
        "DATE": (1, 1),
        "JULIANDAY": (1, 1),
    }
    arities = sorted(set(scalars.values()))
    r: dict[str, str] = {
        "root": "query0 end",
        "end": '";"?',
        "sp": '" " | "\\n" " "{0,4}',
        "cm": '"," " "?',
        "table": _names_rule(tables),
        "column": _names_rule(columns) if columns else '"*"',
        "alias": _words_rule(aliases),
        # Output aliases from a fixed list: a free name could be a keyword (`AS from`).
        "out-alias": _words_rule(OUT_ALIASES),
        "number": '[0-9]{1,12} ("." [0-9]{1,8})?',  # no sign: "-" after "-" opens a "--" comment
        "string": '"\'" strchar{0,40} "\'"',
        "strchar": "[\\x20-\\x26\\x28-\\x7E\\u0080-\\uD7FF\\uE000-\\U0010FFFF] | \"''\"",
        "literal": f"number | string | {_kw('NULL')}",
        "cmp": '"=" | "!=" | "<>" | "<=" | ">=" | "<" | ">"',
        "arith": '"+" | "-" | "*" | "/" | "||"',
        "colref": '(alias "." | table ".")? column'
        if owners is None
        else " | ".join(f"qc{i}" for i in range(len(owners))),
        "agg": " | ".join(f"({_kw(a)})" for a in aggs),
        **{
            f"scalar{lo}{hi}": " | ".join(
                f"({_kw(f)})" for f, ar in scalars.items() if ar == (lo, hi)
            )
            for lo, hi in arities
        },
        "type": " | ".join(f"({_kw(t)})" for t in ("INTEGER", "REAL", "TEXT", "NUMERIC")),
        "table-ref": f"table (sp ({_kw('AS')} sp)? alias)?" if owners is None else "table",
        "join-kind": f"({_kw('INNER')} | {_kw('LEFT')} (sp {_kw('OUTER')})? | {_kw('CROSS')}) sp",
        "compound": f"{_kw('UNION')} (sp {_kw('ALL')})? | {_kw('INTERSECT')} | {_kw('EXCEPT')}",
        "limit": f"{_kw('LIMIT')} sp [0-9]{{1,6}} (sp {_kw('OFFSET')} sp [0-9]{{1,6}})?",
    }
    for i, (table, cols) in enumerate((owners or {}).items()):
        names = list(dict.fromkeys(cols))
        r[f"qc{i}"] = f'{_names_rule([table])} "." ' + (_names_rule(names) if names else '"*"')
    if owners is not None:
        del r["alias"], r["column"]
    # Expressions nest to a fixed depth (so every statement ends): a simple expression of
    # columns and literals; functions of simple expressions; functions of those; then operands.
    r["basic"] = "colref | literal"
    r["sexpr"] = "basic (sp? arith sp? basic){0,2}"
    for name, arg in (("fcall1", "sexpr"), ("fcall2", "fexpr")):
        r[name] = (
            f'agg "(" sp? (({_kw("DISTINCT")} sp)? {arg} | "*") sp? ")" '
            + "".join(
                f'| scalar{lo}{hi} "(" sp? {arg}'
                + (f" (cm {arg}){{{lo - 1},{hi - 1}}}" if hi > 1 else "")
                + ' sp? ")" '
                for lo, hi in arities
            )
            + f'| {_kw("CAST")} "(" sp? {arg} sp {_kw("AS")} sp type sp? ")"'
        )
    r["fop"] = "basic | fcall1"
    r["fexpr"] = "fop (sp? arith sp? fop){0,2}"
    # Two levels of statement: level 0 may hold subqueries, whose parts (level 1) hold none.
    for lvl in (0, 1):
        sub = ' | "(" sp? select1 sp? ")"' if lvl == 0 else ""
        r[f"operand{lvl}"] = f'basic | fcall2 | "(" sp? fexpr sp? ")"{sub}'
        r[f"expr{lvl}"] = f"operand{lvl} (sp? arith sp? operand{lvl}){{0,2}}"
        in_rhs = f'"(" sp? (literal (cm literal){{0,9}}{" | select1" if lvl == 0 else ""}) sp? ")"'
        r[f"pred{lvl}"] = (
            f"({_kw('NOT')} sp)? (expr{lvl} sp? cmp sp? expr{lvl} "
            f"| expr{lvl} sp ({_kw('NOT')} sp)? {_kw('IN')} sp? {in_rhs} "
            f"| expr{lvl} sp ({_kw('NOT')} sp)? {_kw('LIKE')} sp string "
            f"| expr{lvl} sp ({_kw('NOT')} sp)? {_kw('BETWEEN')} sp operand{lvl} sp "
            f"{_kw('AND')} sp operand{lvl} "
            f"| expr{lvl} sp {_kw('IS')} sp ({_kw('NOT')} sp)? {_kw('NULL')}"
            + (f' | {_kw("EXISTS")} sp? "(" sp? select1 sp? ")")' if lvl == 0 else ")")
        )
        r[f"cond{lvl}"] = f"pred{lvl} (sp ({_kw('AND')} | {_kw('OR')}) sp pred{lvl}){{0,3}}"
        r[f"result{lvl}"] = f"expr{lvl} (sp {_kw('AS')} sp out-alias)?"
        r[f"results{lvl}"] = f'"*" | result{lvl} (cm result{lvl}){{0,5}}'
        r[f"join{lvl}"] = f"(join-kind)? {_kw('JOIN')} sp table-ref (sp {_kw('ON')} sp cond{lvl})?"
        r[f"select{lvl}"] = (
            f"{_kw('SELECT')} sp ({_kw('DISTINCT')} sp)? results{lvl} sp {_kw('FROM')} sp "
            f"table-ref (sp join{lvl}){{0,4}} (sp {_kw('WHERE')} sp cond{lvl})? "
            f"(sp {_kw('GROUP')} sp {_kw('BY')} sp expr{lvl} (cm expr{lvl}){{0,3}} "
            f"(sp {_kw('HAVING')} sp cond{lvl})?)?"
        )
        r[f"order{lvl}"] = (
            f"{_kw('ORDER')} sp {_kw('BY')} sp expr{lvl} (sp ({_kw('ASC')} | "
            f"{_kw('DESC')}))? (cm expr{lvl} (sp ({_kw('ASC')} | {_kw('DESC')}))?)"
            "{0,2}"
        )
    r["select1"] = r["select1"] + " (sp order1)? (sp limit)?"
    r["query0"] = "select0 (sp compound sp select0){0,2} (sp order0)? (sp limit)?"
    return "\n".join(f"{k} ::= {v}" for k, v in r.items()) + "\n"


def sql_grammar(
    tables: Iterable[str],
    columns: Iterable[str],
    *,
    dialect: str = "sqlite",
    mode: str = "structured",
    aliases: Iterable[str] = ALIASES,
    owners: Mapping[str, Iterable[str]] | None = None,
) -> str:
    """The SQL grammar of the given ``mode``: ``structured`` (parses by construction),
    ``qualified`` (structured, every column ``table.column`` with its own table; needs
    ``owners``) or ``lexical`` (a token stream; syntax left to the checker)."""
    if mode == "qualified":
        if owners is None:
            raise ValueError("the qualified SQL grammar needs each table's columns (owners)")
        return structured_sql_grammar(tables, columns, dialect=dialect, owners=owners)
    if mode == "lexical":
        return lexical_sql_grammar(tables, columns, dialect=dialect, aliases=aliases)
    if mode == "structured":
        return structured_sql_grammar(tables, columns, dialect=dialect, aliases=aliases)
    raise ValueError(f"unknown SQL grammar mode {mode!r} (structured, qualified or lexical)")
