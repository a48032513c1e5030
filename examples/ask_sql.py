"""Build the query-writer from its spec in Python and ask three questions of a SQLite database.

    .venv/bin/python examples/ask_sql.py [DB]      # default: the demo shop database

To put the `llm` tier (the researcher) on an OpenAI-compatible server instead of the local
1.5B model, pass tier overrides — the graph and every other node stay as they are:

    LLM_BASE_URL=http://gpu-box:8000/v1 LLM_MODEL=Qwen/Qwen2.5-Coder-7B-Instruct \\
        .venv/bin/python examples/ask_sql.py
"""

from __future__ import annotations

import os
import sys

from slmgraph import load_spec, run
from slmgraph.graphs.builder import build
from slmgraph.tools.sql.demo import build_demo_db, default_path

QUESTIONS = [
    "How many customers are there?",
    "Which city has the most customers?",
    "What are the names of the products in the Books category?",
]


def main() -> None:
    db = (
        sys.argv[1]
        if len(sys.argv) > 1
        else str(default_path() if default_path().exists() else build_demo_db())
    )
    overrides = {}
    if os.environ.get("LLM_BASE_URL"):
        overrides["llm"] = {
            "backend": "openai_compat",
            "model": os.environ.get("LLM_MODEL", "default"),
            "settings": {
                "base_url": os.environ["LLM_BASE_URL"],
                "server": os.environ.get("LLM_SERVER", "vllm"),
                "api_key_env": "LLM_API_KEY",
            },
        }
    built = build(load_spec("query_writer", tier_overrides=overrides or None))
    for question in QUESTIONS:
        result = run(built, {"question": question, "db": db})
        print(f"\n> {question}\n  SQL: {result.output['sql']}\n  {result.output['answer']}")
        steps = [f"{t['node']}[{t['tier']}]" for t in result.trace if t["model"]]
        print(f"  models: {', '.join(steps)}  ({result.totals['wall_s']:.1f} s)")


if __name__ == "__main__":
    main()
