"""Run archives: a save rewrites only what changed, and a restore gives the files back."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parents[1] / "benchmarks"))

from archive import restore, save


def test_save_rewrites_only_changed_files_and_restore_round_trips(tmp_path: Path) -> None:
    run, results = tmp_path / "runs" / "sys-abc", tmp_path / "results"
    run.mkdir(parents=True)
    (run / "predictions.jsonl").write_text('{"id": "t/0"}\n')
    (run / "skills.sqlite").write_bytes(b"store-1")
    save(run, results, "bench")
    dest = results / "bench-runs" / "sys-abc"
    before = {p.name: p.read_bytes() for p in dest.iterdir()}
    assert sorted(before) == ["predictions.jsonl.gz", "skills.sqlite.gz"]
    stamp = (dest / "predictions.jsonl.gz").stat().st_mtime_ns
    (run / "skills.sqlite").write_bytes(b"store-2")
    save(run, results, "bench")
    assert (dest / "predictions.jsonl.gz").stat().st_mtime_ns == stamp  # same content: untouched
    assert (dest / "skills.sqlite.gz").read_bytes() != before["skills.sqlite.gz"]
    fresh = tmp_path / "fresh" / "sys-abc"
    assert restore(fresh, results, "bench")
    assert (fresh / "skills.sqlite").read_bytes() == b"store-2"
    assert (fresh / "predictions.jsonl").read_text() == '{"id": "t/0"}\n'


def test_gzip_bytes_do_not_depend_on_when_they_were_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in (1, 2):
        monkeypatch.setattr(gzip.time, "time", lambda n=n: 1.7e9 + 3600 * n)  # an hour apart
        run = tmp_path / f"runs{n}" / "sys"
        run.mkdir(parents=True)
        (run / "predictions.jsonl").write_text("x\n")
        save(run, tmp_path / f"results{n}", "bench")
    one, two = (tmp_path / f"results{n}" / "bench-runs" / "sys" / "predictions.jsonl.gz"
                for n in (1, 2))  # fmt: skip
    assert one.read_bytes() == two.read_bytes()


def test_a_run_with_nothing_answered_leaves_no_archive(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "empty"
    run.mkdir(parents=True)
    (run / "predictions.jsonl").write_text("")  # opened, nothing answered
    (run / "skills.sqlite").write_bytes(b"empty store")
    save(run, tmp_path / "results", "bench")
    assert not (tmp_path / "results" / "bench-runs" / "empty").exists()
