"""A database schema as introspected: tables, columns, types, keys, row counts, sample values.

Dialect-agnostic: what a prompt, a grammar and sqlglot's qualifier need, whatever the engine.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    table: str
    name: str
    type: str
    primary_key: bool = False
    not_null: bool = False
    samples: tuple[str, ...] = ()


@dataclass(frozen=True)
class ForeignKey:
    table: str
    column: str
    ref_table: str
    ref_column: str


@dataclass
class Table:
    name: str
    columns: list[Column]
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    row_count: int | None = None
    kind: str = "table"  # or "view"

    @property
    def primary_key(self) -> list[str]:
        return [c.name for c in self.columns if c.primary_key]

    def column(self, name: str) -> Column | None:
        low = name.lower()
        return next((c for c in self.columns if c.name.lower() == low), None)


@dataclass
class Schema:
    dialect: str
    tables: dict[str, Table]

    def table(self, name: str) -> Table | None:
        if name in self.tables:
            return self.tables[name]
        low = name.lower()
        return next((t for n, t in self.tables.items() if n.lower() == low), None)

    def canonical(self, name: str) -> str | None:
        t = self.table(name)
        return t.name if t else None

    def mapping(self, tables: list[str] | None = None) -> dict[str, dict[str, str]]:
        """``{table: {column: type}}`` for sqlglot's MappingSchema."""
        names = tables if tables is not None else list(self.tables)
        out: dict[str, dict[str, str]] = {}
        for n in names:
            t = self.table(n)
            if t is not None:
                out[t.name] = {c.name: (c.type or "TEXT") for c in t.columns}
        return out

    def neighbours(self, table: str) -> set[str]:
        """Tables linked to ``table`` by a foreign key, in either direction."""
        out: set[str] = set()
        for t in self.tables.values():
            for fk in t.foreign_keys:
                a, b = fk.table, self.canonical(fk.ref_table) or fk.ref_table
                if a == table and b in self.tables:
                    out.add(b)
                elif b == table:
                    out.add(a)
        out.discard(table)
        return out

    def join_path(self, a: str, b: str, max_hops: int = 3) -> list[str] | None:
        """The shortest chain of tables from ``a`` to ``b`` along foreign keys."""
        if a == b:
            return [a]
        prev: dict[str, str | None] = {a: None}
        queue = deque([(a, 0)])
        while queue:
            cur, depth = queue.popleft()
            if depth >= max_hops:
                continue
            for nxt in sorted(self.neighbours(cur)):
                if nxt in prev:
                    continue
                prev[nxt] = cur
                if nxt == b:
                    path = [b]
                    while prev[path[-1]] is not None:
                        path.append(prev[path[-1]])  # type: ignore[arg-type]
                    return path[::-1]
                queue.append((nxt, depth + 1))
        return None

    def join_keys(self, tables: list[str]) -> dict[str, set[str]]:
        """Primary-key and foreign-key columns that join the given tables to each other."""
        keep = set(tables)
        out: dict[str, set[str]] = {t: set() for t in tables}
        for t in tables:
            table = self.tables[t]
            out[t].update(table.primary_key)
            for fk in table.foreign_keys:
                ref = self.canonical(fk.ref_table)
                if ref in keep:
                    out[t].add(fk.column)
                    if ref is not None:
                        ref_col = fk.ref_column or (self.tables[ref].primary_key or [""])[0]
                        if ref_col:
                            out[ref].add(ref_col)
        return out

    def ddl(
        self,
        columns: dict[str, list[str]] | None = None,
        *,
        samples: bool = True,
        hints: dict[str, dict[str, list[str]]] | None = None,
    ) -> str:
        """CREATE TABLE text for a prompt: the given tables/columns (all when None), with keys,
        a few sample values, and value hints (values that match the question) as comments."""
        chosen = (
            columns
            if columns is not None
            else {n: [c.name for c in t.columns] for n, t in self.tables.items()}
        )
        parts = []
        for tname, cols in chosen.items():
            table = self.table(tname)
            if table is None:
                continue
            wanted = {c.lower() for c in cols}
            lines: list[tuple[str, str]] = []
            for c in table.columns:
                if c.name.lower() not in wanted:
                    continue
                line = f"  {quote_ident(c.name)} {c.type or 'TEXT'}"
                if c.primary_key and len(table.primary_key) == 1:
                    line += " PRIMARY KEY"
                notes = []
                hinted = (hints or {}).get(table.name, {}).get(c.name)
                if hinted:
                    notes.append("matches: " + ", ".join(repr(v) for v in hinted))
                elif samples and c.samples:
                    notes.append("e.g. " + ", ".join(repr(v) for v in c.samples))
                lines.append((line, f" -- {'; '.join(notes)}" if notes else ""))
            if len(table.primary_key) > 1:
                pk = ", ".join(quote_ident(k) for k in table.primary_key if k.lower() in wanted)
                if pk:
                    lines.append((f"  PRIMARY KEY ({pk})", ""))
            for fk in table.foreign_keys:
                ref = self.canonical(fk.ref_table)
                if fk.column.lower() in wanted and ref in chosen:
                    target = quote_ident(ref or fk.ref_table)
                    lines.append(
                        (
                            f"  FOREIGN KEY ({quote_ident(fk.column)}) REFERENCES "
                            f"{target}({quote_ident(fk.ref_column)})",
                            "",
                        )
                    )
            # The separating comma goes before a line's comment, not inside it.
            body = "\n".join(
                code + ("," if i < len(lines) - 1 else "") + note
                for i, (code, note) in enumerate(lines)
            )
            parts.append(f"CREATE TABLE {quote_ident(table.name)} (\n{body}\n);")
        return "\n".join(parts)


def quote_ident(name: str) -> str:
    """Quote an identifier only when it needs it (keeps prompts natural)."""
    import re

    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and name.upper() not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


_RESERVED = {
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "ORDER",
    "BY",
    "HAVING",
    "LIMIT",
    "JOIN",
    "ON",
    "AS",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "TABLE",
    "INDEX",
    "KEY",
    "PRIMARY",
    "FOREIGN",
    "REFERENCES",
    "UNION",
    "ALL",
    "DISTINCT",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "DEFAULT",
    "CHECK",
    "VALUES",
    "INSERT",
    "UPDATE",
    "DELETE",
    "CREATE",
    "DROP",
    "ALTER",
    "TO",
    "WITH",
}
