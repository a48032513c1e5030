"""The guard: hostile and tricky statements are refused before they reach the database, the
database file stays byte-identical, and the read-only connection stands behind the guard."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from unittest import mock

import pytest

from slmgraph.tools.sql.database import DatabaseError, SQLiteDatabase
from slmgraph.tools.sql.guard import GuardError, guard

HOSTILE = [
    "DELETE FROM singer",
    "DROP TABLE singer",
    "DROP TABLE IF EXISTS singer",
    "INSERT INTO singer VALUES (9, 'x', 'y', 1)",
    "UPDATE singer SET name = 'x'",
    "REPLACE INTO singer VALUES (9, 'x', 'y', 1)",
    "INSERT OR REPLACE INTO singer (name) VALUES ('x')",
    "DELETE FROM singer WHERE singer_id IN (SELECT singer_id FROM singer)",
    "INSERT INTO singer SELECT * FROM singer RETURNING *",
    "WITH x AS (SELECT 1) DELETE FROM singer",
    "WITH x AS (SELECT 1) INSERT INTO singer SELECT 9, 'a', 'b', 1 FROM x",
    "WITH x AS (SELECT 1) UPDATE singer SET age = 1",
    "WITH RECURSIVE x AS (SELECT 1) DELETE FROM singer",
    "SELECT 1; DROP TABLE singer",
    "SELECT 1;\nDROP TABLE singer;",
    "SeLeCt 1; dRoP tAbLe singer",
    "SELECT 1; DELETE FROM singer",
    "select 1 union all select 2; drop table singer",
    "SELECT 1 -- harmless\n; DROP TABLE singer",
    "/* looks like a comment */ DROP TABLE singer",
    "SELECT 1 /* ; */ ; DROP TABLE singer",
    "SELECT name FROM singer; SELECT name FROM concert",
    "SELECT sqlite_version(); INSERT INTO singer VALUES (2, 'a', 'b', 3)",
    "SELECT * FROM singer; ATTACH 'evil.db' AS evil",
    "PRAGMA writable_schema = 1",
    "PRAGMA journal_mode = DELETE",
    "PRAGMA table_info(singer)",
    "ATTACH DATABASE '/tmp/slmgraph-evil.db' AS evil",
    "ATTACH '/tmp/slmgraph-evil.db' AS evil",
    "DETACH DATABASE main",
    "SELECT load_extension('/tmp/evil.so')",
    "SELECT name FROM singer WHERE load_extension('x') IS NULL",
    "SELECT readfile('/etc/passwd')",
    "SELECT writefile('/tmp/x', 'y')",
    "SELECT zeroblob(1000000000)",
    "SELECT pg_sleep(10)",
    "SELECT pg_read_file('/etc/passwd')",
    "CREATE TABLE t (a INT)",
    "CREATE TEMP TABLE t AS SELECT * FROM singer",
    "CREATE VIEW v AS SELECT * FROM singer",
    "CREATE INDEX i ON singer (name)",
    "CREATE TRIGGER tr AFTER INSERT ON singer BEGIN DELETE FROM singer; END",
    "ALTER TABLE singer ADD COLUMN x INT",
    "ALTER TABLE singer RENAME TO s2",
    "VACUUM",
    "VACUUM INTO '/tmp/slmgraph-copy.db'",
    "REINDEX",
    "ANALYZE",
    "BEGIN TRANSACTION",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT a",
    "SELECT * INTO backup FROM singer",
    "TRUNCATE TABLE singer",
    "GRANT ALL ON singer TO public",
    "SET search_path TO evil",
    "USE evil",
    "COPY singer TO '/tmp/slmgraph-out.csv'",
    "SELECT * FROM singer FOR UPDATE",
    "EXPLAIN SELECT * FROM singer",
    "SELECT * FROM (DELETE FROM singer RETURNING *)",
    "",
    "   ",
    "SELECT",
]

ALLOWED = [
    "SELECT 'DROP TABLE singer' AS s",
    "SELECT name FROM singer -- DROP TABLE singer",
    "SELECT name FROM singer /* DELETE FROM singer */",
    "SELECT name FROM singer WHERE name LIKE '%; DROP%'",
    "WITH x AS (SELECT singer_id FROM singer) SELECT * FROM x",
    "SELECT name FROM singer UNION SELECT concert_name FROM concert",
    "SELECT count(*) FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id",
    "SELECT name FROM singer WHERE singer_id IN (SELECT singer_id FROM concert)",
]


@pytest.fixture()
def db_file(tmp_path: Path) -> Path:
    path = tmp_path / "music.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT, country TEXT, age INT);
        CREATE TABLE concert (concert_id INTEGER PRIMARY KEY, concert_name TEXT,
                              singer_id INT REFERENCES singer(singer_id));
        INSERT INTO singer VALUES (1, 'Ana', 'Portugal', 31), (2, 'Ben', 'France', 45);
        INSERT INTO concert VALUES (1, 'Spring', 1), (2, 'Autumn', 2);
    """)
    conn.commit()
    conn.close()
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_at_least_fifty_hostile_statements() -> None:
    assert len(HOSTILE) >= 50


@pytest.mark.parametrize("sql", HOSTILE)
def test_hostile_statement_is_refused_before_the_database(db_file: Path, sql: str) -> None:
    from slmgraph.context import RunContext
    from slmgraph.loader import load_spec
    from slmgraph.plugins import lookup
    from slmgraph.registry import NodeEnv

    before = digest(db_file)
    with pytest.raises(GuardError):
        guard(sql)
    # Through the graph's execute node: refused, reported, and the database never called.
    impl = lookup("tool", "sql.execute")
    spec = load_spec("query_writer")
    node = impl.factory(NodeEnv("execute", impl.params(), spec))
    with mock.patch.object(SQLiteDatabase, "execute", autospec=True) as called:
        update = node({"sql": sql, "db": str(db_file)}, RunContext())
    assert not called.called
    assert update["outcome"] == "error" and update["exec_error"]
    assert update["rows"] == []
    assert digest(db_file) == before
    assert not Path("/tmp/slmgraph-evil.db").exists()


@pytest.mark.parametrize("sql", ALLOWED)
def test_tricky_but_read_only_statements_run(db_file: Path, sql: str) -> None:
    before = digest(db_file)
    guard(sql)
    SQLiteDatabase(db_file).execute(sql)
    assert digest(db_file) == before


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM singer",
        "INSERT INTO singer VALUES (3, 'c', 'd', 1)",
        "ATTACH DATABASE '/tmp/slmgraph-evil.db' AS evil",
        "PRAGMA writable_schema = 1",
        "SELECT load_extension('x')",
        "CREATE TABLE t (a)",
    ],
)
def test_read_only_connection_backs_up_the_guard(db_file: Path, sql: str) -> None:
    """Even a statement that skipped the guard cannot write: the connection refuses it."""
    before = digest(db_file)
    with pytest.raises(DatabaseError):
        SQLiteDatabase(db_file).execute(sql)
    assert digest(db_file) == before
    assert not Path("/tmp/slmgraph-evil.db").exists()


def test_row_limit_and_timeout(db_file: Path) -> None:
    db = SQLiteDatabase(db_file)
    result = db.execute("SELECT * FROM singer", max_rows=1)
    assert len(result.rows) == 1 and result.truncated
    slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    with pytest.raises(DatabaseError, match="timeout"):
        db.execute(slow, timeout_s=0.3)


def test_wrong_path_creates_no_file(tmp_path: Path) -> None:
    from slmgraph.tools.sql.database import open_database

    missing = tmp_path / "nope.sqlite"
    with pytest.raises(DatabaseError, match="no SQLite database"):
        open_database(missing)
    assert not missing.exists()
