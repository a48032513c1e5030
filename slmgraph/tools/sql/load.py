"""Copy a SQLite database into DuckDB, PostgreSQL or MySQL/MariaDB, deterministically: the same
tables, columns, keys and rows, so one question set measures every engine side by side (the
tests' fixtures, ``benchmarks/engines.py``'s Spider databases).

Types follow the values, as SQLite's comparisons do: a column whose values are all integers
(or text that reads back as one, like ``'2014'``) is BIGINT, all numbers DOUBLE, else text —
Spider's data is not always what its schema says, and strict engines refuse to compare text
with numbers. A primary key the data violates is left out, as is a foreign key the data
violates or the engine cannot hold (PostgreSQL and MySQL want the referenced columns unique);
:class:`Loaded` says what was left out. On MySQL/MariaDB text is stored under a binary,
no-pad collation, so that ``=`` compares as SQLite's does (the servers' default collations
ignore case and trailing spaces). Loading needs a role that may create tables, unlike the
query-writer, which should connect as one that may only SELECT.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot import exp

from slmgraph.tools.sql.base import DatabaseError
from slmgraph.tools.sql.database import _file_of, engine_of
from slmgraph.tools.sql.mysql_db import connect_args

_DIALECT = {"duckdb": "duckdb", "postgres": "postgres", "mysql": "mysql"}
_TYPES = {
    "duckdb": {
        "int": "BIGINT", "real": "DOUBLE", "text": "VARCHAR", "key": "VARCHAR", "blob": "BLOB",
    },
    "postgres": {
        "int": "BIGINT", "real": "DOUBLE PRECISION", "text": "TEXT", "key": "TEXT", "blob": "BYTEA",
    },
    "mysql": {
        "int": "BIGINT", "real": "DOUBLE", "text": "TEXT", "key": "VARCHAR(191)",
        "blob": "LONGBLOB",
    },
}  # fmt: skip


@dataclass
class Loaded:
    """What a load did: tables and rows copied, and every constraint it had to leave out."""

    tables: int = 0
    rows: int = 0
    left_out: list[str] = field(default_factory=list)


@dataclass
class _Table:
    name: str
    columns: list[tuple[str, str, bool]]  # name, kind (int/real/text/blob), not null
    pk: list[str]
    fks: list[tuple[list[str], str, list[str]]]
    rows: list[tuple[Any, ...]]


def _as_number(value: Any) -> int | float | None:
    """A value as SQLite's numeric affinity would store it: numbers, and text that reads back
    the same (``'2014'``, not ``'02134'``)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    if not isinstance(value, str):
        return value
    text = value.strip()
    for cast in (int, float):
        try:
            number = cast(text)
        except ValueError:
            continue
        if str(number) == text:
            return number
    return None


def _kind(declared: str, values: list[Any]) -> str:
    """A column's type on a strict engine, from its values: SQLite compares a text column
    holding '2014' with the number 2014; PostgreSQL and DuckDB refuse unless it is a number."""
    present = [v for v in values if v is not None]
    if any(isinstance(v, bytes) for v in present):
        return "blob" if all(isinstance(v, bytes) for v in present) else "text"
    numbers = [_as_number(v) for v in present]
    if present and all(n is not None for n in numbers):
        return "int" if all(isinstance(n, int) for n in numbers) else "real"
    if not present and any(k in declared.upper() for k in ("INT", "REAL", "FLOA", "DOUB", "NUM")):
        return "int" if "INT" in declared.upper() else "real"
    return "text"


def read_sqlite(path: str | Path) -> list[_Table]:
    conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
    conn.text_factory = lambda b: b.decode("utf-8", errors="replace")
    try:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                "ORDER BY name"
            )
        ]
        tables = []
        for name in names:
            q = '"' + name.replace('"', '""') + '"'
            info = conn.execute(f"PRAGMA table_info({q})").fetchall()
            rows = [tuple(r) for r in conn.execute(f"SELECT * FROM {q}").fetchall()]
            columns = [
                (c[1], _kind(c[2] or "", [r[i] for r in rows]), bool(c[3]))
                for i, c in enumerate(info)
            ]
            pk = [c[1] for c in sorted(info, key=lambda c: c[5]) if c[5]]
            groups: dict[int, tuple[list[str], str, list[str]]] = {}
            for fk in conn.execute(f"PRAGMA foreign_key_list({q})").fetchall():
                g = groups.setdefault(fk[0], ([], fk[2], []))
                g[0].append(fk[3])
                g[2].append(fk[4] or "")
            tables.append(_Table(name, columns, pk, list(groups.values()), rows))
        return tables
    finally:
        conn.close()


def _resolve_fks(tables: list[_Table]) -> None:
    """Foreign keys name real tables and columns (SQLite lets them name neither, or leave the
    referenced column out for the primary key)."""
    by_name = {t.name.lower(): t for t in tables}
    for t in tables:
        fixed = []
        for cols, ref, ref_cols in t.fks:
            target = by_name.get(ref.lower())
            if target is None:
                continue
            if not all(ref_cols):
                ref_cols = target.pk if len(target.pk) == len(cols) else []
            names = {c[0].lower(): c[0] for c in target.columns}
            if ref_cols and all(c.lower() in names for c in ref_cols):
                fixed.append((cols, target.name, [names[c.lower()] for c in ref_cols]))
        t.fks = fixed


def _parents_first(tables: list[_Table]) -> list[_Table]:
    """Tables ordered so that a referenced table comes before those referencing it (cycles and
    self-references are broken where they close), otherwise by name."""
    by_name = {t.name: t for t in tables}
    done: list[_Table] = []
    seen: set[str] = set()

    def visit(t: _Table, path: set[str]) -> None:
        if t.name in seen or t.name in path:
            return
        for _, ref, _ in t.fks:
            if ref != t.name and ref in by_name:
                visit(by_name[ref], path | {t.name})
        if t.name not in seen:
            seen.add(t.name)
            done.append(t)

    for t in sorted(tables, key=lambda t: t.name):
        visit(t, set())
    return done


def _unique(rows: list[tuple[Any, ...]], idx: list[int]) -> bool:
    seen = set()
    for r in rows:
        key = tuple(r[i] for i in idx)
        if key in seen or any(v is None for v in key):
            return False
        seen.add(key)
    return True


def load_sqlite(source: str | Path, target: str, *, replace: bool = True) -> Loaded:
    """Copy the SQLite file ``source`` into the empty (or, with ``replace``, emptied) database at
    ``target`` (a ``duckdb:///``, ``postgresql://`` or ``mysql://`` URL with write access)."""
    engine = engine_of(target)
    if engine not in _DIALECT:
        raise DatabaseError(f"cannot load into {engine!r}: duckdb, postgres or mysql")
    tables = read_sqlite(source)
    _resolve_fks(tables)
    loaded = Loaded()
    writer = _Writer(engine, target)
    try:
        if replace:
            for t in reversed(tables):
                writer.drop(t.name)
        keys_of: dict[str, set[str]] = {}
        for t in tables:
            idx = [i for i, c in enumerate(t.columns) if c[0] in t.pk]
            if t.pk and not _unique(t.rows, idx):
                loaded.left_out.append(f"{t.name}: primary key ({', '.join(t.pk)}) not unique")
                t.pk = []
            keys_of[t.name] = {c.lower() for c in t.pk}
        order = _parents_first(tables)
        by_name = {t.name: t for t in tables}
        created: set[str] = set()
        for t in order:
            key_cols = set(t.pk) | {c for cols, _, _ in t.fks for c in cols}
            key_cols |= {c for o in tables for _, ref, rc in o.fks if ref == t.name for c in rc}
            inline = []
            if engine == "duckdb":  # DuckDB takes foreign keys only in CREATE TABLE
                for cols, ref, ref_cols in t.fks:
                    what = f"{t.name} ({', '.join(cols)}) -> {ref} ({', '.join(ref_cols)})"
                    kinds = {c[0]: c[1] for c in t.columns}
                    ref_kinds = {c[0]: c[1] for c in by_name[ref].columns}
                    same = all(
                        kinds[c] == ref_kinds[r] for c, r in zip(cols, ref_cols, strict=True)
                    )
                    if not same:
                        loaded.left_out.append(f"foreign key {what}: the types differ")
                    elif ref not in created or {c.lower() for c in ref_cols} != keys_of[ref]:
                        loaded.left_out.append(
                            f"foreign key {what}: DuckDB needs it in CREATE TABLE, after the "
                            "table it references, on that table's primary key"
                        )
                    else:
                        inline.append((cols, ref, ref_cols))
            writer.create(t, key_cols, inline)
            try:
                writer.insert(t)
            except Exception:  # the data violates an inline foreign key
                if not inline:
                    raise
                loaded.left_out += [
                    f"foreign key {t.name} ({', '.join(c)}) -> {r}: the data violates it"
                    for c, r, _ in inline
                ]
                writer.drop(t.name)
                writer.create(t, key_cols, [])
                writer.insert(t)
            created.add(t.name)
            loaded.tables += 1
            loaded.rows += len(t.rows)
        for t in tables if engine != "duckdb" else []:
            for cols, ref, ref_cols in t.fks:
                what = f"{t.name} ({', '.join(cols)}) -> {ref} ({', '.join(ref_cols)})"
                if {c.lower() for c in ref_cols} != keys_of.get(ref, set()) and engine != "duckdb":
                    loaded.left_out.append(f"foreign key {what}: not the referenced primary key")
                    continue
                reason = writer.foreign_key(t.name, cols, ref, ref_cols)
                if reason:
                    loaded.left_out.append(f"foreign key {what}: {reason}")
        writer.commit()
    finally:
        writer.close()
    return loaded


class _Writer:
    """DDL and rows in one engine's dialect, through its own driver."""

    def __init__(self, engine: str, url: str) -> None:
        self.engine, self.dialect, self.types = engine, _DIALECT[engine], _TYPES[engine]
        if engine == "duckdb":
            import duckdb

            self.conn: Any = duckdb.connect(str(_file_of(url)))
            self.placeholder = "?"
        elif engine == "postgres":
            import psycopg

            self.conn = psycopg.connect(url.replace("+psycopg", ""), autocommit=False)
            self.placeholder = "%s"
        else:
            import pymysql

            self.conn = pymysql.connect(
                **{**connect_args(url.replace("+pymysql", "")), "autocommit": False}
            )
            self.placeholder = "%s"
            cur = self.conn.cursor()
            cur.execute("SELECT VERSION()")
            mariadb = "mariadb" in str(cur.fetchone()[0]).lower()
            cur.close()
            # Text compared as SQLite compares it: by bytes, trailing spaces counted (the
            # default collations ignore case and pad spaces: 'Anthony ' = 'anthony').
            self.collation = "utf8mb4_nopad_bin" if mariadb else "utf8mb4_0900_bin"
        self.fk_later: dict[str, list[str]] = {}

    def q(self, name: str) -> str:
        return exp.to_identifier(name, quoted=True).sql(dialect=self.dialect)

    def run(self, sql: str, params: Any = None) -> None:
        cur = self.conn.cursor()
        try:
            cur.execute(sql, params) if params is not None else cur.execute(sql)
        finally:
            cur.close()

    def drop(self, name: str) -> None:
        suffix = " CASCADE" if self.engine == "postgres" else ""
        self.run(f"DROP TABLE IF EXISTS {self.q(name)}{suffix}")

    def create(
        self, t: _Table, key_cols: set[str], fks: list[tuple[list[str], str, list[str]]]
    ) -> None:
        cols = []
        for name, kind, not_null in t.columns:
            ctype = self.types["key"] if kind == "text" and name in key_cols else self.types[kind]
            cols.append(f"{self.q(name)} {ctype}{' NOT NULL' if not_null or name in t.pk else ''}")
        if t.pk:
            cols.append(f"PRIMARY KEY ({', '.join(self.q(c) for c in t.pk)})")
        for fk_cols, ref, ref_cols in fks:
            cols.append(
                f"FOREIGN KEY ({', '.join(self.q(c) for c in fk_cols)}) REFERENCES "
                f"{self.q(ref)} ({', '.join(self.q(c) for c in ref_cols)})"
            )
        suffix = ""
        if self.engine == "mysql":
            suffix = f" DEFAULT CHARSET = utf8mb4 COLLATE = {self.collation}"
        self.run(f"CREATE TABLE {self.q(t.name)} ({', '.join(cols)}){suffix}")

    def insert(self, t: _Table) -> None:
        if not t.rows:
            return
        marks = ", ".join([self.placeholder] * len(t.columns))
        sql = f"INSERT INTO {self.q(t.name)} VALUES ({marks})"
        kinds = [k for _, k, _ in t.columns]
        rows = [tuple(_cast(v, k) for v, k in zip(r, kinds, strict=True)) for r in t.rows]
        cur = self.conn.cursor()
        try:
            cur.executemany(sql, rows)
        finally:
            cur.close()

    def foreign_key(self, table: str, cols: list[str], ref: str, ref_cols: list[str]) -> str | None:
        if self.engine == "duckdb":
            return "DuckDB cannot add a foreign key to an existing table"
        sql = (
            f"ALTER TABLE {self.q(table)} ADD FOREIGN KEY ({', '.join(self.q(c) for c in cols)}) "
            f"REFERENCES {self.q(ref)} ({', '.join(self.q(c) for c in ref_cols)})"
        )
        try:
            if self.engine == "postgres":
                self.run("SAVEPOINT fk")
            self.run(sql)
            if self.engine == "postgres":
                self.run("RELEASE SAVEPOINT fk")
        except Exception as exc:  # the data violates it, or the engine refuses its shape
            if self.engine == "postgres":
                self.run("ROLLBACK TO SAVEPOINT fk")
            return str(exc).strip().split("\n")[0][:160]
        return None

    def commit(self) -> None:
        self.conn.commit()

    def close(self) -> None:
        self.conn.close()


def _cast(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "text" and not isinstance(value, str):
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    if kind in ("int", "real") and isinstance(value, str):
        return _as_number(value)
    return value


__all__ = ["Loaded", "load_sqlite", "read_sqlite"]
