"""The LangChain SQL-agent peer: LangChain's real agent and toolkit, driven by a scripted chat
model, on a real SQLite file (the benchmark runs it on the real 0.5B model)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

pytest.importorskip("langchain_community", reason="the peer needs the 'peers' extra")

from langchain_core.language_models.fake_chat_models import FakeListChatModel

from slmgraph.eval.sql.peers import LangChainSQLAgent
from slmgraph.eval.sql.score import score
from slmgraph.eval.sql.spider import Item
from slmgraph.tools.sql.demo import build_demo_db


def _item(db: Path) -> Item:
    return Item("q1", "shop", "How many customers?", "SELECT count(*) FROM customers", "easy", db)


def _agent(responses: list[str]) -> LangChainSQLAgent:
    return LangChainSQLAgent("peer", llm=FakeListChatModel(responses=responses))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "shop.sqlite"
    build_demo_db(path)
    return path


def test_peer_reports_the_last_query_the_agent_ran(db: Path) -> None:
    agent = _agent(
        [
            "Thought: I should count rows.\nAction: sql_db_query\n"
            "Action Input: SELECT count(*) FROM orders",
            "Thought: wrong table.\nAction: sql_db_query\n"
            "Action Input: SELECT count(*) FROM customers",
            "Thought: I know the answer.\nFinal Answer: there are some customers",
        ]
    )
    pred = agent.predict(_item(db))
    assert pred.sql == "SELECT count(*) FROM customers", pred.error
    assert len(pred.trace) == 3 and {t["node"] for t in pred.trace} == {"langchain_agent"}
    assert score(_item(db), pred, 10)["correct"] is True


def test_peer_without_a_query_is_a_wrong_answer_with_a_reason(db: Path) -> None:
    pred = _agent(["Thought: easy.\nFinal Answer: I do not know"]).predict(_item(db))
    assert pred.sql is None and "ran no query" in (pred.error or "")
    rec = score(_item(db), pred, 10)
    assert rec["correct"] is False and "ran no query" in rec["error"]


def test_peer_cannot_write_to_the_database(db: Path) -> None:
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    agent = _agent(
        [
            "Thought: delete.\nAction: sql_db_query\nAction Input: DELETE FROM customers",
            "Thought: drop.\nAction: sql_db_query\nAction Input: DROP TABLE customers",
            "Thought: done.\nFinal Answer: done",
        ]
    )
    pred = agent.predict(_item(db))
    assert pred.sql is not None and "DROP" in pred.sql  # what it ran, scored as wrong
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert score(_item(db), pred, 10)["correct"] is False
