"""The command line on bad input: every case of ``tests/fixtures/reliability/cli/cases.yaml`` run
as a real subprocess (``python -m slmgraph ...``) in a folder of its own, on scripted tiers, and
judged: the exit code, no traceback, at most ``max_lines`` lines on stderr matching the case's
regex, and for the output-bound cases the bytes on stdout.

    .venv/bin/python benchmarks/reliability_cli.py [--json OUT] [--case ID] [--workers N]

The setup recipes (:data:`SETUPS`) make real files (truncated, corrupt, unreadable), hold a real
lock from a child process, and write the tiers file; ``tests/test_cli_bad_input.py`` runs the
same cases. ``measure()`` and ``section()`` are what the reliability report calls.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "reliability" / "cli"
CASES = FIXTURES / "cases.yaml"
#: Longer than Linux's limit on one argument (MAX_ARG_STRLEN, 128 KiB): only stdin can carry it.
LONG_QUESTION = "how many rows? " + "x" * 300_000
#: Root reads any file: the unreadable case drops the capabilities that let it (setpriv).
DROP_READ_ANY = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


@dataclass(frozen=True)
class Case:
    id: str
    argv: list[str]
    exit: int
    stderr: str
    kind: str = "bad"
    setup: str | None = None
    stdin: Any = "devnull"
    tiers: str = "scripted"
    env: dict[str, str] = field(default_factory=dict)
    stdout: str | None = None
    stdout_max_bytes: int | None = None
    stdout_min_bytes: int | None = None
    max_lines: int = 1


@dataclass(frozen=True)
class Outcome:
    case: Case
    exit: int
    stdout_bytes: int
    stdout_head: str  # all of it up to 1 MB; beyond, the first and last 4,000 characters
    stderr: str
    seconds: float
    folder: str = ""
    skipped: str = ""  # why the case could not be run here (it then has no problems)

    @property
    def stderr_lines(self) -> int:
        return len(self.stderr.strip().splitlines())

    def problems(self) -> list[str]:
        """What is wrong with this outcome (empty: the case passed)."""
        c, out = self.case, []
        if self.skipped:
            return []
        if c.kind == "bad" and self.exit == 0:
            out.append("exit code 0 on bad input")
        if self.exit != c.exit:
            out.append(f"exit code {self.exit}, expected {c.exit}")
        if "Traceback" in self.stderr:
            out.append("a traceback on stderr")
        if self.stderr_lines > c.max_lines:
            out.append(f"{self.stderr_lines} lines on stderr, at most {c.max_lines} allowed")
        if not re.search(c.stderr, self.stderr.strip()):
            out.append(f"stderr does not match {c.stderr!r}")
        if c.stdout and not re.search(c.stdout, self.stdout_head):
            out.append(f"stdout does not match {c.stdout!r}")
        if c.stdout_max_bytes is not None and self.stdout_bytes > c.stdout_max_bytes:
            out.append(f"{self.stdout_bytes} bytes on stdout, over {c.stdout_max_bytes}")
        if c.stdout_min_bytes is not None and self.stdout_bytes < c.stdout_min_bytes:
            out.append(f"{self.stdout_bytes} bytes on stdout, under {c.stdout_min_bytes}")
        return out


def load_cases(path: Path = CASES) -> tuple[list[Case], dict[str, Any]]:
    """The cases, and the tiers documents they name."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [Case(**c) for c in data["cases"]], data["tiers"]


# -- setup recipes: each prepares a case's folder; a context manager, for those that hold something


def _sqlite(path: Path, rows: list[tuple[str]]) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (big TEXT)")
    conn.executemany("INSERT INTO t VALUES (?)", rows)
    conn.commit()
    conn.close()


def _pages(path: Path) -> None:
    """A database of many 4 KiB pages: table t's root is page 2."""
    _sqlite(path, [("y" * 3000,)] * 200)


def _overwrite(path: Path, offset: int, size: int) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        f.write(b"\xa5" * size)


@contextmanager
def _locked(d: Path) -> Iterator[None]:
    _sqlite(d / "db.sqlite", [("short",)])
    holder = (
        "import sqlite3, sys, time\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('BEGIN EXCLUSIVE')\n"
        "print('locked', flush=True)\n"
        "time.sleep(300)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", holder, str(d / "db.sqlite")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        yield
    finally:
        child.kill()
        child.wait()


def _truncated(d: Path) -> None:
    _pages(d / "full.sqlite")
    (d / "db.sqlite").write_bytes((d / "full.sqlite").read_bytes()[:8192])


def _short_header(d: Path) -> None:
    _sqlite(d / "full.sqlite", [("short",)])
    (d / "db.sqlite").write_bytes((d / "full.sqlite").read_bytes()[:50])


def _corrupt(offset: int, size: int) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        _pages(d / "db.sqlite")
        _overwrite(d / "db.sqlite", offset, size)

    return make


def _unreadable(d: Path) -> None:
    _sqlite(d / "db.sqlite", [("short",)])
    (d / "db.sqlite").chmod(0)


def _long_question_file(d: Path) -> None:
    _sqlite(d / "db.sqlite", [("short",)])
    (d / "question.txt").write_text(LONG_QUESTION + "\n")


def _not_utf8_text(d: Path) -> None:
    _sqlite(d / "db.sqlite", [("short",)])
    (d / "text.txt").write_bytes(b"how many \xff rows?\n")


def _non_utf8_name(d: Path) -> None:
    _sqlite(Path(os.fsdecode(os.fsencode(d) + b"/\xff\xfe.sqlite")), [("short",)])


SETUPS: dict[str, Callable[[Path], Any]] = {
    "good": lambda d: _sqlite(d / "db.sqlite", [("short",)]),
    "big_cells": lambda d: _sqlite(d / "db.sqlite", [("x" * 200_000,)] * 60),
    "empty": lambda d: (d / "db.sqlite").write_bytes(b""),
    "not_sqlite": lambda d: (d / "db.sqlite").write_text("name,city\nAda,London\n"),
    "short_header": _short_header,
    "truncated": _truncated,
    "corrupt_first_page": _corrupt(100, 3996),  # the schema page, past the file header
    "corrupt_data_page": _corrupt(4096, 4096),  # page 2, the root of table t
    "unreadable": _unreadable,
    "locked": _locked,
    "non_utf8_name": _non_utf8_name,
    "file_as_parent": lambda d: (d / "file.txt").write_text("not a folder\n"),
    "not_utf8_text": _not_utf8_text,
    "long_question_file": _long_question_file,
    "deep_json": lambda d: (d / "deep.json").write_text("[" * 200_000 + "]" * 200_000),
}


@contextmanager
def _prepared(case: Case, d: Path) -> Iterator[None]:
    recipe = SETUPS[case.setup] if case.setup else None
    made = recipe(d) if recipe else None
    if hasattr(made, "__enter__"):
        with made:
            yield
    else:
        yield


def _fill(text: str, d: Path) -> str:
    """``{dir}``, ``{db}`` and ``{fixtures}`` filled in (other braces, as in JSON, left alone)."""
    for name, value in (("dir", d), ("db", d / "db.sqlite"), ("fixtures", FIXTURES)):
        text = text.replace("{" + name + "}", str(value))
    return text


def _arg(text: str, d: Path) -> bytes:
    """One argument as bytes: placeholders filled, ``\\xNN`` as the raw byte."""
    filled = _fill(text, d)
    return re.sub(rb"\\x([0-9a-fA-F]{2})", lambda m: bytes([int(m[1], 16)]), filled.encode())


def run_case(case: Case, tiers: dict[str, Any], base: Path) -> Outcome:
    """Run one case in a fresh folder under ``base`` (removed afterwards)."""
    d = base / case.id
    d.mkdir(mode=0o755)
    (d / "tiers.yaml").write_text(yaml.safe_dump(tiers[case.tiers]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLMGRAPH_")}
    env |= {
        "SLMGRAPH_TIERS": str(d / "tiers.yaml"),
        "SLMGRAPH_NO_AUTO_PULL": "1",  # an unknown or unpulled model is never fetched
        "SLMGRAPH_MODELS_DIR": str(d / "models"),  # ... and none is there to load
        "SLMGRAPH_CALL_LOG": str(d / "calls.sqlite"),
        "XDG_DATA_HOME": str(d / "xdg"),
        "XDG_STATE_HOME": str(d / "xdg"),
        "XDG_CACHE_HOME": str(d / "xdg"),
    }
    env |= {k: _fill(v, d) for k, v in case.env.items()}
    cmd = [os.fsencode(sys.executable), b"-m", b"slmgraph", *(_arg(a, d) for a in case.argv)]
    stdin: Any = subprocess.DEVNULL
    text: bytes | None = None
    if case.stdin == "closed":  # fd 0 closed before exec, as `0<&-` does
        cmd = [b"sh", b"-c", b'exec "$@" 0<&-', b"sh", *cmd]
    elif isinstance(case.stdin, dict):
        stdin = None
        text = case.stdin["text"].replace("{long_question}", LONG_QUESTION).encode()
    if case.setup == "unreadable" and os.geteuid() == 0:
        if shutil.which(DROP_READ_ANY[0]) is None:
            return Outcome(case, 0, 0, "", "", 0.0, skipped="root, and no setpriv to drop it")
        cmd = [*(a.encode() for a in DROP_READ_ANY), *cmd]
    started = time.perf_counter()
    with _prepared(case, d):
        proc = subprocess.run(
            cmd,
            input=text,
            stdin=stdin,
            capture_output=True,
            env=env,
            cwd=d,
            timeout=300,
        )
    seconds = time.perf_counter() - started
    shutil.rmtree(d, ignore_errors=True)
    out = proc.stdout.decode("utf-8", "replace")
    head = out if len(out) <= 2**20 else out[:4000] + "\n" + out[-4000:]
    err = proc.stderr.decode("utf-8", "replace")
    return Outcome(case, proc.returncode, len(proc.stdout), head, err, seconds, str(d))


def run_all(cases: list[Case] | None = None, workers: int = 4) -> list[Outcome]:
    """Every case (or those given), ``workers`` at a time, in a temporary folder."""
    all_cases, tiers = load_cases()
    chosen = all_cases if cases is None else cases
    base = Path(tempfile.mkdtemp(prefix="slmgraph-cli-cases-"))
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda c: run_case(c, tiers, base), chosen))
    finally:
        shutil.rmtree(base, ignore_errors=True)


def figures(outcomes: list[Outcome]) -> dict[str, Any]:
    skipped = {o.case.id: o.skipped for o in outcomes if o.skipped}
    outcomes = [o for o in outcomes if not o.skipped]
    bad = [o for o in outcomes if o.case.kind == "bad"]
    bound = [
        o for o in outcomes if o.case.id.startswith("output_bound") and o.case.stdout_max_bytes
    ]
    return {
        "cases": len(outcomes),
        "bad_input_cases": len(bad),
        "tracebacks": sum("Traceback" in o.stderr for o in outcomes),
        "non_zero_exits": sum(o.exit != 0 for o in bad),
        "max_stderr_lines": max((o.stderr_lines for o in outcomes), default=0),
        "max_stdout_bytes_bounded": max((o.stdout_bytes for o in bound), default=0),
        "failed": {o.case.id: o.problems() for o in outcomes if o.problems()},
        "skipped": skipped,
        "slowest_s": round(max((o.seconds for o in outcomes), default=0.0), 1),
        "by_case": {
            o.case.id: {
                "exit": o.exit,
                "stderr": o.stderr.strip().replace(o.folder, "{dir}"),
                "stdout_bytes": o.stdout_bytes,
                "seconds": round(o.seconds, 1),
            }
            for o in outcomes
        },
    }


def measure() -> dict[str, Any]:
    """Run every case; the figures the reliability report shows."""
    return figures(run_all())


def section(figures: dict[str, Any]) -> str:
    """Markdown: the totals, then one row per case with what it printed."""
    f = figures
    lines = [
        "### Command line on bad input",
        "",
        f"Corpus: `{CASES.relative_to(ROOT)}`, {f['cases']} cases run as subprocesses "
        f"({f['bad_input_cases']} bad inputs, the rest runs that must succeed within bounds).",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| tracebacks | {f['tracebacks']} |",
        f"| bad inputs that exited non-zero | {f['non_zero_exits']} of {f['bad_input_cases']} |",
        f"| most stderr lines of a case | {f['max_stderr_lines']} |",
        f"| most stdout bytes of a bounded-output case | {f['max_stdout_bytes_bounded']:,} |",
        f"| cases failing their expectation | {len(f['failed'])} |",
        "",
        "| case | exit | stderr |",
        "| --- | --- | --- |",
    ]
    for case_id, c in f["by_case"].items():
        said = c["stderr"].replace("|", "\\|") or f"(none; {c['stdout_bytes']:,} bytes on stdout)"
        lines.append(f"| {case_id} | {c['exit']} | {said[:240]} |")
    for case_id, why in f["failed"].items():
        lines.append(f"\nFAILED {case_id}: {'; '.join(why)}")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--case", action="append", help="run only this case (repeatable)")
    ap.add_argument("--workers", type=int, default=4, help="cases run at once (default: 4)")
    args = ap.parse_args()
    cases, _ = load_cases()
    if args.case:
        cases = [c for c in cases if c.id in args.case]
    figs = figures(run_all(cases, args.workers))
    if args.json:
        args.json.write_text(json.dumps(figs, indent=1) + "\n")
    sys.stdout.write(section(figs))


if __name__ == "__main__":
    main()
