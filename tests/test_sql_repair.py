"""Deterministic repair of misplaced columns (tools/sql/repair.py) on a real SQLite file, and
in the graph: the check node repairs before the model fixer is asked."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from slmgraph import load_spec, run
from slmgraph.tools.sql.check import check_sql
from slmgraph.tools.sql.database import open_database
from slmgraph.tools.sql.repair import repair_columns
from slmgraph.tools.sql.schema import Schema

DDL = """
CREATE TABLE battle (id INTEGER PRIMARY KEY, name TEXT, result TEXT);
CREATE TABLE ship (id INTEGER PRIMARY KEY, name TEXT, ship_type TEXT,
                   lost_in_battle INTEGER REFERENCES battle(id));
CREATE TABLE country (Code TEXT PRIMARY KEY, Name TEXT, Continent TEXT);
CREATE TABLE city (ID INTEGER PRIMARY KEY, Name TEXT, CountryCode TEXT REFERENCES country(Code));
CREATE TABLE countrylanguage (CountryCode TEXT REFERENCES country(Code), Language TEXT,
                              Percentage REAL);
INSERT INTO battle VALUES (1, 'Salamis', 'won'), (2, 'Actium', 'lost');
INSERT INTO ship VALUES (1, 'Argo', 'Brig', 1), (2, 'Nautilus', 'Sub', 2);
INSERT INTO country VALUES ('GR', 'Greece', 'Europe'), ('AW', 'Aruba', 'America');
INSERT INTO city VALUES (1, 'Athens', 'GR'), (2, 'Oranjestad', 'AW');
INSERT INTO countrylanguage VALUES ('GR', 'Greek', 99.0), ('AW', 'Dutch', 5.3);
"""


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("repair") / "world.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(DDL)
    conn.commit()
    conn.close()
    return str(path)


@pytest.fixture(scope="module")
def schema(db: str) -> Schema:
    return open_database(db).schema()


def rows(db: str, sql: str) -> list[list[Any]]:
    return open_database(db).execute(sql).rows


def test_requalifies_a_column_read_from_the_wrong_alias(db: str, schema: Schema) -> None:
    sql = (
        "SELECT SUM(T2.Percentage) FROM countrylanguage AS T1 JOIN country AS T2 "
        "ON T1.CountryCode = T2.Code WHERE T2.Name = 'Aruba'"
    )
    assert not check_sql(sql, schema).ok
    fixed, notes = repair_columns(sql, schema) or ("", [])
    assert "SUM(T1.Percentage)" in fixed and notes == ["T2.Percentage -> T1.Percentage"]
    assert check_sql(fixed, schema).ok and rows(db, fixed) == [[5.3]]


def test_joins_the_one_neighbour_that_has_the_column(db: str, schema: Schema) -> None:
    sql = "SELECT DISTINCT id, name FROM battle WHERE ship_type = 'Brig'"
    fixed, notes = repair_columns(sql, schema) or ("", [])
    assert "JOIN ship ON battle.id = ship.lost_in_battle" in fixed
    assert "battle.id, battle.name" in fixed  # the first table's columns are now qualified
    assert check_sql(fixed, schema).ok and rows(db, fixed) == [[1, "Salamis"]]
    assert notes == ["ship_type: joined ship on battle.id = ship.lost_in_battle"]


def test_new_alias_follows_the_queries_t_numbering(db: str, schema: Schema) -> None:
    sql = (
        "SELECT T1.Name FROM city AS T1 JOIN country AS T2 ON T1.CountryCode = T2.Code "
        "WHERE T2.Language = 'Greek'"
    )
    fixed, _ = repair_columns(sql, schema) or ("", [])
    assert "JOIN countrylanguage AS T3 ON T2.Code = T3.CountryCode" in fixed
    assert "T3.Language = 'Greek'" in fixed and rows(db, fixed) == [["Athens"]]


def test_a_table_named_but_not_in_from_is_joined_along_the_keys(db: str, schema: Schema) -> None:
    # What the qualified grammar lets a model write: each column with its own table, FROM
    # short of a table; the join goes through the bridge (country) on the foreign keys.
    sql = "SELECT city.Name FROM city WHERE countrylanguage.Language = 'Greek'"
    fixed, notes = repair_columns(sql, schema) or ("", [])
    assert check_sql(fixed, schema).ok and rows(db, fixed) == [["Athens"]]
    assert notes == [
        "Language: joined country on city.CountryCode = country.Code, "
        "countrylanguage on country.Code = countrylanguage.CountryCode"
    ]


def test_a_column_two_joins_away_is_reached_through_the_bridge(db: str, schema: Schema) -> None:
    sql = "SELECT Name FROM city WHERE Language = 'Dutch'"
    fixed, _ = repair_columns(sql, schema) or ("", [])
    assert rows(db, fixed) == [["Oranjestad"]]


def test_ambiguous_or_sound_queries_are_left_alone(schema: Schema) -> None:
    # Continent is in country, which both city and countrylanguage reach: two ways to join.
    amb = (
        "SELECT T1.Name FROM city AS T1 JOIN countrylanguage AS T2 "
        "ON T1.CountryCode = T2.CountryCode WHERE T1.Continent = 'Europe'"
    )
    assert repair_columns(amb, schema) is None
    assert repair_columns("SELECT Name FROM city", schema) is None
    assert repair_columns("SELECT nonsense FROM city", schema) is None  # in no table
    assert repair_columns("SELECT (", schema) is None  # does not parse
    # A correlated subquery reads the outer table's column: not a misplaced column.
    corr = (
        "SELECT name FROM battle WHERE EXISTS (SELECT 1 FROM ship WHERE lost_in_battle = "
        "battle.id AND result = 'won')"
    )
    assert repair_columns(corr, schema) is None


MISPLACED = "SELECT name FROM battle WHERE ship_type = 'Brig'"


def _spec(fix_output: str, *, repair: bool = True) -> Any:
    """The query-writer whose writer reads ship_type from battle (it lives in ship)."""
    tiers = {
        "slm": {
            "backend": "scripted",
            "settings": {
                "rules": [
                    {"node": "write_sql", "output": MISPLACED},
                    {"node": "fix_sql", "output": fix_output},
                ]
            },
        }
    }
    data = load_spec("query_writer", tier_overrides=tiers).model_dump(
        by_alias=True, exclude_none=True, exclude={"source"}
    )
    data["nodes"]["check"]["params"] = {"repair": repair}
    return load_spec(data)


def test_check_node_repairs_before_the_fixer_is_called(db: str) -> None:
    spec = _spec("SELECT 'the fixer should not run'")
    r = run(spec, {"question": "Which battles lost a brig?", "db": db}, call_log=False)
    assert r.output["rows"] == [["Salamis"]]
    assert [t["node"] for t in r.trace if t["model"]] == ["write_sql"]
    notes = [a.get("note", "") for a in r.state["attempts"]]
    assert any(n.startswith("repaired without a model: ship_type") for n in notes)


def test_repair_can_be_turned_off(db: str) -> None:
    spec = _spec("SELECT name FROM battle WHERE id = 2", repair=False)
    r = run(spec, {"question": "Which battles lost a brig?", "db": db}, call_log=False)
    assert [t["node"] for t in r.trace if t["model"]] == ["write_sql", "fix_sql"]
    assert r.output["rows"] == [["Actium"]]  # the fixer's answer, not the repair's


def test_repair_output_is_always_checked(schema: Schema) -> None:
    # Every repair the module returns for these misplaced-column queries passes the checker.
    for sql in (
        "SELECT T1.Percentage FROM country AS T1 JOIN countrylanguage AS T2 "
        "ON T1.Code = T2.CountryCode",
        "SELECT Name, Language FROM country",
        "SELECT count(*) FROM ship WHERE result = 'won'",
    ):
        out = repair_columns(sql, schema)
        assert out is not None, sql
        assert check_sql(out[0], schema).ok, out
