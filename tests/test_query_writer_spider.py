"""The whole query-writer graph on real Spider databases (../shared/data/spider).

- With the tiny random-weight GGUF on every tier (offline, in CI): answers are noise, but every
  SQL the model writes parses, passes the guard and names only real tables and columns.
- Opt-in (SLMGRAPH_REAL_MODELS=1): the real 0.5B/1.5B models on 20 fixed dev questions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import SHARED_DATA, needs_llama, real_models_enabled
from slmgraph import load_spec, run
from slmgraph.graphs.builder import build
from slmgraph.tools.sql.check import unknown_identifiers
from slmgraph.tools.sql.database import open_database
from slmgraph.tools.sql.guard import guard

SPIDER = SHARED_DATA / "spider"
pytestmark = [
    needs_llama,
    pytest.mark.skipif(
        not (SPIDER / "dev.json").exists(),
        reason=f"Spider data not found at {SPIDER} (see ../shared/data/README.md)",
    ),
]


def dev_questions(n: int, step: int) -> list[dict[str, Any]]:
    data = json.loads((SPIDER / "dev.json").read_text())
    return data[::step][:n]


def db_path(item: dict[str, Any]) -> str:
    return str(SPIDER / "database" / item["db_id"] / f"{item['db_id']}.sqlite")


@pytest.mark.slow
def test_tiny_model_on_five_spider_questions(tiny_gguf: Path) -> None:
    model = {
        "backend": "llamacpp",
        "model": str(tiny_gguf),
        # The tiny model's tokenizer is close to byte-level: a whole 56-column schema (which the
        # query-writer now sends for schemas of <= 60 columns) is ~4,400 of its tokens against
        # 1,355 of Qwen's.
        "settings": {"n_ctx": 8192, "n_threads": 1},
        "generation": {"max_tokens": 600},
    }
    spec = load_spec(
        "query_writer", tier_overrides={"slm": {**model, "fallback": "llm"}, "llm": model}
    )
    for name in ("write_sql", "fix_sql", "research"):
        spec.nodes[name].params["max_tokens"] = 600
    built = build(spec, call_log=False)
    written = 0
    for item in dev_questions(5, step=97):
        result = run(built, {"question": item["question"], "db": db_path(item)})
        schema = open_database(db_path(item)).schema()
        assert result.status in ("ok", "error")
        if result.status == "error":  # only a model-level failure may end the run early
            assert "invalid_output" in (result.error or ""), result.error
        for attempt in result.state.get("attempts") or []:
            sql = attempt.get("sql")
            if not sql:
                continue
            written += 1
            tree = guard(sql)  # parses, and is one read-only SELECT
            assert unknown_identifiers(tree, schema) == [], sql
    assert written >= 3


@pytest.mark.real_model
@pytest.mark.slow
@pytest.mark.skipif(not real_models_enabled(), reason="set SLMGRAPH_REAL_MODELS=1 to run")
@pytest.mark.parametrize(
    "item",
    dev_questions(20, step=31) if (SPIDER / "dev.json").exists() else [],
    ids=lambda i: i["id"],
)
def test_real_slm_on_spider(item: dict[str, Any], real_query_writer: Any) -> None:
    """Grammar on: every SQL the slm writes parses, is read-only and names real identifiers."""
    result = run(real_query_writer, {"question": item["question"], "db": db_path(item)})
    assert result.status == "ok", result.error
    schema = open_database(db_path(item)).schema()
    for attempt in result.state.get("attempts") or []:
        if attempt.get("sql") and attempt.get("tier") == "slm":
            tree = guard(attempt["sql"])
            assert unknown_identifiers(tree, schema) == [], attempt["sql"]


@pytest.fixture(scope="module")
def real_query_writer() -> Any:
    from slmgraph.models import catalog

    for name in ("qwen2.5-coder-0.5b-instruct-q4_k_m", "qwen2.5-coder-1.5b-instruct-q4_k_m"):
        if not catalog.is_pulled(name):
            pytest.skip(f"{name} is not pulled")
    return build(load_spec("query_writer"), call_log=False)
