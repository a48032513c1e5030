"""SQL tools on real databases: introspection, the checker's repair messages, BM25 prefilter,
value hints, SQL extraction from free text, and the deterministic demo database."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from conftest import SHARED_DATA
from slmgraph.tools.sql.check import check_sql
from slmgraph.tools.sql.database import open_database
from slmgraph.tools.sql.demo import build_demo_db
from slmgraph.tools.sql.prefilter import prefilter, rank_tables
from slmgraph.tools.sql.text import extract_sql
from slmgraph.tools.sql.values import value_hints

CHINOOK = SHARED_DATA / "samples" / "chinook.sqlite"
needs_chinook = pytest.mark.skipif(
    not CHINOOK.exists(), reason=f"{CHINOOK} not found (see ../shared/data/README.md)"
)


@needs_chinook
def test_introspection_of_chinook() -> None:
    schema = open_database(CHINOOK).schema()
    assert len(schema.tables) == 11
    track = schema.tables["Track"]
    assert track.row_count == 3503 and track.primary_key == ["TrackId"]
    assert {(fk.column, fk.ref_table) for fk in track.foreign_keys} >= {
        ("AlbumId", "Album"),
        ("GenreId", "Genre"),
        ("MediaTypeId", "MediaType"),
    }
    assert schema.join_path("Track", "Customer") == ["Track", "InvoiceLine", "Invoice", "Customer"]
    ddl = schema.ddl({"Track": ["TrackId", "Name", "AlbumId"], "Album": ["AlbumId", "Title"]})
    assert (
        "CREATE TABLE Track (" in ddl and "FOREIGN KEY (AlbumId) REFERENCES Album(AlbumId)" in ddl
    )
    assert "'Balls to the Wall'" in ddl  # sample values as comments
    assert "TrackId INTEGER PRIMARY KEY," in ddl  # no samples on key columns


@needs_chinook
@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        (
            "SELECT Nam FROM Track",
            "Column 'Nam' could not be resolved. Line: 1, Col: 10 Did you mean 'Name'?",
        ),
        ("SELECT count(*) FROM Trak", "unknown table 'Trak'. Did you mean 'Track'?"),
        (
            "SELECT T2.ArtistId FROM Track AS T1 JOIN Genre AS T2 ON T1.GenreId = T2.GenreId",
            "Table Genre (T2) has no column ArtistId; ArtistId is a column of Album, Artist.",
        ),
        ("SELECT FROM Track", "a SELECT without columns is incomplete"),
        ("SELECT name FROM Track WHERE", "could not parse the statement"),
        ("DELETE FROM Track", "DELETE is not allowed"),
    ],
)
def test_check_errors_are_repair_prompts(sql: str, fragment: str) -> None:
    result = check_sql(sql, open_database(CHINOOK).schema())
    assert not result.ok and fragment in (result.error or "")


@needs_chinook
def test_check_accepts_good_sql() -> None:
    schema = open_database(CHINOOK).schema()
    for sql in [
        "SELECT T1.Name, T2.Title FROM Track AS T1 JOIN Album AS T2 ON T1.AlbumId = T2.AlbumId",
        "WITH x AS (SELECT AlbumId FROM Album) SELECT * FROM x",
        "SELECT count(*) AS c FROM Track GROUP BY AlbumId ORDER BY c DESC",
    ]:
        assert check_sql(sql, schema).ok, sql


@needs_chinook
def test_prefilter_and_value_hints() -> None:
    db = open_database(CHINOOK)
    question = "Which tracks by AC/DC are in the Rock genre?"
    top = [name for name, _ in rank_tables(db.schema(), question)[:3]]
    assert {"Artist", "Genre", "Track"} == set(top)
    assert {"Artist", "Genre", "Track"} <= set(prefilter(db.schema(), question, 3))
    hints = value_hints(db, {"Genre": ["Name"], "Artist": ["Name"]}, question)
    assert hints == {"Genre": {"Name": ["Rock"]}, "Artist": {"Name": ["AC/DC"]}}


@pytest.mark.parametrize(
    ("text", "sql"),
    [
        ("SELECT a FROM t;", "SELECT a FROM t"),
        (
            "```sql\nSELECT a FROM t WHERE b = ';'\n```\nThis query ...",
            "SELECT a FROM t WHERE b = ';'",
        ),
        ("Here is the query: select a from t; -- done", "select a from t"),
        ("WITH x AS (SELECT 1) SELECT * FROM x", "WITH x AS (SELECT 1) SELECT * FROM x"),
    ],
)
def test_extract_sql(text: str, sql: str) -> None:
    assert extract_sql(text) == sql


def test_demo_database_is_deterministic(tmp_path: Path) -> None:
    a = build_demo_db(tmp_path / "a.sqlite")
    b = build_demo_db(tmp_path / "b.sqlite")
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    db = open_database(a)
    assert db.execute("SELECT count(*) FROM customers").rows == [[40]]
    assert db.execute(
        "SELECT city FROM customers GROUP BY city ORDER BY count(*) DESC LIMIT 1"
    ).rows == [["Berlin"]]
    assert (
        len(
            db.execute(
                "SELECT p.name FROM products p JOIN categories c ON p.category_id = "
                "c.category_id WHERE c.name = 'Books'"
            ).rows
        )
        == 6
    )
