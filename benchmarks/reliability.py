"""The reliability report: every area's corpus and trials in one run, assembled into
``benchmarks/results/reliability-latest.md`` (and ``reliability-latest.json``).

    .venv/bin/python benchmarks/reliability.py [--area sql --area pii ...] [--rewrite]

Areas, each a module beside this one with ``measure()`` (the figures) and ``section()`` (their
Markdown), run one after another (never two at once: the SQL attacks and the kill trials time
themselves):

- ``sql``: hostile and legitimate statements, resource attacks (``reliability_sql.py``);
- ``calllog``: kill -9 of logging runs, overhead, logs that cannot be written;
- ``resume``: durable runs killed and resumed, SQLite and PostgreSQL;
- ``backends``: fault scenarios against ``openai_compat``;
- ``cli``: bad input on the command line;
- ``pii``: the scrubber's survivors and false scrubs per type.

With ``--area``, only those are measured; the others keep their figures from the last
``reliability-latest.json``, so the report is always whole (each section says when it was
measured).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))

from overhead import machine  # noqa: E402

AREAS = ("sql", "calllog", "resume", "backends", "cli", "pii")


def _sql(f: dict[str, Any]) -> list[tuple[str, str]]:
    if "skipped" in f:
        return [("SQL", f"skipped: {f['skipped']}")]
    done = [a for a in f["attacks"] if a["outcome"] != "crashed"]
    worst = (
        f"{max(a['wall_s'] for a in done):.2f} s, "
        f"{max(a['rss_delta'] for a in done) / 1e6:.0f} MB RSS over baseline, "
        f"{max(a['temp_bytes'] for a in done) / 1e6:.1f} MB temp"
    )
    lim = f["limits"]
    return [
        (
            "hostile statements executed",
            f"{f['hostile']['executed']} of {f['hostile']['statements']}",
        ),
        (
            "legitimate statements refused",
            f"{len(f['legit']['refused'])} of {f['legit']['statements']}",
        ),
        (
            f"resource attacks ({len(f['attacks'])}): crashed; the maxima",
            f"{len(f['attacks']) - len(done)}; {worst} (limits: {lim['timeout_s']:g} s, "
            f"{lim['max_memory_bytes'] // 2**20} MiB SQLite heap, temp storage in memory)",
        ),
    ]


def _calllog(f: dict[str, Any]) -> list[tuple[str, str]]:
    lost = ", ".join(f"{m} {k['lost']}/{k['acknowledged']}" for m, k in f["kill"].items())
    silent = sum(1 for u in f["unwritable"].values() if u.get("silent"))
    return [
        ("acknowledged calls lost after kill -9 (per log and mode)", lost),
        ("silent call-log failures", f"{silent} of {len(f['unwritable'])}"),
    ]


def _resume(f: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for engine, e in f["engines"].items():
        if "skipped" in e:
            out.append((f"kill and resume, {engine}", f"skipped: {e['skipped']}"))
            continue
        t = e["trials"]
        out.append(
            (
                f"kill and resume, {engine}: rows lost / duplicated / different answers",
                f"{sum(x['lost'] for x in t)} / {sum(x['duplicated'] for x in t)} / "
                f"{sum(0 if x['same_answer'] else 1 for x in t)} in {len(t)} trials",
            )
        )
    return out


def _backends(f: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (
            "backend faults ending outside fallback or a defined error",
            f"{f['outside']} of {f['faults']} faults",
        )
    ]


def _cli(f: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        ("CLI tracebacks", f"{f['tracebacks']} in {f['cases']} cases"),
        ("CLI bad inputs exiting non-zero", f"{f['non_zero_exits']} of {f['bad_input_cases']}"),
    ]


def _pii(f: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for split in ("dev", "test"):
        s = f["after"][split]
        pii, look = s["pii"].values(), s["lookalikes"].values()
        out.append(
            (
                f"PII survivors / false scrubs ({split}; per type below)",
                f"{sum(c['survivors'] for c in pii)} of {sum(c['instances'] for c in pii)} / "
                f"{sum(c['false_scrubs'] for c in look)} of {sum(c['lookalikes'] for c in look)}",
            )
        )
    return out


HEADLINES: dict[str, Callable[[dict[str, Any]], list[tuple[str, str]]]] = {
    "sql": _sql,
    "calllog": _calllog,
    "resume": _resume,
    "backends": _backends,
    "cli": _cli,
    "pii": _pii,
}


def _module(area: str) -> Any:
    return importlib.import_module(f"reliability_{area}")


def _level2(text: str) -> str:
    """Each section's first heading as ``##``, the rest one level below it."""
    lines = text.strip("\n").split("\n")
    first = next((i for i, ln in enumerate(lines) if ln.startswith("#")), None)
    if first is None:
        return text
    shift = 2 - (len(lines[first]) - len(lines[first].lstrip("#")))
    for i, ln in enumerate(lines):
        m = re.match(r"^(#+) ", ln)
        if m:
            lines[i] = "#" * max(2, len(m.group(1)) + shift) + ln[len(m.group(1)) :]
    return "\n".join(lines) + "\n"


def _commit() -> str:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        cwd=HERE,
    ).stdout.strip()
    return out.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


def report(figures: dict[str, Any]) -> str:
    """The whole Markdown report from the figures of every area."""
    lines = [
        "# Reliability",
        "",
        "Produced by `.venv/bin/python benchmarks/reliability.py`; each area's own script "
        "(`benchmarks/reliability_<area>.py`) prints its section alone, and the tests run the "
        "same corpora in CI.",
        "",
        "| figure | measured |",
        "| --- | --- |",
    ]
    for area in AREAS:
        if area in figures["areas"]:
            for name, value in HEADLINES[area](figures["areas"][area]["figures"]):
                lines.append(f"| {name} | {value} |")
    for area in AREAS:
        entry = figures["areas"].get(area)
        if entry is None:
            continue
        lines += [
            "",
            _level2(_module(area).section(entry["figures"])).rstrip("\n"),
            "",
            f"*Measured {entry['measured']} on {entry['machine']}, commit {entry['commit']}, "
            f"in {entry['wall_s']:.0f} s.*",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--area", action="append", choices=AREAS, help="measure only this area")
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder of the report")
    ap.add_argument(
        "--rewrite", action="store_true", help="measure nothing: rewrite the report from the JSON"
    )
    args = ap.parse_args()
    if args.rewrite:
        figures = json.loads((args.out / "reliability-latest.json").read_text())
        (args.out / "reliability-latest.md").write_text(report(figures), encoding="utf-8")
        return
    logging.getLogger("sqlglot").setLevel(logging.ERROR)  # the hostile corpus's parse fallbacks
    latest = args.out / "reliability-latest.json"
    figures: dict[str, Any] = (
        json.loads(latest.read_text()) if latest.exists() and args.area else {"areas": {}}
    )
    for area in args.area or AREAS:
        print(f"reliability: measuring {area} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        measured = _module(area).measure()
        wall = time.perf_counter() - started
        print(f"reliability: {area} in {wall:.0f} s", file=sys.stderr, flush=True)
        figures["areas"][area] = {
            "figures": measured,
            "measured": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(),
            "commit": _commit(),
            "wall_s": wall,
        }
        # After each area: a long run killed halfway keeps what it measured.
        latest.write_text(json.dumps(figures, indent=1, default=str) + "\n", encoding="utf-8")
        (args.out / "reliability-latest.md").write_text(report(figures), encoding="utf-8")
    print(f"reliability: wrote {args.out / 'reliability-latest.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
