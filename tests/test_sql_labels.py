"""Names beside keys (tools/sql/labels.py): a result that is one bare key column gains the
entity's name columns, on a real SQLite file and in the graph's check node."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from slmgraph import load_spec, run
from slmgraph.tools.sql.database import open_database
from slmgraph.tools.sql.labels import add_labels, label_columns
from slmgraph.tools.sql.schema import Schema

DDL = """
CREATE TABLE Categories (CategoryID INTEGER PRIMARY KEY, CategoryName TEXT, Description TEXT);
CREATE TABLE Suppliers (SupplierID INTEGER PRIMARY KEY, CompanyName TEXT, ContactName TEXT);
CREATE TABLE Customer (CustomerId INTEGER PRIMARY KEY, FirstName TEXT, LastName TEXT);
CREATE TABLE Products (ProductID INTEGER PRIMARY KEY, ProductName TEXT,
                       CategoryID INTEGER REFERENCES Categories(CategoryID),
                       SupplierID INTEGER REFERENCES Suppliers(SupplierID), District INTEGER
                       REFERENCES Categories(CategoryID));
CREATE TABLE Invoice (InvoiceId INTEGER PRIMARY KEY,
                      CustomerId INTEGER REFERENCES Customer(CustomerId), Total REAL);
CREATE TABLE Song (song_name TEXT PRIMARY KEY, artist_name TEXT);
CREATE TABLE Counter (CounterID INTEGER PRIMARY KEY, hits INTEGER);
INSERT INTO Categories VALUES (1, 'Beverages', 'drinks'), (2, 'Condiments', 'sauces');
INSERT INTO Suppliers VALUES (1, 'Exotic Liquids', 'Charlotte Cooper');
INSERT INTO Customer VALUES (1, 'Luís', 'Gonçalves'), (2, 'Helena', 'Holý');
INSERT INTO Products VALUES (1, 'Chai', 1, 1, 1), (2, 'Chang', 1, 1, 1), (3, 'Aniseed', 2, 1, 2);
INSERT INTO Invoice VALUES (1, 1, 5.0), (2, 2, 9.0), (3, 2, 1.0);
INSERT INTO Song VALUES ('Hello', 'Adele');
INSERT INTO Counter VALUES (1, 3);
"""


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("labels") / "shop.sqlite"
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


def test_label_columns_prefer_a_full_name_then_the_first_name_like_column(schema: Schema) -> None:
    assert label_columns(schema.tables["Customer"]) == ["FirstName", "LastName"]
    assert label_columns(schema.tables["Suppliers"]) == ["CompanyName"]  # before ContactName
    assert label_columns(schema.tables["Categories"]) == ["CategoryName"]
    assert label_columns(schema.tables["Counter"]) == []


@pytest.mark.parametrize(
    ("sql", "question", "expected"),
    [
        (  # a foreign key: the referenced table's name, grouping and order untouched
            "SELECT CategoryID FROM Products GROUP BY CategoryID ORDER BY COUNT(*) DESC LIMIT 1",
            "Which category has the most products?",
            [[1, "Beverages"]],
        ),
        (  # the table's own primary key, under an alias, read through a subquery filter
            "SELECT T1.customerid FROM customer AS T1 WHERE T1.customerid IN "
            "(SELECT customerid FROM invoice GROUP BY customerid ORDER BY sum(total) DESC LIMIT 1)",
            "Which customer has spent the most?",
            [[2, "Helena", "Holý"]],
        ),
        (
            "SELECT SupplierID FROM Products WHERE ProductName = 'Chai'",
            "Who supplies Chai?",
            [[1, "Exotic Liquids"]],
        ),
    ],
)
def test_a_bare_key_gains_its_entitys_name(
    db: str, schema: Schema, sql: str, question: str, expected: list[list[Any]]
) -> None:
    before = rows(db, sql)
    out = add_labels(sql, schema, question)
    assert out is not None
    labelled, note = out
    assert rows(db, labelled) == expected
    assert [r[0] for r in rows(db, labelled)] == [r[0] for r in before]  # the same rows
    assert "is a key of" in note


@pytest.mark.parametrize(
    ("sql", "question"),
    [
        ("SELECT CategoryID FROM Products GROUP BY CategoryID", "What are the category ids?"),
        ("SELECT SupplierID FROM Products", "List the supplier codes."),
        ("SELECT District FROM Products", "Which districts are there?"),  # not named as a key
        ("SELECT song_name FROM Song", "Which songs are there?"),  # the key is a name already
        ("SELECT CounterID FROM Counter", "Which counter?"),  # no name-like column
        ("SELECT CategoryID, ProductName FROM Products", "Which category has Chai?"),
        ("SELECT count(*) FROM Products", "How many products?"),
        ("SELECT x FROM (SELECT CategoryID AS x FROM Products)", "Which category?"),
        ("SELECT CategoryID FROM Products UNION SELECT 1", "Which category?"),
        ("SELECT ((((", "Which category?"),
    ],
)
def test_other_results_are_left_alone(schema: Schema, sql: str, question: str) -> None:
    assert add_labels(sql, schema, question) is None


def _spec(sql: str, label_keys: bool = True) -> Any:
    tiers = {
        "slm": {"backend": "scripted", "settings": {"default": sql}},
        "llm": {"backend": "scripted", "settings": {"default": "SELECT 1"}},
    }
    data = load_spec("query_writer", tier_overrides=tiers).model_dump(
        by_alias=True, exclude_none=True, exclude={"source"}
    )
    data["nodes"]["check"]["params"] = {"label_keys": label_keys}
    return load_spec(data)


def test_the_check_node_adds_labels_and_says_so(db: str) -> None:
    sql = "SELECT CategoryID FROM Products GROUP BY CategoryID ORDER BY COUNT(*) DESC LIMIT 1"
    question = {"question": "Which category has the most products?", "db": db}
    on = run(_spec(sql), question, call_log=False)
    assert on.output["columns"] == ["CategoryID", "CategoryName"]
    assert on.output["rows"] == [[1, "Beverages"]]
    assert any("is a key of Categories" in a.get("note", "") for a in on.state["attempts"])
    off = run(_spec(sql, label_keys=False), question, call_log=False)
    assert off.output["rows"] == [[1]]
