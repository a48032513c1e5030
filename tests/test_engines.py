"""The query-writer's databases on real engines: DuckDB in process, PostgreSQL 16 (pgserver)
and MariaDB (Debian's mariadb-server) on throwaway servers, each holding the demo shop
copied from SQLite by the loader. On each: the schema reads as SQLite's does, SQLite-flavoured
SQL translates and returns SQLite's rows, writes are refused by the database itself (read-only
transactions and a role that may only SELECT), a slow statement stops at its timeout, passwords
never appear in messages, and the graph and `slmgraph ask --db URL` answer."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from slmgraph import load_spec, run
from slmgraph.testing.servers import mariadb_server
from slmgraph.tools.sql.base import DatabaseError
from slmgraph.tools.sql.database import engine_of, open_database
from slmgraph.tools.sql.demo import build_demo_db
from slmgraph.tools.sql.engine import redact
from slmgraph.tools.sql.load import load_sqlite
from slmgraph.tools.sql.match import execution_match

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_db(tmp_path_factory.mktemp("shop") / "shop.sqlite")


@pytest.fixture(scope="module")
def duckdb_url(shop: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    pytest.importorskip("duckdb", reason="the 'duckdb' extra is not installed")
    url = f"duckdb:///{tmp_path_factory.mktemp('duck') / 'shop.duckdb'}"
    load_sqlite(shop, url)
    return url


@pytest.fixture(scope="module")
def postgres_url(shop: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pgserver = pytest.importorskip("pgserver", reason="pgserver (PostgreSQL on PyPI) absent")
    psycopg = pytest.importorskip("psycopg", reason="the 'postgres' extra is not installed")
    server: Any = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    try:
        admin = str(server.get_uri())
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("CREATE DATABASE shop")
            conn.execute("CREATE ROLE reader LOGIN PASSWORD 'pg-secret-123'")
        shop_admin = admin.replace("/postgres?", "/shop?")
        load_sqlite(shop, shop_admin)
        with psycopg.connect(shop_admin, autocommit=True) as conn:
            conn.execute("GRANT USAGE ON SCHEMA public TO reader")
            conn.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader")
        yield shop_admin.replace("postgresql://postgres:@", "postgresql://reader:pg-secret-123@")
    finally:
        server.cleanup()


@pytest.fixture(scope="module")
def mariadb_url(shop: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pymysql = pytest.importorskip("pymysql", reason="the 'mysql' extra is not installed")
    try:
        with mariadb_server(tmp_path_factory.mktemp("maria")) as sock:
            conn = pymysql.connect(unix_socket=str(sock), user="root", autocommit=True)
            with conn.cursor() as cur:
                cur.execute("CREATE DATABASE shop")
                cur.execute("CREATE USER 'reader'@'localhost' IDENTIFIED BY 'my-secret-456'")
                cur.execute("GRANT SELECT ON shop.* TO 'reader'@'localhost'")
            conn.close()
            load_sqlite(shop, f"mysql://root@localhost/shop?unix_socket={sock}")
            yield f"mysql://reader:my-secret-456@localhost/shop?unix_socket={sock}"
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture(params=["duckdb", "postgres", "mariadb"])
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_url"))


QUERIES = [
    "SELECT count(*) FROM customers",
    "SELECT city FROM customers GROUP BY city ORDER BY count(*) DESC LIMIT 1",
    "SELECT T1.name FROM products AS T1 JOIN categories AS T2 ON T1.category_id = "
    "T2.category_id WHERE T2.name = 'Books'",
    # a bare column (SQLite takes it from the group; strict engines need it wrapped)
    "SELECT T1.name, count(*) FROM customers AS T1 JOIN orders AS T2 ON T1.customer_id = "
    "T2.customer_id GROUP BY T1.customer_id ORDER BY count(*) DESC, T1.customer_id LIMIT 3",
    # SQLite's LIKE ignores case
    "SELECT name FROM products WHERE name LIKE '%the%' ORDER BY name",
    "SELECT name || ' (' || city || ')' FROM customers ORDER BY customer_id LIMIT 2",
    "SELECT avg(price) FROM products WHERE stock > 10",
    "SELECT status, count(*) FROM orders GROUP BY status ORDER BY status",
    # a double-quoted name that no table has is a string in SQLite
    'SELECT count(*) FROM orders WHERE status = "shipped"',
    # an aggregate beside a bare column, no GROUP BY (one row either way)
    "SELECT max(price), count(name) FROM products",
    # an alias spelt in two cases (SQLite ignores case in names)
    "SELECT t1.name FROM products AS T1 WHERE T1.price > 10 ORDER BY t1.name",
    # SUM of a whole-number column: a DECIMAL on PostgreSQL and MySQL, a number here
    "SELECT sum(stock) FROM products",
    # SQLite takes a bare column beside MAX from the row holding the maximum
    "SELECT max(price), name FROM products",
    "SELECT name, min(price) FROM products WHERE stock > 0",
    # MySQL and MariaDB refuse LIMIT in an IN subquery
    "SELECT name FROM customers WHERE customer_id IN (SELECT customer_id FROM orders "
    "GROUP BY customer_id ORDER BY count(*) DESC, customer_id LIMIT 1)",
    # a key's label as the check node adds it (tools/sql/labels.py): a correlated scalar subquery
    'SELECT customer_id, (SELECT "_l"."name" FROM "customers" AS _l WHERE "_l"."customer_id" = '
    '"orders"."customer_id") AS "name" FROM orders GROUP BY customer_id '
    "ORDER BY count(*) DESC, customer_id LIMIT 1",
    # = compares exactly, as in SQLite (the loader's collation on MySQL/MariaDB)
    "SELECT count(*) FROM orders WHERE status = 'SHIPPED'",
    "SELECT count(*) FROM orders WHERE status = 'shipped '",
    "SELECT count(*) FROM products WHERE name LIKE '%THE%'",
]


def test_urls_name_their_engines() -> None:
    assert engine_of("shop.sqlite") == "sqlite" and engine_of("sqlite:///x.db") == "sqlite"
    assert engine_of("a.duckdb") == "duckdb" and engine_of("duckdb:///a.db") == "duckdb"
    assert engine_of("postgresql+psycopg://u@h/d") == "postgres"
    assert engine_of("mariadb://u@h/d") == engine_of("mysql+pymysql://u@h/d") == "mysql"
    with pytest.raises(DatabaseError, match="unknown database URL scheme 'oracle'"):
        engine_of("oracle://u@h/d")
    assert redact("postgresql://me:s3cret@host:5432/db") == "postgresql://me:***@host:5432/db"


def test_the_schema_reads_as_sqlites(url: str, shop: Path) -> None:
    mine, theirs = open_database(url).schema(), open_database(shop).schema()
    assert sorted(mine.tables) == sorted(theirs.tables)
    for name, table in theirs.tables.items():
        other = mine.tables[name]
        assert [c.name for c in other.columns] == [c.name for c in table.columns], name
        assert other.row_count == table.row_count and other.primary_key == table.primary_key
        assert {(f.column, f.ref_table) for f in other.foreign_keys} == {
            (f.column, f.ref_table) for f in table.foreign_keys
        }, name


@pytest.mark.parametrize("sql", QUERIES)
def test_sqlite_flavoured_sql_returns_sqlites_rows(url: str, shop: Path, sql: str) -> None:
    expected = open_database(shop).execute(sql, max_rows=100).rows
    db = open_database(url)
    got = db.execute(db.native(sql), max_rows=100).rows

    def norm(rows: list[list[Any]]) -> list[list[Any]]:
        return [[round(float(v), 6) if isinstance(v, int | float) else v for v in r] for r in rows]

    assert norm(got) == norm(expected), db.native(sql)
    assert execution_match(db, sql, sql)[0]


def test_an_answer_on_an_engine_is_judged_against_the_gold_on_sqlite(url: str, shop: Path) -> None:
    sql = "SELECT city, count(*) FROM customers GROUP BY city"
    assert execution_match(url, sql, sql, gold_db=shop)[0]
    wrong = "SELECT city FROM customers"
    assert not execution_match(url, sql, wrong, gold_db=shop)[0]


@pytest.mark.parametrize(
    "write",
    [
        "INSERT INTO categories VALUES (99, 'x')",
        "DELETE FROM orders",
        "UPDATE products SET price = 0",
        "CREATE TABLE t (a INT)",
        "DROP TABLE customers",
    ],
)
def test_the_database_itself_refuses_writes(url: str, write: str) -> None:
    """Past the guard (calling the engine directly), the read-only transaction, the SELECT-only
    role or DuckDB's read-only connection refuses every write."""
    db = open_database(url)
    with pytest.raises(DatabaseError):
        db._run(write, 1, 5.0)  # type: ignore[attr-defined]
    assert db.execute("SELECT count(*) FROM orders").rows == [[150]]


def test_the_guard_runs_in_the_engines_dialect_too(url: str) -> None:
    db = open_database(url)
    with pytest.raises(DatabaseError, match="refused"):
        db.execute("SELECT 1; DROP TABLE customers")


def test_a_slow_statement_stops_at_its_timeout(url: str) -> None:
    db = open_database(url)
    slow = db.native(
        "SELECT count(*) FROM order_items AS a, order_items AS b, order_items AS c, "
        "order_items AS d"
    )
    with pytest.raises(DatabaseError, match="timeout"):
        db.execute(slow, timeout_s=0.5)
    assert db.execute(db.native("SELECT count(*) FROM categories")).rows == [[5]]


def test_rows_are_limited(url: str) -> None:
    db = open_database(url)
    result = db.execute(db.native("SELECT order_id FROM orders ORDER BY order_id"), max_rows=7)
    assert len(result.rows) == 7 and result.truncated


def test_passwords_never_show(url: str) -> None:
    secret = "pg-secret-123" if "postgresql" in url else "my-secret-456"
    if "duckdb" in url:
        pytest.skip("DuckDB has no password")
    broken = url.replace("host=/", "host=/nonexistent/").replace("socket=/", "socket=/x/")
    db = open_database(broken)
    assert secret not in repr(db)
    with pytest.raises(DatabaseError) as info:
        db.execute("SELECT 1")
    assert secret not in str(info.value) and "***" in str(info.value)


SCRIPTED = {
    "slm": {
        "backend": "scripted",
        "settings": {
            "rules": [
                {
                    "node": "write_sql",
                    "match": "How many customers",
                    "output": "SELECT count(*) FROM customers",
                },
                {
                    "node": "write_sql",
                    "output": "SELECT city FROM customers GROUP BY city "
                    "ORDER BY count(*) DESC LIMIT 1",
                },
            ]
        },
    },
    "llm": {"backend": "scripted", "settings": {"default": "SELECT 1"}},
}


def test_the_query_writer_answers_on_each_engine(url: str) -> None:
    spec = load_spec("query_writer", tier_overrides=SCRIPTED)
    result = run(spec, {"question": "Which city has the most customers?", "db": url},
                 call_log=False)  # fmt: skip
    assert result.status == "ok", result.error
    assert result.output["answer"] == "The answer is Berlin."
    assert result.output["sql_native"] != result.output["sql"]  # translated, quoted


def test_ask_takes_a_url(url: str, tmp_path: Path) -> None:
    tiers = tmp_path / "tiers.yaml"
    import yaml

    tiers.write_text(yaml.safe_dump({"tiers": SCRIPTED}))
    env = {**os.environ, "SLMGRAPH_TIERS": str(tiers)}
    out = subprocess.run(
        [sys.executable, "-m", "slmgraph", "ask", "--db", url, "--no-log",
         "How many customers are there?"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Answer: The answer is 40." in out.stdout
    for secret in ("pg-secret-123", "my-secret-456"):
        assert secret not in out.stdout + out.stderr
