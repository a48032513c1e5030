"""The AST guard: exactly one read-only statement, decided on the parsed tree.

Text checks ("starts with SELECT") are bypassed by ``WITH x AS (...) DELETE`` and
``SELECT 1; DROP ...``; this guard parses with sqlglot and refuses:

- a statement too long or nested too deeply to check (base.py: ``MAX_SQL_TOKENS``,
  ``MAX_NESTING``, ``MAX_UNARY_RUN``), counted on sqlglot's tokens before anything recurses,
  so a model's 200 nested ``abs(`` is a refusal, never a RecursionError;
- anything but exactly one statement;
- a statement whose root is not a SELECT, a VALUES list or a set operation (UNION /
  INTERSECT / EXCEPT) of them (a ``WITH`` clause hangs off its statement, so ``WITH … DELETE``
  has a DELETE root);
- anywhere in the tree: DML, DDL, PRAGMA, ATTACH/DETACH, COPY, ``INTO`` (SELECT INTO,
  INTO OUTFILE), locking clauses, transactions, SET/USE, and statements sqlglot keeps as raw
  commands (VACUUM, REINDEX, …);
- ``printf`` / ``format`` with a format that is not a literal, or a width or precision over
  ``MAX_PRINTF_WIDTH`` or not a literal (``%.*c`` with 2e8 loops inside one SQLite call, where
  no timeout can stop it);
- calls to functions that touch files, the network or the process (``load_extension``,
  ``readfile``, ``pg_read_file``, ``sleep`` …), and reads of SQLite's internal tables and
  table-valued functions (``pragma_table_info(…)``, ``pragma_database_list`` — which shows
  the database's path —, ``dbstat``, ``sqlite_dbpage``, ``fsdir`` …). ``sqlite_master`` /
  ``sqlite_schema``, ``json_each`` and ``json_tree`` are ordinary reads and pass.

A statement sqlglot cannot parse is refused too: what cannot be checked does not run. The
database's own read-only mode and authorizer stand behind this (see database.py).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import Token, TokenType

from slmgraph.errors import SlmgraphError
from slmgraph.tools.sql.base import MAX_NESTING, MAX_PRINTF_WIDTH, MAX_SQL_TOKENS, MAX_UNARY_RUN


class GuardError(SlmgraphError):
    """A statement was refused before reaching the database; ``reason`` says why."""

    def __init__(self, reason: str, *, kind: Literal["refused", "parse"] = "refused") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


def _classes(*names: str) -> tuple[type[exp.Expr], ...]:
    return tuple(getattr(exp, n) for n in names if isinstance(getattr(exp, n, None), type))


_ROOTS = _classes("Select", "Union", "Intersect", "Except", "Subquery", "Values")
_FORBIDDEN = _classes(
    "Insert",
    "Update",
    "Delete",
    "Merge",
    "Create",
    "Drop",
    "Alter",
    "AlterColumn",
    "TruncateTable",
    "Command",
    "Pragma",
    "Attach",
    "Detach",
    "Copy",
    "Into",
    "Set",
    "Use",
    "Transaction",
    "Commit",
    "Rollback",
    "LoadData",
    "Grant",
    "Revoke",
    "Lock",
    "Analyze",
    "Describe",
    "Show",
    "Kill",
    "Cache",
    "Uncache",
    "Refresh",
    "Export",
    "Install",
)
DENIED_FUNCTIONS = frozenset(
    {
        # SQLite: extensions, files (the CLI's fileio; sqlean's fileio and define), internals
        "load_extension",
        "readfile",
        "writefile",
        "edit",
        "lsmode",
        "fts3_tokenizer",
        "zeroblob",
        "sqlar_compress",
        "sqlar_uncompress",
        "fileio_read",
        "fileio_write",
        "fileio_append",
        "fileio_mkdir",
        "fileio_symlink",
        "fileio_ls",
        "define",
        "undefine",
        "eval",
        "sqlite_dbdata",
        "sqlite_dbptr",
        # PostgreSQL
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_stat_file",
        "pg_sleep",
        "pg_sleep_for",
        "pg_sleep_until",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "lo_import",
        "lo_export",
        "dblink",
        "dblink_exec",
        "set_config",
        "copy",
        # MySQL / MariaDB / SQL Server
        "sleep",
        "benchmark",
        "load_file",
        "xp_cmdshell",
        "sys_exec",
        "sys_eval",
        # DuckDB
        "read_csv",
        "read_csv_auto",
        "read_parquet",
        "parquet_scan",
        "read_json",
        "read_json_auto",
        "read_ndjson",
        "read_text",
        "read_blob",
        "read_xlsx",
        "sniff_csv",
        "glob",
        "query_table",
        "query",
    }
)
#: SQLite's internal tables and table-valued functions (besides every ``pragma_*``): storage
#: pages, statement lists, files and archives. Read as ``FROM name`` or ``FROM name(…)``.
DENIED_TABLES = frozenset(
    {
        "dbstat",
        "sqlite_dbpage",
        "sqlite_dbdata",
        "sqlite_dbptr",
        "sqlite_stmt",
        "sqlite_memstat",
        "fsdir",
        "zipfile",
        "zipfile_cds",
        "vfsstat",
        "fileio_ls",
    }
)
_FILE_TABLES = frozenset({"fsdir", "zipfile", "zipfile_cds", "fileio_ls"})
_OPEN = {TokenType.L_PAREN, TokenType.CASE}
_CLOSE = {TokenType.R_PAREN, TokenType.END}
_UNARY = {TokenType.NOT, TokenType.DASH, TokenType.PLUS, TokenType.TILDE}


#: A printf conversion: flags, width (digits or *), precision (. digits or *), length, type.
_SPEC = re.compile(r"%[-+ 0#,!]*(\*|\d+)?(?:\.(\*|\d*))?(?:ll|l|h|hh|L|q)?[a-zA-Z%]")


def _describe(node: Any) -> str:
    name = type(node).__name__
    return {
        "Command": f"the command {str(node.this).upper()!r}" if node.this else "a raw command",
        "Into": "SELECT … INTO",
        "Pragma": "PRAGMA",
        "Lock": "a locking clause",
    }.get(name, name.upper().replace("TRUNCATETABLE", "TRUNCATE"))


def clean(sql: str | None) -> str:
    """The statement without a leading byte-order mark and surrounding white space."""
    return (sql or "").lstrip("\ufeff").strip()


def tokens_of(sql: str, dialect: str = "sqlite") -> list[Token]:
    """sqlglot's tokens of ``sql`` in ``dialect`` (TokenError when it cannot tokenize)."""
    return Dialect.get_or_raise(dialect).tokenize(sql)


def _check_shape(tokens: list[Token]) -> None:
    """Refuse, before parsing, what is too long or nests too deeply to check safely."""
    if len(tokens) > MAX_SQL_TOKENS:
        raise GuardError(
            f"the statement is too long to check: {len(tokens):,} tokens, the limit is "
            f"{MAX_SQL_TOKENS:,} (use IN (…) or a join instead of long OR chains)"
        )
    depth = deepest = run = longest = 0
    for token in tokens:
        kind = token.token_type
        if kind in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif kind in _CLOSE:
            depth = max(0, depth - 1)
        run = run + 1 if kind in _UNARY else 0
        longest = max(longest, run)
    if deepest > MAX_NESTING:
        raise GuardError(
            f"the statement nests {deepest} levels deep (parentheses and CASE), the limit is "
            f"{MAX_NESTING}: write it flatter (a CTE or a join instead of nested subqueries)"
        )
    if longest > MAX_UNARY_RUN:
        raise GuardError(
            f"the statement has {longest} prefix operators (NOT, -, +, ~) in a row, the limit "
            f"is {MAX_UNARY_RUN}"
        )


def _parse(text: str, dialect: str) -> list[exp.Expr]:
    try:
        parser = Dialect.get_or_raise(dialect)
        tokens = tokens_of(text, dialect)
        _check_shape(tokens)
        return [s for s in parser.parser().parse(tokens, text) if s is not None]
    except (ParseError, TokenError) as exc:
        raise GuardError(
            f"could not parse the statement: {_first_error(exc)}", kind="parse"
        ) from None
    except RecursionError:  # a shape the token checks did not foresee: still a refusal
        raise GuardError("the statement is nested too deeply to check") from None


def _refuse_node(node: exp.Expr, ctes: set[str]) -> None:
    if isinstance(node, _FORBIDDEN):
        raise GuardError(f"{_describe(node)} is not allowed: only read-only queries run")
    if isinstance(node, exp.Table):
        source = node.this
        name = (source.name if isinstance(source, exp.Func) else node.name).lower()
        if name in ctes and not isinstance(source, exp.Func):
            return
        if name.startswith("pragma_") or name in DENIED_TABLES:
            call = "()" if isinstance(source, exp.Func) else ""
            what = "files" if name in _FILE_TABLES else "the database's internals"
            raise GuardError(
                f"{name}{call} reads {what} and is not allowed: only the database's tables "
                "and views (and sqlite_master / sqlite_schema) are read"
            )
    elif isinstance(node, exp.Func):
        fname = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
        if fname in DENIED_FUNCTIONS or fname.startswith("pragma_"):
            raise GuardError(f"the function {fname}() is not allowed")
        if fname in ("printf", "format"):
            _check_printf(node, fname)


def _number(node: exp.Expr | None) -> float | None:
    if isinstance(node, exp.Neg):
        inner = _number(node.this)
        return None if inner is None else -inner
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return float(node.this)
        except ValueError:
            return None
    return None


def _check_printf(node: exp.Func, fname: str) -> None:
    """Widths and precisions of printf/format: literal, and at most ``MAX_PRINTF_WIDTH``."""
    args = (
        list(node.expressions)
        if isinstance(node, exp.Anonymous)
        else [node.this, *node.expressions]
    )
    if not args:
        return
    fmt, rest = args[0], iter(args[1:])
    if not (isinstance(fmt, exp.Literal) and fmt.is_string):
        raise GuardError(f"{fname}()'s format must be a string literal")
    bad = f"{fname}() widths and precisions must be literal numbers up to {MAX_PRINTF_WIDTH:,}"
    for spec in _SPEC.finditer(str(fmt.this)):
        for part in spec.groups():
            if part == "*":
                size = _number(next(rest, None))
                if size is None or abs(size) > MAX_PRINTF_WIDTH:
                    raise GuardError(bad + " (a '*' takes the next argument)")
            elif part and int(part) > MAX_PRINTF_WIDTH:
                raise GuardError(bad)
        if not spec.group().endswith("%"):
            next(rest, None)  # the value it formats


def guard(sql: str, dialect: str = "sqlite") -> exp.Expr:
    """Return the parsed statement if it is one read-only query; raise GuardError otherwise."""
    text = clean(sql)
    if not text:
        raise GuardError("the statement is empty", kind="parse")
    statements = _parse(text, dialect)
    if len(statements) != 1:
        raise GuardError(f"exactly one statement is allowed, found {len(statements)}")
    tree = statements[0]
    try:
        ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
        for node in tree.walk():
            _refuse_node(node, ctes)
        for select in tree.find_all(exp.Select):
            if not select.expressions:
                raise GuardError("a SELECT without columns is incomplete", kind="parse")
    except RecursionError:
        raise GuardError("the statement is nested too deeply to check") from None
    if not isinstance(tree, _ROOTS):
        raise GuardError(f"only SELECT queries are allowed, not {_describe(tree)}")
    return tree


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if errors:
        e = errors[0]
        where = f" (line {e.get('line')}, column {e.get('col')})" if e.get("line") else ""
        return f"{e.get('description', str(exc))}{where}"
    return str(exc).splitlines()[0]
