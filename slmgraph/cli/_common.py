"""What the command groups share: the call log named on the command line, JSON input, a
run's result table."""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slmgraph.errors import SlmgraphError, SpecError
from slmgraph.telemetry.calllog import CallLog, default_log_path, is_url

Handler = Callable[[argparse.Namespace], int]


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


def read_input(text: str) -> dict[str, Any]:
    """``--input``: a JSON object, or ``@file.json``."""
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError.single("input", f"cannot read --input {text}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError.single("input", f"--input is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError.single("input", "--input must be a JSON object of state keys")
    return data


def window_seconds(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhdw]?)", text.strip())
    if not m:
        raise SlmgraphError(f"--window {text!r}: use a number with s, m, h, d or w (e.g. 6h)")
    unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
    return float(m.group(1)) * unit


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
