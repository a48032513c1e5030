"""Checks of the call log's promises, shared by its tests and ``benchmarks/reliability_calllog.py``.

- :func:`kill_trial`: a forked child logs calls and acknowledges each on stdout (``ack
  <call_id>``) once the run has moved past it; the parent sends ``SIGKILL`` after a given number
  of acknowledgements and :func:`audit` counts the acknowledged calls missing from the log and
  the calls logged twice. The child runs whatever function speaks that protocol (the tests'
  runs real graph runs: ``tests/fixtures/reliability/calllog/child.py``).
- :func:`unwritable`: the ways a log cannot be written (a read-only folder, a full disk, a
  path under a file, a file that is not SQLite, a folder), made real in a scratch folder. As root
  a read-only folder and a full disk are small ``tmpfs`` mounts (permission bits do not stop
  root); without root the full disk cannot be made and the folder is ``chmod``-ed.
- :func:`record_cost`: seconds per ``record`` in each durability mode, interleaved.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slmgraph.telemetry.calllog import CallLog, CallRecord, Durability

#: Every way :func:`unwritable` can break a log.
UNWRITABLE = ("read-only folder", "full disk", "path under a file", "not SQLite", "a folder")

#: One prompt node on a scripted tier: the graph the durability trials and the benchmark log.
ONE_CALL_SPEC: dict[str, Any] = {
    "name": "one_call",
    "state": {"q": "str", "a": "str"},
    "tiers": {"slm": {"backend": "scripted", "settings": {"default": "fine"}}},
    "nodes": {"answer": {"agent": "prompt", "params": {"user": "{q}", "output": "a"}}},
    "edges": [{"from": "START", "to": "answer"}, {"from": "answer", "to": "END"}],
}


@dataclass(frozen=True)
class Trial:
    """One kill: how many calls the child acknowledged and what the log holds of them."""

    kill_after: int
    delay_s: float
    acked: int
    logged: int
    lost: int
    duplicated: int
    #: False when the child finished (or failed) before the kill reached it.
    killed: bool


def audit(log: str | Path, acked: Sequence[str]) -> tuple[int, int, int]:
    """``(logged, lost, duplicated)``: rows in the log, acknowledged calls absent from it, and
    rows beyond the first for one call (same call id, or same run, node, group and attempt)."""
    rows = CallLog(log, durability="call").rows()
    ids = {r["call_id"] for r in rows}
    keys = {(r["run_id"], r["node"], r["call_group"], r["attempt"]) for r in rows}
    duplicated = len(rows) - min(len(ids), len(keys))
    return len(rows), sum(1 for c in set(acked) if c not in ids), duplicated


def kill_trial(
    start: Callable[[], object],
    log: str | Path,
    *,
    kill_after: int,
    delay_s: float = 0.0,
    timeout_s: float = 300.0,
) -> Trial:
    """Fork a child that runs ``start()`` with its stdout on a pipe, ``SIGKILL`` it ``delay_s``
    after its ``kill_after``-th ``ack`` line, and audit ``log`` against every ``ack`` it
    printed (those after the threshold too).

    A fork, not a new interpreter: the child inherits the parent's imports, so a trial costs
    the calls it makes rather than seconds of start-up (POSIX only).
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        code = 0
        try:
            os.close(read_fd)
            sys.stdout = os.fdopen(write_fd, "w", buffering=1)
            start()
            sys.stdout.flush()
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    acked: list[str] = []
    reached: queue.Queue[bool] = queue.Queue()

    def read() -> None:
        with os.fdopen(read_fd) as lines:
            for line in lines:
                if line.startswith("ack "):
                    acked.append(line.split()[1])
                    if len(acked) == kill_after:
                        reached.put(True)
        reached.put(False)  # end of output: the child is gone

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        killed = reached.get(timeout=timeout_s)
    except queue.Empty:
        killed = False
    if killed and delay_s:
        time.sleep(delay_s)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    killed = killed and os.WIFSIGNALED(status)
    reader.join(timeout=30)
    logged, lost, duplicated = audit(log, acked)
    return Trial(kill_after, delay_s, len(acked), logged, lost, duplicated, killed)


@contextlib.contextmanager
def tmpfs(folder: Path, *, size_kb: int = 64, read_only: bool = False) -> Iterator[bool]:
    """Mount a small tmpfs on ``folder`` for the block; yields False where that cannot be done
    (not root, no ``mount``)."""
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size_kb}k" + (",ro" if read_only else "")
    try:
        done = (
            hasattr(os, "geteuid")
            and os.geteuid() == 0
            and subprocess.run(
                ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                capture_output=True,
                timeout=30,
            ).returncode
            == 0
        )
    except (OSError, subprocess.SubprocessError):
        done = False
    try:
        yield done
    finally:
        if done:
            for args in (["umount", str(folder)], ["umount", "-l", str(folder)]):
                if subprocess.run(args, capture_output=True, timeout=30).returncode == 0:
                    break


def fill(folder: Path) -> int:
    """Fill the file system of ``folder`` up (a file of zeros until ENOSPC); bytes written."""
    written = 0
    with open(folder / "filler", "wb", buffering=0) as out:
        chunk = b"\0" * 4096
        with contextlib.suppress(OSError):
            while True:
                written += out.write(chunk) or 0
        with contextlib.suppress(OSError):
            while True:  # the last partial block
                written += out.write(b"\0") or 0
    return written


@contextlib.contextmanager
def unwritable(case: str, base: Path) -> Iterator[Path | None]:
    """A log path that cannot be written, the way ``case`` (one of :data:`UNWRITABLE`) says;
    None where this machine cannot make that case."""
    base.mkdir(parents=True, exist_ok=True)
    if case == "path under a file":
        (base / "notes.txt").write_text("a file, not a folder\n")
        yield base / "notes.txt" / "calls.sqlite"
    elif case == "not SQLite":
        (base / "calls.sqlite").write_text("these are notes, not a database\n" * 200)
        yield base / "calls.sqlite"
    elif case == "a folder":
        (base / "calls.sqlite").mkdir()
        yield base / "calls.sqlite"
    elif case == "full disk":
        with tmpfs(base / "full") as mounted:
            if mounted:
                fill(base / "full")
            yield base / "full" / "calls.sqlite" if mounted else None
    elif case == "read-only folder":
        folder = base / "ro"
        if hasattr(os, "geteuid") and os.geteuid() != 0:
            folder.mkdir()
            folder.chmod(0o555)
            try:
                yield folder / "calls.sqlite"
            finally:
                folder.chmod(0o755)
        else:
            with tmpfs(folder, read_only=True) as mounted:
                yield folder / "calls.sqlite" if mounted else None
    else:
        raise ValueError(f"unknown case {case!r}; known: {', '.join(UNWRITABLE)}")


def record_cost(
    folder: Path,
    modes: Sequence[Durability] = ("batch", "call", "fsync"),
    *,
    calls: int = 500,
    repeats: int = 5,
) -> dict[str, dict[str, float]]:
    """Median seconds per ``record`` in each mode over ``repeats`` rounds (modes interleaved so
    machine noise hits them alike): ``record`` (what the caller waits) and ``written`` (until
    the rows are in the log: a batch's flush included)."""
    seen: dict[str, dict[str, list[float]]] = {m: {"record": [], "written": []} for m in modes}
    for round_ in range(repeats):
        for mode in modes:
            log = CallLog(folder / f"{mode}-{round_}.sqlite", durability=mode).open()
            rows = [
                CallRecord(messages=[{"role": "user", "content": f"q{i} " * 40}], output="x" * 200)
                for i in range(calls)
            ]
            started = time.perf_counter()
            for rec in rows:
                log.record(rec)
            recorded = time.perf_counter()
            log.flush()
            written = time.perf_counter()
            log.close()
            seen[mode]["record"].append((recorded - started) / calls)
            seen[mode]["written"].append((written - started) / calls)
    return {m: {k: statistics.median(v) for k, v in d.items()} for m, d in seen.items()}
