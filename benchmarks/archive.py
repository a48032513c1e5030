"""Run folders (benchmarks/runs/, not committed) archived into benchmarks/results/, so that a
later session, on a fresh clone, can pair its systems with the ones answered before and resume
a system where it stopped: each system's predictions (and its skill store or call log, where it
has one) gzipped under results/<benchmark>-runs/<run>/."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

FILES = ("predictions.jsonl", "skills.sqlite", "calls.sqlite", "replaceability.json")


def save(run_dir: Path, results: Path, benchmark: str) -> None:
    """Archive ``run_dir``'s files (those it has) under results/<benchmark>-runs/<name>/.

    An archive whose content is already the file's is left as it is, and gzip's header carries
    no timestamp: saving after a run rewrites only the archives that run changed, so the other
    systems' archives do not show up as modified in git. A run that answered nothing is not
    archived.
    """
    dest = results / f"{benchmark}-runs" / run_dir.name
    answered = run_dir / "predictions.jsonl"
    if not answered.exists() or answered.stat().st_size == 0:
        return  # nothing answered yet: an archive of nothing would only be noise in git
    for name in FILES:
        src = run_dir / name
        if not src.exists():
            continue
        data, packed = src.read_bytes(), dest / f"{name}.gz"
        if packed.exists() and gzip.decompress(packed.read_bytes()) == data:
            continue
        dest.mkdir(parents=True, exist_ok=True)
        packed.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))


def restore(run_dir: Path, results: Path, benchmark: str) -> bool:
    """Unpack an archived run into ``run_dir`` where it has no predictions yet; True if so."""
    src = results / f"{benchmark}-runs" / run_dir.name
    if (run_dir / "predictions.jsonl").exists() or not (src / "predictions.jsonl.gz").exists():
        return False
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        packed = src / f"{name}.gz"
        if packed.exists():
            with gzip.open(packed, "rb") as fin, (run_dir / name).open("wb") as f:
                shutil.copyfileobj(fin, f)
    return True
