"""``vanna-<size>``: Vanna's text-to-SQL (``VannaBase.generate_sql``, vanna 0.7.9) on the
same model: its prompt (the database's DDL, then the ten most similar question/SQL pairs
from a bank as earlier turns, then the question) and its SQL extraction, with our model
behind ``submit_prompt``.

What a Vanna user sets up, done here: *train* on the database's DDL (``sqlite_master``'s
CREATE statements, as Vanna's SQLite quick start does) and on question/SQL pairs, retrieved
by similarity of all-MiniLM-L6-v2 embeddings, the model Vanna's default ChromaDB store uses
(here the numpy one of ``slmgraph.embeddings``, in memory instead of Chroma). The pairs come
from ``$SLMGRAPH_EXAMPLES_BANK`` (a JSON list of question/query, e.g. Spider's train.json,
never the questions evaluated on); those of the question's own database are left out, as the
query-writer's few-shot bank does. ``intermediate_sql`` (Vanna asking to look at data) is off,
its default, and counts as a wrong answer.

Vanna 0.7's install pulls a web server and a browser (flask, kaleido); ``make setup`` installs
it with ``--no-deps`` and the four libraries its core imports (pandas, plotly, sqlparse,
tabulate). Vanna 2 is an agent framework that no longer has this prompt.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from slmgraph.errors import SlmgraphError
from slmgraph.eval.sql.peers.common import TierModel, attempt, require, sql_in
from slmgraph.eval.sql.spider import Item
from slmgraph.eval.sql.system import MODEL_CODE, Prediction
from slmgraph.eval.tiers import bench_tiers
from slmgraph.tiers import TierRegistry, trace_sink

BANK_ENV = "SLMGRAPH_EXAMPLES_BANK"
N_RESULTS = 10  # Vanna's ChromaDB default for each of question/SQL, DDL and documentation


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "slmgraph" / "embeddings"


class _Bank:
    """Question/SQL pairs and their MiniLM embeddings (computed once per bank, cached)."""

    def __init__(self, path: Path) -> None:
        import numpy as np

        from slmgraph.embeddings import minilm

        raw = path.read_bytes()
        rows = json.loads(raw)
        self.pairs = [(r["question"], r["query"], r.get("db_id")) for r in rows]
        cache = _cache_dir() / f"{hashlib.sha256(raw).hexdigest()[:16]}-minilm.npy"
        if cache.is_file():
            self.vectors = np.load(cache)
        else:
            self.vectors = minilm().encode([q for q, _, _ in self.pairs])
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.save(cache, self.vectors)

    def similar(self, question: str, k: int, exclude_db: str | None) -> list[dict[str, str]]:
        import numpy as np

        from slmgraph.embeddings import minilm

        scores = self.vectors @ minilm().encode([question])[0]
        out: list[dict[str, str]] = []
        for i in np.argsort(-scores, kind="stable"):
            q, sql, db = self.pairs[int(i)]
            if exclude_db is None or db != exclude_db:
                out.append({"question": q, "sql": sql})
                if len(out) == k:
                    break
        return out


class VannaPeer:
    """Vanna's ``generate_sql`` with an in-memory store and our tier's model."""

    decisive = (*MODEL_CODE, "eval/sql/peers", "embeddings.py", "tools/sql/text.py")

    def __init__(
        self, name: str, tier: str = "slm", n_threads: int | None = None, *,
        bank: str | Path | None = None, registry: TierRegistry | None = None,
    ) -> None:  # fmt: skip
        require("vanna.base", "numpy")
        from slmgraph.spec import TierSpec

        path = bank or os.environ.get(BANK_ENV)
        if not path or not Path(path).is_file():
            raise SlmgraphError(
                f"the Vanna peer trains on question/SQL pairs: set ${BANK_ENV} to a JSON list "
                "of {question, query} (e.g. Spider's train.json)"
            )
        self.name = name
        self.tier = tier
        self.model = TierModel(tier)
        self.bank = _Bank(Path(path))
        if registry is None:  # ``registry``: scripted tiers in the tests
            specs = {k: TierSpec.model_validate(v) for k, v in bench_tiers(n_threads).items()}
            for s in specs.values():
                s.fallback = None
            registry = TierRegistry(specs)
        self.registry = registry
        self.config = (
            self.model.model,
            N_RESULTS,
            hashlib.sha256(Path(path).read_bytes()).hexdigest(),
        )

    def _vanna(self, item: Item) -> Any:
        from vanna.base import VannaBase

        owner = self
        conn = sqlite3.connect(f"file:{Path(item.db_path)}?mode=ro", uri=True)
        try:
            ddl = [
                r[0] for r in conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL")
            ]
        finally:
            conn.close()

        class Vanna(VannaBase):  # type: ignore[misc]
            """The store and the LLM a Vanna user plugs in (ChromaDB_VectorStore + a model)."""

            def log(self, message: str, title: str = "Info") -> None:
                pass  # Vanna prints every prompt

            def system_message(self, message: str) -> Any:
                return {"role": "system", "content": message}

            def user_message(self, message: str) -> Any:
                return {"role": "user", "content": message}

            def assistant_message(self, message: str) -> Any:
                return {"role": "assistant", "content": message}

            def submit_prompt(self, prompt: Any, **kwargs: Any) -> str:
                result = owner.registry.client(owner.tier).complete(
                    prompt, None, call_group=item.id, max_tokens=256
                )
                return str(result.completion.text)

            def get_similar_question_sql(self, question: str, **kwargs: Any) -> list[Any]:
                return owner.bank.similar(question, N_RESULTS, item.db_id)

            def get_related_ddl(self, question: str, **kwargs: Any) -> list[Any]:
                return ddl[:N_RESULTS]  # Spider's databases: all their tables fit

            def get_related_documentation(self, question: str, **kwargs: Any) -> list[Any]:
                return []

            def generate_embedding(self, data: str, **kwargs: Any) -> list[float]:
                raise NotImplementedError  # retrieval is the bank's

            def add_question_sql(self, question: str, sql: str, **kwargs: Any) -> str:
                raise NotImplementedError

            def add_ddl(self, ddl: str, **kwargs: Any) -> str:
                raise NotImplementedError

            def add_documentation(self, documentation: str, **kwargs: Any) -> str:
                raise NotImplementedError

            def get_training_data(self, **kwargs: Any) -> Any:
                raise NotImplementedError

            def remove_training_data(self, id: str, **kwargs: Any) -> bool:
                raise NotImplementedError

        return Vanna(config={"dialect": "SQLite"})

    def predict(self, item: Item) -> Prediction:
        def run(sink: list[dict[str, Any]]) -> tuple[str | None, str | None]:
            token = trace_sink.set(sink)
            try:
                text = str(self._vanna(item).generate_sql(item.question))
            finally:
                trace_sink.reset(token)
                for t in sink:
                    t["node"] = "vanna"
            # Vanna's own extraction returns the reply as is when no pattern of its matched;
            # ours then takes the statement out of any prose, as for every system here.
            sql = sql_in(text)
            return sql, None if sql else f"Vanna answered no SQL: {text[:200]!r}"

        return attempt(run)
