"""SQL grammars from a schema: accepted and rejected statements (checked by llama.cpp's grammar
engine), and sampling under them with the tiny GGUF only ever names listed identifiers and,
for the structured grammar, always parses."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from conftest import needs_llama
from slmgraph.constraints import Constraint
from slmgraph.constraints.sql_grammar import sql_grammar
from slmgraph.errors import ModelError
from slmgraph.tools.sql.guard import guard

pytestmark = [needs_llama]

TABLES = ["singer", "concert", "singer_in_concert"]
COLUMNS = [
    "singer_id",
    "name",
    "country",
    "age",
    "concert_id",
    "concert_name",
    "year",
    "stadium_id",
]

GOOD = [
    "SELECT count(*) FROM singer",
    "SELECT name, country FROM singer WHERE age > 40 ORDER BY age DESC",
    "select T1.name from singer as T1 join singer_in_concert as T2 on T1.singer_id = "
    "T2.singer_id group by T1.singer_id having count(*) > 1",
    "SELECT DISTINCT country FROM singer WHERE name LIKE '%son%';",
    "SELECT avg(age), min(age), max(age) FROM singer WHERE country = 'France'",
    "SELECT name FROM singer WHERE singer_id NOT IN (SELECT singer_id FROM singer_in_concert)",
    "SELECT concert_name FROM concert WHERE year BETWEEN 2014 AND 2015 UNION "
    "SELECT concert_name FROM concert WHERE stadium_id = 1",
    "SELECT name FROM singer ORDER BY age LIMIT 3",
]
BAD = [
    ("SELECT nam FROM singer", "unknown column"),
    ("SELECT name FROM singers", "unknown table"),
    ("SELECT name FROM singer WHERE salary > 10", "unknown column in WHERE"),
    ("DELETE FROM singer", "not a SELECT"),
    ("SELECT name FROM singer; DROP TABLE singer", "second statement"),
    ("SELECT name FROM X1", "unknown alias/table"),
]


@pytest.fixture(scope="module")
def structured() -> str:
    return sql_grammar(TABLES, COLUMNS, mode="structured")


@pytest.fixture(scope="module")
def lexical() -> str:
    return sql_grammar(TABLES, COLUMNS, mode="lexical")


@pytest.mark.parametrize("sql", GOOD)
def test_structured_accepts(tiny_llama, structured: str, sql: str) -> None:  # type: ignore[no-untyped-def]
    from slmgraph.testing.grammar import grammar_accepts

    assert grammar_accepts(tiny_llama, structured, sql)


@pytest.mark.parametrize(("sql", "why"), BAD)
def test_both_grammars_reject(
    tiny_llama,
    structured: str,
    lexical: str,
    sql: str,  # type: ignore[no-untyped-def]
    why: str,
) -> None:
    from slmgraph.testing.grammar import grammar_accepts

    assert not grammar_accepts(tiny_llama, structured, sql), why
    if why != "second statement":  # the lexical grammar is a token stream; ';' ends it
        assert not grammar_accepts(tiny_llama, lexical, sql), why


def _identifiers(sql: str) -> set[str]:
    tree = sqlglot.parse_one(sql, read="sqlite")
    names = {t.name for t in tree.find_all(exp.Table)}
    names |= {c.name for c in tree.find_all(exp.Column) if c.name != "*"}
    return names


@pytest.mark.parametrize("mode", ["structured", "lexical"])
def test_sampled_sql_names_only_listed_identifiers(tiny_backend, mode: str) -> None:  # type: ignore[no-untyped-def]
    constraint = Constraint.grammar(gbnf=sql_grammar(TABLES, COLUMNS, mode=mode))
    allowed = {n.lower() for n in TABLES + COLUMNS} | {f"t{i}" for i in range(1, 10)}
    parsed = 0
    for seed in range(12):
        try:
            c = tiny_backend.complete(
                [{"role": "user", "content": "SQL please"}],
                constraint,
                max_tokens=400,
                temperature=1.0,
                seed=seed,
            )
        except ModelError as exc:
            assert exc.kind == "invalid_output"  # a cut-off or non-UTF-8 bytes, reported
            continue
        try:
            names = _identifiers(c.text)
        except sqlglot.errors.ParseError:
            assert mode == "lexical", f"structured output did not parse: {c.text!r}"
            continue
        parsed += 1
        aliases = {
            a.alias.lower() for a in sqlglot.parse_one(c.text, read="sqlite").find_all(exp.Alias)
        }
        assert {n.lower() for n in names} - aliases <= allowed, c.text
        if mode == "structured":
            guard(c.text)
    if mode == "structured":
        assert parsed >= 6


OWNERS = {
    "singer": ["singer_id", "name", "country", "age"],
    "concert": ["concert_id", "concert_name", "year", "stadium_id"],
    "singer_in_concert": ["concert_id", "singer_id"],
}


@pytest.fixture(scope="module")
def qualified() -> str:
    return sql_grammar(list(OWNERS), COLUMNS, mode="qualified", owners=OWNERS)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count(*) FROM singer",
        "SELECT singer.name FROM singer JOIN singer_in_concert ON singer.singer_id = "
        "singer_in_concert.singer_id GROUP BY singer.singer_id HAVING count(*) > 1",
        "SELECT concert.concert_name FROM concert WHERE concert.year = 2014",
        # a table the column names but FROM lacks: the grammar allows it, repair joins it
        "SELECT singer.name FROM singer WHERE concert.year = 2014",
    ],
)
def test_qualified_accepts_columns_with_their_own_tables(
    tiny_llama, qualified: str, sql: str
) -> None:  # type: ignore[no-untyped-def]
    from slmgraph.testing.grammar import grammar_accepts

    assert grammar_accepts(tiny_llama, qualified, sql)


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("SELECT name FROM singer", "a bare column"),
        ("SELECT singer.year FROM singer", "a column of another table"),
        ("SELECT T1.name FROM singer AS T1", "an alias"),
        ("SELECT concert.name FROM concert", "a column no table of that name holds"),
    ],
)
def test_qualified_rejects_a_column_without_its_table(
    tiny_llama, qualified: str, sql: str, why: str
) -> None:  # type: ignore[no-untyped-def]
    from slmgraph.testing.grammar import grammar_accepts

    assert not grammar_accepts(tiny_llama, qualified, sql), why
