"""SQL execution under attack, on the committed corpora (tests/fixtures/reliability/sql) and the
Chinook sample database: hostile statements never reach the database (and it stays
byte-identical, no file appears), legitimate ones are never refused, and every resource attack
ends in a defined state within its limits — run in a subprocess under an address-space cap,
so a regression fails the test instead of taking the machine down. Bounds on time and memory
are generous on purpose (shared, noisy machines); what is asserted is that the limits fire."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SHARED_DATA
from slmgraph.context import RunContext
from slmgraph.eval.sql.reliability import (
    hostile_figures,
    legit_figures,
    load_corpus,
    run_attacks,
    tool_node,
)
from slmgraph.tools.sql.base import DEFAULT_LIMITS, LimitError, Limits
from slmgraph.tools.sql.check import check_sql
from slmgraph.tools.sql.database import SQLiteDatabase, open_database
from slmgraph.tools.sql.guard import GuardError, guard
from slmgraph.tools.sql.text import extract_sql, first_statement

CHINOOK = SHARED_DATA / "samples" / "chinook.sqlite"
needs_chinook = pytest.mark.skipif(
    not CHINOOK.exists(), reason=f"{CHINOOK} not found (see ../shared/data/README.md)"
)


HOSTILE = load_corpus("hostile")
LEGIT = load_corpus("legit")
ATTACKS = load_corpus("resource")


def test_the_corpora_are_wide() -> None:
    assert len(HOSTILE) >= 300 and len(LEGIT) >= 200 and len(ATTACKS) >= 20
    kinds = {c for c, _ in HOSTILE}
    assert {"stacked", "cte_dml", "comment", "pragma", "attach", "vacuum", "ddl"} <= kinds
    assert {"dml", "file_function", "obfuscation", "nesting"} <= kinds


@pytest.mark.parametrize("sql", [s for _, s in HOSTILE], ids=lambda s: s[:40])
def test_hostile_statements_are_refused_by_the_guard(sql: str) -> None:
    with pytest.raises(GuardError) as info:
        guard(sql)
    assert info.value.reason  # a reason a user can read, never a traceback


@needs_chinook
def test_hostile_statements_execute_nothing(tmp_path: Path) -> None:
    """Through the graph's execute node, on a copy of Chinook: every one an error, the file
    unchanged, no file created; and straight at the connection (guard bypassed), the
    read-only connection stops the writes on its own."""
    figures = hostile_figures(CHINOOK)
    assert figures["executed"] == 0, figures["passed_guard"]
    assert figures["node_errors"] == figures["statements"]
    assert not figures["database_changed"]
    assert figures["files_created"] == []
    assert figures["bypassed"] >= 250 and figures["bypass_ran"] == []


@needs_chinook
def test_no_legitimate_statement_is_refused() -> None:
    figures = legit_figures(CHINOOK)
    assert figures["refused"] == []


@pytest.mark.parametrize(
    "sql",
    [
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM n WHERE x<10) "
        "SELECT sum(x) FROM n",
        "SELECT name FROM sqlite_master",
        "SELECT value FROM json_each('[1,2]')",
        "SELECT rowid, Name FROM Track",
        "VALUES (1, 2)",
        "\ufeffSELECT 1",
    ],
)
def test_the_issues_false_refusals_pass_the_guard(sql: str) -> None:
    guard(sql)


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT " + "(" * 50 + "1" + ")" * 50, "nests 50 levels deep"),
        ("SELECT " + "abs(" * 200 + "1" + ")" * 200, "nests 200 levels deep"),
        ("SELECT " + "NOT " * 100 + "1", "100 prefix operators"),
        ("SELECT 1 WHERE " + " OR ".join(["1 = 1"] * 8000), "too long to check"),
        ("SELECT * FROM pragma_table_info('Track')", "pragma_table_info() reads the database"),
        ("SELECT * FROM pragma_database_list", "pragma_database_list reads"),
        ("SELECT * FROM dbstat", "dbstat reads the database's internals"),
        ("SELECT * FROM fsdir('/')", "fsdir() reads files"),
        ("SELECT printf('%.*c', 2e8, 'x')", "widths and precisions"),
    ],
)
def test_refusals_say_why(sql: str, reason: str) -> None:
    with pytest.raises(GuardError) as info:
        guard(sql)
    assert reason in info.value.reason


def test_shallow_nesting_is_accepted() -> None:
    guard("SELECT " + "(" * 32 + "1" + ")" * 32)
    guard("SELECT " + "NOT " * 16 + "1")


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("SELECT 'a;b' FROM t; DROP TABLE t", "SELECT 'a;b' FROM t"),
        ("SELECT [a;b] FROM t; DROP TABLE t", "SELECT [a;b] FROM t"),
        ('SELECT "a;b" FROM t', 'SELECT "a;b" FROM t'),
        ("SELECT 1 /* a;b */ FROM t", "SELECT 1 /* a;b */ FROM t"),
        ("SELECT 1 -- it's; fine\nFROM t; x", "SELECT 1 -- it's; fine\nFROM t"),
        ("SELECT 1 FROM t; It's the answer", "SELECT 1 FROM t"),
    ],
)
def test_statements_are_split_by_the_tokenizer(text: str, first: str) -> None:
    assert first_statement(text) == first
    assert extract_sql(text + ";") == first


def test_the_validator_guards_before_it_executes(tmp_path: Path) -> None:
    import sqlite3
    from unittest import mock

    from slmgraph.tools.sql.hooks import sql_executes

    db_file = tmp_path / "t.sqlite"
    sqlite3.connect(db_file).executescript("CREATE TABLE t (a); INSERT INTO t VALUES (1);")
    with mock.patch.object(SQLiteDatabase, "execute", autospec=True) as called:
        error = sql_executes(
            "SELECT * FROM pragma_database_list", {"db": str(db_file)}, RunContext()
        )
    assert error and "pragma_database_list" in error and not called.called
    assert sql_executes("SELECT a FROM t", {"db": str(db_file)}, RunContext()) is None


@needs_chinook
def test_limits_fire_inside_sqlite() -> None:
    db = open_database(CHINOOK)
    with pytest.raises(LimitError, match="limit of one value"):
        db.execute("SELECT randomblob(1e8) FROM Track LIMIT 50")
    small = Limits(max_rows=100, max_result_bytes=50_000)
    result = db.execute("SELECT randomblob(20000) FROM Track", limits=small)
    assert result.truncated and len(result.rows) == 2 and result.size_bytes <= 50_000
    with pytest.raises(LimitError, match="limit of a result"):
        db.execute("SELECT randomblob(30000), randomblob(30000)", limits=small)
    with pytest.raises(LimitError, match="timeout"):
        db.execute("SELECT count(*) FROM Track a, Track b, Track c", timeout_s=0.3)


@needs_chinook
def test_an_execute_node_param_overrides_the_default_limits() -> None:
    node = tool_node("sql.execute", max_cell_bytes=1000)
    update = node({"sql": "SELECT hex(randomblob(600))", "db": str(CHINOOK)}, RunContext())
    assert update["outcome"] == "error" and "1,000 bytes limit" in update["exec_error"]
    assert DEFAULT_LIMITS.max_cell_bytes > 1000


@needs_chinook
def test_resource_attacks_end_in_a_defined_state_within_their_limits() -> None:
    """All attacks in one capped subprocess with a 1 s timeout: each ends in an error the
    fixer can read or a cut result, and the answer node answers; time is bounded generously."""
    results = run_attacks([s for _, s in ATTACKS], CHINOOK, timeout_s=1.0, wall_cap_s=1200)
    for (expect, sql), r in zip(ATTACKS, results, strict=True):
        label = f"{sql[:60]!r}: {r}"
        assert r["outcome"] in ("ok", "error", "low_confidence"), label
        assert r["answer_chars"] < 5_000, label  # the answer node cut long values
        assert r["wall_s"] < 120, label  # 1 s timeout; the machine may be very busy
        assert r["rss_delta"] < 1_500_000_000, label
        assert r["temp_bytes"] == 0, label  # temp storage is in memory, under the heap limit
        if r["outcome"] == "error":
            fired = {
                "cell": "limit of one value" in r["error"],
                "bytes": "limit of a result" in r["error"],
                "timeout": "timeout" in r["error"],
                "memory": "memory" in r["error"],
                "refused": not r["check_ok"],
            }
            assert any(fired[k] for k in expect.split() if k in fired), label
        else:
            assert r["rows"] <= 50 and (r["truncated"] or "ok" in expect.split()), label
            assert r["result_bytes"] <= 2 * DEFAULT_LIMITS.max_result_bytes, label  # blobs: hex


def test_check_survives_what_the_guard_passes() -> None:
    """The largest statement the guard lets through is checked, not a RecursionError."""
    from slmgraph.tools.sql.schema import Column, Schema, Table

    schema = Schema("sqlite", {"t": Table("t", [Column("t", "a", "INT")])})
    sql = "SELECT a FROM t WHERE " + " OR ".join(f"a = {i}" for i in range(900))
    assert check_sql(sql, schema).ok
    deep = "SELECT a FROM t WHERE " + "(" * 32 + "a = 1" + ")" * 32
    assert check_sql(deep, schema).ok
