"""The command line on bad input (tests/fixtures/reliability/cli/cases.yaml), every case a real
subprocess on real files: a truncated, corrupt, empty, unreadable or locked database, paths and
questions that are not UTF-8, ``--approve`` with no stdin, ``sqlite:///`` URLs, bad ``--input``,
unknown graphs and models, bugs in a command. Each ends as one line on stderr and a non-zero
exit, never a traceback; what ``ask`` prints is bounded. The cases run once, four at a time, by
benchmarks/reliability_cli.py (which the reliability report calls too)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import ROOT


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location(
        "reliability_cli", ROOT / "benchmarks" / "reliability_cli.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("reliability_cli", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


BENCH = _bench()
CASES, TIERS = BENCH.load_cases()


@pytest.fixture(scope="module")
def outcomes() -> dict[str, Any]:
    return {o.case.id: o for o in BENCH.run_all(CASES)}


def test_the_corpus_covers_the_issue() -> None:
    ids = {c.id for c in CASES}
    assert len(ids) == len(CASES) >= 45
    for kind in (
        "db_truncated", "db_corrupt_first_page", "db_corrupt_data_page",
        "db_locked_by_another_process", "db_path_not_utf8", "approve_stdin_devnull",
        "approve_stdin_closed", "db_sqlite_url_accepted", "db_missing", "db_unreadable",
        "db_is_a_directory", "db_empty_file", "run_input_not_json", "run_unknown_graph",
        "run_unknown_model", "question_longer_than_an_argument",
        "question_from_a_file_longer_than_an_argument", "run_input_from_stdin",
        "output_bound_json", "output_bound_text", "output_bound_raised", "unexpected_exception",
    ):  # fmt: skip
        assert kind in ids
    assert set(BENCH.SETUPS) >= {c.setup for c in CASES if c.setup}
    assert all(c.exit != 0 for c in CASES if c.kind == "bad")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case(case: Any, outcomes: dict[str, Any]) -> None:
    outcome = outcomes[case.id]
    if outcome.skipped:
        pytest.skip(outcome.skipped)
    assert outcome.problems() == [], f"stderr: {outcome.stderr[-2000:]}"


def test_the_judge_catches_what_it_must() -> None:
    """A traceback, a zero exit, a long stderr or a stdout past its bound each fail a case."""
    case = next(c for c in CASES if c.id == "db_missing")
    said = "error: no SQLite database at /x/absent.sqlite: check the path"
    good = BENCH.Outcome(case, 1, 0, "", said, 1.0)
    assert good.problems() == []
    tb = "Traceback (most recent call last):\n  File ...\nKeyError: 'x'\n"
    assert any("traceback" in p for p in dataclasses.replace(good, stderr=tb).problems())
    assert any("exit code 0" in p for p in dataclasses.replace(good, exit=0).problems())
    two = dataclasses.replace(good, stderr=good.stderr + "\nmore")
    assert any("lines on stderr" in p for p in two.problems())
    bound = next(c for c in CASES if c.id == "output_bound_json")
    big = BENCH.Outcome(bound, 0, 600_000_000, "", "", 1.0)
    assert any("bytes on stdout" in p for p in big.problems())


def test_the_lock_is_waited_for_and_the_wait_is_bounded(outcomes: dict[str, Any]) -> None:
    from slmgraph.cli.sql_db import LOCK_WAIT_S

    locked = outcomes["db_locked_by_another_process"]
    assert LOCK_WAIT_S <= locked.seconds < LOCK_WAIT_S + 90  # start-up on a busy machine


def test_ask_json_output_is_bounded_and_says_so(outcomes: dict[str, Any]) -> None:
    data = json.loads(outcomes["output_bound_json"].stdout_head)
    assert data["error"] is None and data["truncated"] is True  # 60 rows, 50 fetched
    assert len(data["rows"]) == 50
    assert all(r[0] == "x" * 1000 + "…[+199000 chars]" for r in data["rows"])
    assert data["output_truncated"] == {
        "values_cut": 51,  # the cells and the answer sentence
        "max_cell": 1000,
        "rows_not_shown": 0,
        "max_rows": 50,
        "note": "51 value(s) cut at 1000 characters (raise the bounds with --max-cell, --max-rows)",
    }
    raised = outcomes["output_bound_raised"]
    assert raised.stdout_bytes > 60 * 200_000  # --max-cell 0 --max-rows 60: every value whole


def test_debug_prints_the_traceback_too() -> None:
    env = {
        **os.environ,
        "SLMGRAPH_PLUGINS": "faulty_plugin:PLUGIN",
        "PYTHONPATH": str(BENCH.FIXTURES),
    }
    for args, extra in (([], {"SLMGRAPH_DEBUG": "1"}), (["--debug"], {})):
        out = subprocess.run(
            [sys.executable, "-m", "slmgraph", *args, "crash", "key"],
            capture_output=True,
            text=True,
            env={**env, **extra},
            timeout=120,
        )
        assert out.returncode == 1
        assert "Traceback (most recent call last)" in out.stderr and "_key_error" in out.stderr
        assert out.stderr.strip().splitlines()[-1].startswith("error: unexpected KeyError")


def test_a_reader_that_goes_away_is_no_error(tmp_path: Path) -> None:
    """``slmgraph ask ... | head -c 10`` on 12 MB of output: the broken pipe ends the command
    quietly, with no traceback and no "Exception ignored" at exit."""
    BENCH.SETUPS["big_cells"](tmp_path)
    (tmp_path / "tiers.yaml").write_text(yaml.safe_dump(TIERS["scripted"]))
    out = subprocess.run(
        f"'{sys.executable}' -m slmgraph ask 'show the big values' --db db.sqlite --json "
        "--no-log --max-cell 0 --max-rows 60 | head -c 10",
        shell=True,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "SLMGRAPH_TIERS": str(tmp_path / "tiers.yaml")},
        timeout=120,
    )
    assert out.stdout == '{\n  "quest' and out.stderr == ""
