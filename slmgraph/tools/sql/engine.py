"""What the database engines other than SQLite share: introspection assembled from each
engine's catalog, counts and sample values in its own quoting, process-wide caches of the
schema and of text values, and the translation of the SQL a model writes into the engine's
dialect.

The query-writer's models write one SQL — SQLite's flavour, which its grammar and prompts
know, with names in any case — and each engine runs that SQL translated by sqlglot: names
spelt as the schema spells them and quoted, functions and operators in the engine's dialect.
So a question gets the same query on SQLite, PostgreSQL, MySQL/MariaDB and DuckDB, and only
the translation differs. The SQL that ran is the state's ``sql_native``.
"""

from __future__ import annotations

import decimal
import os
import re
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import sqlglot
from sqlglot import exp

from slmgraph.tools.sql.base import (
    DEFAULT_LIMITS,
    WRITE_DIALECT,
    DatabaseError,
    ExecResult,
    Limits,
)
from slmgraph.tools.sql.guard import GuardError, guard
from slmgraph.tools.sql.schema import Column, ForeignKey, Schema, Table

#: Seconds an engine's schema and values stay cached in the process
#: (``$SLMGRAPH_SCHEMA_TTL_S``); SQLite files are keyed by their modification time instead.
SCHEMA_TTL_S = float(os.environ.get("SLMGRAPH_SCHEMA_TTL_S", "600"))
#: Introspection queries (counts, samples) give up after this long.
CATALOG_TIMEOUT_S = 10.0
#: Introspection's own queries: no byte budget (catalogs of wide schemas are large).
_UNBOUNDED = 2**62


def redact(url: str) -> str:
    """A URL with its password replaced: what error messages and logs may show."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


@dataclass
class Catalog:
    """An engine's catalog, as rows: ``tables`` (name, "table" | "view"), ``columns`` (table,
    name, type, not null, primary key), ``foreign_keys`` (table, column, ref table, ref column)."""

    tables: list[tuple[str, str]]
    columns: list[tuple[str, str, str, bool, bool]]
    foreign_keys: list[tuple[str, str, str, str]]


_CACHE: dict[str, tuple[float, Schema, dict[tuple[str, str], list[str]]]] = {}
_CACHE_LOCK = threading.Lock()


class EngineDatabase(ABC):
    """A database on an engine with a SQL catalog: subclasses connect, read the catalog and run
    one read-only statement under a timeout; the rest is here."""

    dialect: str
    sample_values: int = 3
    #: The aggregate that stands in for SQLite's bare columns (a column of a grouped query
    #: that is neither grouped nor aggregated, which SQLite takes from one row of the group
    #: and strict engines refuse); None where the engine accepts them as SQLite does.
    bare_columns: str | None = "ANY_VALUE"
    #: The engine's LIKE minds case, so SQLite's (which ignores ASCII case) becomes ILIKE.
    case_sensitive_like: bool = True
    #: False where ``x IN (SELECT … LIMIT n)`` is refused (MySQL, MariaDB).
    limit_in_subquery: bool = True

    def __init__(self, url: str, name: str) -> None:
        self.limits: Limits = DEFAULT_LIMITS
        self.url = url
        self._name = name
        self._lock = threading.RLock()
        self._conn: Any = None

    # -- what an engine implements ----------------------------------------------------------

    @abstractmethod
    def _connect(self) -> Any: ...

    @abstractmethod
    def _catalog(self) -> Catalog: ...

    @abstractmethod
    def _run(
        self, sql: str, max_rows: int, timeout_s: float, limits: Limits | None = None
    ) -> tuple[list[str], list[list[Any]], bool, int]:
        """Run one statement read-only under ``limits`` (default: the database's) with
        ``max_rows`` and ``timeout_s``: its columns, its rows (pulled with
        :func:`~slmgraph.tools.sql.base.take_rows`), whether rows were cut, their bytes."""

    # -- shared -------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact(self.url)!r})"

    @property
    def conn(self) -> Any:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                finally:
                    self._conn = None

    def quote(self, name: str) -> str:
        return exp.to_identifier(name, quoted=True).sql(dialect=self.dialect)

    def _cached(self) -> tuple[Schema, dict[tuple[str, str], list[str]]]:
        key = f"{type(self).__name__}:{redact(self.url)}"
        with _CACHE_LOCK:
            hit = _CACHE.get(key)
            if hit is not None and time.monotonic() - hit[0] < SCHEMA_TTL_S:
                return hit[1], hit[2]
        with self._lock:
            schema = self._introspect()
        values: dict[tuple[str, str], list[str]] = {}
        with _CACHE_LOCK:
            _CACHE[key] = (time.monotonic(), schema, values)
        return schema, values

    def schema(self) -> Schema:
        return self._cached()[0]

    def _introspect(self) -> Schema:
        cat = self._catalog()
        fks_of: dict[str, list[ForeignKey]] = {}
        for table, column, ref_table, ref_column in cat.foreign_keys:
            fks_of.setdefault(table, []).append(ForeignKey(table, column, ref_table, ref_column))
        cols_of: dict[str, list[tuple[str, str, bool, bool]]] = {}
        for table, column, ctype, not_null, pk in cat.columns:
            cols_of.setdefault(table, []).append((column, ctype, not_null, pk))
        tables: dict[str, Table] = {}
        for tname, kind in cat.tables:
            q = self.quote(tname)
            fk_cols = {fk.column for fk in fks_of.get(tname, [])}
            try:
                count = int(self._rows(f"SELECT count(*) FROM {q}", 1)[0][0])
            except DatabaseError:
                count = None
            columns = []
            for cname, ctype, not_null, pk in cols_of.get(tname, []):
                samples: tuple[str, ...] = ()
                if self.sample_values and not pk and cname not in fk_cols:
                    try:
                        samples = tuple(_short(v) for v in self._first_distinct(q, cname))
                    except DatabaseError:
                        samples = ()
                columns.append(Column(tname, cname, (ctype or "").upper(), pk, not_null, samples))
            tables[tname] = Table(tname, columns, fks_of.get(tname, []), count, kind)
        return Schema(self.dialect, tables)

    def _first_distinct(self, q: str, column: str, scan: int = 500) -> list[Any]:
        """The column's first distinct values in storage order, as SQLite's ``SELECT DISTINCT
        … LIMIT k`` returns them (PostgreSQL's DISTINCT hashes and returns any k): the prompt
        shows the same examples on every engine. A column with fewer than k distinct values
        in its first ``scan`` rows takes the rest from a DISTINCT query."""
        k, cq = int(self.sample_values), self.quote(column)
        where = f"FROM {q} WHERE {cq} IS NOT NULL"
        seen = list(
            dict.fromkeys(r[0] for r in self._rows(f"SELECT {cq} {where} LIMIT {scan}", scan))
        )
        if len(seen) < k:
            rows = self._rows(f"SELECT DISTINCT {cq} {where} LIMIT {k + len(seen)}", k + len(seen))
            seen += [v for v in dict.fromkeys(r[0] for r in rows) if v not in seen]
        return seen[:k]

    def _rows(self, sql: str, max_rows: int) -> list[Any]:
        limits = Limits(max_rows, CATALOG_TIMEOUT_S, _UNBOUNDED, _UNBOUNDED, _UNBOUNDED)
        with self._lock:
            return self._run(sql, max_rows, CATALOG_TIMEOUT_S, limits)[1]

    def distinct_values(self, table: str, column: str, limit: int = 2000) -> list[str]:
        _, cache = self._cached()
        key = (table, column)
        with _CACHE_LOCK:
            if key in cache:
                return cache[key]
        q, cq = self.quote(table), self.quote(column)
        try:
            sql = f"SELECT DISTINCT {cq} FROM {q} WHERE {cq} IS NOT NULL LIMIT {int(limit)}"
            rows = self._rows(sql, limit)
            values = [r[0] for r in rows if isinstance(r[0], str)]
        except DatabaseError:
            values = []
        with _CACHE_LOCK:
            cache[key] = values
        return values

    def native(self, sql: str) -> str:
        """The SQL a model wrote (SQLite's flavour) in this engine's dialect, names spelt as
        the schema spells them and quoted. Raises DatabaseError when sqlglot cannot read it."""
        try:
            tree = sqlglot.parse_one(sql, read=WRITE_DIALECT)
        except sqlglot.errors.SqlglotError as exc:
            raise DatabaseError(f"cannot read the SQL: {exc}") from None
        spell(tree, self.schema())
        extreme_rows(tree)
        if self.bare_columns is not None:
            wrap_bare_columns(tree, self.bare_columns)
        if self.limit_in_subquery is False:
            derive_limited_subqueries(tree)
        if self.case_sensitive_like:  # SQLite's LIKE ignores ASCII case; this engine's does not
            for like in list(tree.find_all(exp.Like)):
                like.replace(exp.ILike(this=like.this, expression=like.expression))
        return tree.sql(dialect=self.dialect, identify=True)

    def execute(
        self,
        sql: str,
        *,
        max_rows: int | None = None,
        timeout_s: float | None = None,
        limits: Limits | None = None,
    ) -> ExecResult:
        """Run one read-only statement in the engine's dialect (guard it first: guard.py) under
        ``limits``; the guard runs again here in that dialect."""
        lim = (limits or self.limits).but(max_rows=max_rows, timeout_s=timeout_s)
        try:
            guard(sql, self.dialect)
        except GuardError as exc:
            raise DatabaseError(f"refused: {exc}") from None
        start = time.perf_counter()
        with self._lock:
            columns, rows, truncated, size = self._run(sql, lim.max_rows, lim.timeout_s, lim)
        values = [[_plain(v) for v in r] for r in rows]
        return ExecResult(columns, values, truncated, time.perf_counter() - start, size)


def spell(tree: exp.Expr, schema: Schema) -> None:
    """Rename tables and columns in ``tree`` to the schema's spelling (engines that fold case
    or compare quoted names exactly need it); unknown names are left as written, except that a
    double-quoted name no table has and no alias defines is a string, as SQLite reads it
    (``WHERE name = "Rock"``)."""
    outputs = {a.alias.lower() for a in tree.find_all(exp.Alias) if a.alias}
    for column in list(tree.find_all(exp.Column)):
        ident = column.this
        if (
            isinstance(ident, exp.Identifier)
            and ident.quoted
            and not column.table
            and column.name.lower() not in outputs
            and not any(t.column(column.name) for t in schema.tables.values())
        ):
            column.replace(exp.Literal.string(column.name))
    # Aliases compare without case in SQLite (``t2`` defined, ``T2.id`` used): one spelling.
    spelt: dict[str, str] = {}
    for alias in tree.find_all(exp.TableAlias):
        if alias.name:
            spelt.setdefault(alias.name.lower(), alias.name)
    for column in tree.find_all(exp.Column):
        if column.table and column.table.lower() in spelt:
            column.set("table", exp.to_identifier(spelt[column.table.lower()]))
    aliases: dict[str, str] = {}
    for table in tree.find_all(exp.Table):
        canonical = schema.canonical(table.name)
        if canonical is not None:
            table.set("this", exp.to_identifier(canonical))
            if table.alias:
                aliases[table.alias.lower()] = canonical
    for column in tree.find_all(exp.Column):
        owner = column.table
        home = schema.table(aliases.get(owner.lower(), owner)) if owner else None
        candidates = [home] if home is not None else list(schema.tables.values())
        for t in candidates:
            col = t.column(column.name)
            if col is not None:
                column.set("this", exp.to_identifier(col.name))
                break
        if owner and owner.lower() not in aliases:
            canonical = schema.canonical(owner)
            if canonical is not None:
                column.set("table", exp.to_identifier(canonical))


_AGGREGATES = (exp.AggFunc,)


def wrap_bare_columns(tree: exp.Expr, aggregate: str) -> None:
    """In each grouped SELECT (GROUP BY, or an aggregate in its projections), wrap the columns
    of its projections, HAVING and ORDER BY that are neither grouped nor inside an aggregate in
    ``aggregate(...)``: ``SELECT name ... GROUP BY id`` and ``SELECT max(a), b FROM t``
    (SQLite's reading: a value of the group) run on engines that refuse bare columns."""
    for select in list(tree.find_all(exp.Select)):
        group = select.args.get("group")
        aggregated = any(e.find(*_AGGREGATES) is not None for e in select.expressions)
        if group is None and not aggregated:
            continue
        keys = group.expressions if group is not None else []
        grouped = {g.sql().lower() for g in keys}
        grouped |= {c.name.lower() for g in keys for c in g.find_all(exp.Column)}
        parts: list[exp.Expr] = list(select.expressions)
        for key in ("having", "order"):
            if select.args.get(key) is not None:
                parts.append(select.args[key])
        for part in parts:
            for column in list(part.find_all(exp.Column)):
                if column.find_ancestor(exp.Select) is not select:
                    continue  # a subquery's own column
                if column.find_ancestor(*_AGGREGATES) is not None:
                    continue
                if column.sql().lower() in grouped or column.name.lower() in grouped:
                    continue
                wrapped = exp.Anonymous(this=aggregate, expressions=[column.copy()])
                if column is part:  # a projection of its own: keep the column's name
                    column.replace(exp.alias_(wrapped, column.name))
                else:
                    column.replace(wrapped)


def extreme_rows(tree: exp.Expr) -> None:
    """``SELECT max(v), name FROM t`` (no GROUP BY): SQLite takes the bare columns from the row
    that holds the maximum (or minimum), a documented rule that strict engines lack. Written
    as that row: ``SELECT v, name FROM t WHERE v IS NOT NULL ORDER BY v DESC LIMIT 1``. Only
    for a SELECT with one MIN or MAX, no other aggregate, no GROUP BY, HAVING, ORDER BY,
    LIMIT or DISTINCT."""
    for select in list(tree.find_all(exp.Select)):
        if any(select.args.get(k) for k in ("group", "having", "order", "limit", "distinct")):
            continue
        aggs = [a for e in select.expressions for a in e.find_all(*_AGGREGATES)]
        if len(aggs) != 1 or not isinstance(aggs[0], exp.Max | exp.Min):
            continue
        agg = aggs[0]
        bare = [
            c for e in select.expressions for c in e.find_all(exp.Column)
            if c.find_ancestor(*_AGGREGATES) is None
        ]  # fmt: skip
        if not bare or agg.expressions or not isinstance(agg.this, exp.Expr):
            continue
        value = agg.this
        agg.replace(value.copy())
        select.where(exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null())), copy=False)
        select.order_by(exp.Ordered(this=value.copy(), desc=isinstance(agg, exp.Max)), copy=False)
        select.limit(1, copy=False)


def derive_limited_subqueries(tree: exp.Expr) -> None:
    """``x IN (SELECT … LIMIT 1)``, which MySQL and MariaDB refuse, as ``x IN (SELECT * FROM
    (SELECT … LIMIT 1) AS limited)``, their documented way round it."""
    for node in list(tree.find_all(exp.In)):
        query = node.args.get("query")
        if not isinstance(query, exp.Subquery):
            continue
        inner = query.this
        if isinstance(inner, exp.Select) and inner.args.get("limit") is not None:
            derived = exp.select("*").from_(
                exp.Subquery(
                    this=inner.copy(), alias=exp.TableAlias(this=exp.to_identifier("limited"))
                )
            )
            query.set("this", derived)


def _plain(value: Any) -> Any:
    """Values as SQLite returns them: a DECIMAL (PostgreSQL's AVG, MySQL's SUM) as a number."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _short(value: Any, limit: int = 40) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def db_name_of(url: str) -> str:
    """The database's name in a server URL (its path), for prompts and reports."""
    path = urlsplit(url).path.strip("/")
    return re.sub(r"[^\w.-]", "_", path.rsplit("/", 1)[-1]) or "database"


__all__ = ["CATALOG_TIMEOUT_S", "WRITE_DIALECT", "Catalog", "EngineDatabase", "redact", "spell"]
