"""What the command groups share: usage errors, text arguments that may come from stdin or a
file, the call log named on the command line, JSON input, a run's result table."""

from __future__ import annotations

import argparse
import json
import os
import re
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slmgraph.errors import SlmgraphError
from slmgraph.telemetry.calllog import CallLog, default_log_path, is_url
from slmgraph.telemetry.checkpoints import Checkpoints, default_checkpoints

Handler = Callable[[argparse.Namespace], int]

#: The most a text argument read from stdin or ``@file`` may hold (a question, an input state).
MAX_TEXT_BYTES = 16 * 2**20


class UsageError(SlmgraphError):
    """The command line asks for what cannot be done as written (bad ``--input``, a closed
    stdin to read from, bytes that are not UTF-8): one line, exit 1."""


class Commands:
    """Where command groups (and plug-ins) add their commands."""

    def __init__(self, sub: Any, eval_sub: Any) -> None:
        self._sub = sub
        self._eval = eval_sub

    def add(self, name: str, handler: Handler, **kwargs: Any) -> argparse.ArgumentParser:
        """A top-level command ``slmgraph NAME``; ``kwargs`` go to ``add_parser``."""
        parser: argparse.ArgumentParser = self._sub.add_parser(name, **kwargs)
        parser.set_defaults(handler=handler)
        return parser

    def add_benchmark(self, name: str, handler: Handler, **kwargs: Any) -> argparse.ArgumentParser:
        """A benchmark ``slmgraph eval NAME``."""
        parser: argparse.ArgumentParser = self._eval.add_parser(name, **kwargs)
        parser.set_defaults(handler=handler)
        return parser


class Clipper:
    """Cuts printed values at ``limit`` characters (0: never), marking each cut one with how
    much was left out; ``cut`` counts them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.cut = 0

    def __call__(self, value: Any) -> Any:
        if not self.limit:
            return value
        if isinstance(value, bytes | bytearray | memoryview):
            data = bytes(value)
            if len(data) <= self.limit:
                return value
            self.cut += 1
            return f"{data[: self.limit]!r}…[+{len(data) - self.limit} bytes]"
        if isinstance(value, str) and len(value) > self.limit:
            self.cut += 1
            return f"{value[: self.limit]}…[+{len(value) - self.limit} chars]"
        return value


def open_log(arg: str | None) -> CallLog:
    """The call log named on the command line (or the default); an error if a file is absent."""
    if arg and is_url(arg):
        return CallLog(arg)
    if not arg and is_url(os.environ.get("SLMGRAPH_CALL_LOG")):
        return CallLog()
    path = Path(arg) if arg else default_log_path()
    if not path.exists():
        raise SlmgraphError(f"no call log at {path} (run a graph first, or pass --log)")
    return CallLog(path)


def read_text(arg: str, what: str) -> str:
    """A text argument as given, or read from stdin (``-``) or a file (``@path``): the way past
    the OS limit on one argument (128 KiB on Linux). UTF-8, at most :data:`MAX_TEXT_BYTES`."""
    if arg == "-":
        if sys.stdin is None:  # fd 0 was closed when the process started
            raise UsageError(f"{what} is '-' (read stdin), but stdin is closed: pipe it in")
        source = "stdin"
        buffer = getattr(sys.stdin, "buffer", None)
        data = buffer.read(MAX_TEXT_BYTES + 1) if buffer else sys.stdin.read().encode()
    elif arg.startswith("@"):
        source = arg[1:]
        try:
            with Path(source).open("rb") as f:
                data = f.read(MAX_TEXT_BYTES + 1)
        except OSError as exc:
            why = "it is a directory" if isinstance(exc, IsADirectoryError) else exc.strerror
            raise UsageError(
                f"cannot read {what} from {source}: {why} (@FILE reads a file; - reads stdin)"
            ) from None
    else:
        return arg
    if len(data) > MAX_TEXT_BYTES:
        raise UsageError(f"{what} from {source} is over {MAX_TEXT_BYTES // 2**20} MiB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{what} from {source} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}): convert it, e.g. iconv -t UTF-8"
        ) from None


def stdin_is_empty() -> bool:
    """Whether stdin can give nothing: closed, ``/dev/null``, or a file read to its end (a pipe
    cannot be told apart from one still to be written, so it counts as not empty)."""
    if sys.stdin is None:
        return True
    try:
        st = os.fstat(sys.stdin.fileno())
        if stat.S_ISCHR(st.st_mode) and not os.isatty(sys.stdin.fileno()):
            return st.st_rdev == os.stat(os.devnull).st_rdev
        if stat.S_ISREG(st.st_mode):
            return os.lseek(sys.stdin.fileno(), 0, os.SEEK_CUR) >= st.st_size
    except (OSError, ValueError):  # no file descriptor behind it (a test's StringIO)
        return False
    return False


def read_input(text: str) -> dict[str, Any]:
    """``--input``: a JSON object, ``@file.json``, or ``-`` (stdin)."""
    text = read_text(text, "--input")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--input is not valid JSON: {exc}") from None
    except RecursionError:
        raise UsageError("--input is nested too deeply to read as JSON") from None
    if not isinstance(data, dict):
        raise UsageError(
            f"--input must be a JSON object of state keys, not a {type(data).__name__}: "
            """e.g. '{"question": "..."}'"""
        )
    return data


def window_seconds(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhdw]?)", text.strip())
    if not m:
        raise SlmgraphError(f"--window {text!r}: use a number with s, m, h, d or w (e.g. 6h)")
    unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
    return float(m.group(1)) * unit


def add_thread_args(parser: argparse.ArgumentParser) -> None:
    """``--thread`` and ``--checkpoints``: a durable run that a later command resumes."""
    parser.add_argument(
        "--thread",
        metavar="T",
        help="a durable run named T: its state is saved after every step, and the same command "
        "with the same T picks it up where it stopped (after a kill or a crash) or, if it had "
        "finished, prints its result again without calling a model",
    )
    parser.add_argument(
        "--checkpoints",
        metavar="PATH|URL",
        help="where --thread keeps its steps: a SQLite file or a postgresql:// URL (default: "
        "$SLMGRAPH_CHECKPOINTS, else checkpoints.sqlite beside the call log, or the database of "
        "a PostgreSQL call log)",
    )


def open_checkpoints(args: argparse.Namespace, call_log: CallLog | None) -> Checkpoints | None:
    """The checkpoint store for ``--thread``, or None without it."""
    if getattr(args, "checkpoints", None) and not args.thread:
        raise UsageError("--checkpoints is for durable runs: give --thread T with it")
    if not getattr(args, "thread", None):
        return None
    return Checkpoints(args.checkpoints or default_checkpoints(call_log))


def resumed_note(result: Any, thread: str) -> None:
    """One line on stderr when a --thread run picked up or repeated an earlier one."""
    if result.resumed == "continued":
        print(
            f"slmgraph: thread {thread!r}: picked up where it stopped "
            f"({result.replayed_calls} model call(s) replayed from the call log)",
            file=sys.stderr,
        )
    elif result.resumed == "finished":
        print(f"slmgraph: thread {thread!r} had finished: its stored result", file=sys.stderr)


def print_result(result: Any) -> None:
    """A run's output keys, error, pause, and its trace as a table."""
    for key, value in result.output.items():
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            print(f"{key}:")  # a list of lines (the operator's steps), one per line
            for line in value:
                print(f"  {line}")
            continue
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        print(f"{key}: {shown}")
    if result.error:
        print(f"error: {result.error}")
    if result.next_nodes:
        print(f"paused before: {', '.join(result.next_nodes)}")
    print()
    width = max([18, *(len(str(t["node"])) + 2 for t in result.trace)])
    print(f"{'node':<{width}}{'tier':<8}{'model':<38}{'in':>6}{'out':>6}{'seconds':>9}")
    for t in result.trace:
        print(
            f"{t['node']:<{width}}{(t['tier'] or '-'):<8}{(t['model'] or '-')[:37]:<38}"
            f"{t['tokens_in']:>6}{t['tokens_out']:>6}{t['latency_s']:>9.2f}"
            + ("" if t["status"] == "ok" else f"  {t['status']}: {t['error']}")
        )
    tot = result.totals
    print(
        f"{'total':<{width + 46}}{tot['tokens_in']:>6}{tot['tokens_out']:>6}{tot['wall_s']:>9.2f}"
        f"   ${tot['cost_usd']:.6f}"
    )
