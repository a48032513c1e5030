from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"

HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None
needs_llama = pytest.mark.skipif(
    not HAS_LLAMA, reason="llama-cpp-python is not installed (make setup installs it)"
)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never write the user's call log, never see a user's tier overrides, never pull."""
    monkeypatch.setenv("SLMGRAPH_CALL_LOG", str(tmp_path / "calls.sqlite"))
    monkeypatch.delenv("SLMGRAPH_TIERS", raising=False)
    monkeypatch.setenv("SLMGRAPH_NO_AUTO_PULL", "1")


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~0.5 MB random-weight llama GGUF with a ChatML template (written, not downloaded)."""
    from slmgraph.testing import write_tiny_gguf

    return write_tiny_gguf(tmp_path_factory.mktemp("models") / "tiny.gguf")


@pytest.fixture(scope="session")
def tiny_llama(tiny_gguf: Path):  # type: ignore[no-untyped-def]
    if not HAS_LLAMA:
        pytest.skip("llama-cpp-python is not installed")
    from llama_cpp import Llama

    return Llama(str(tiny_gguf), n_ctx=1024, n_threads=1, n_batch=256, seed=0, verbose=False)


@pytest.fixture(scope="session")
def tiny_backend(tiny_llama):  # type: ignore[no-untyped-def]
    from slmgraph.models.llamacpp import LlamaCppBackend

    return LlamaCppBackend(tiny_llama, model="tiny-random")


def real_models_enabled() -> bool:
    return os.environ.get("SLMGRAPH_REAL_MODELS") == "1"
