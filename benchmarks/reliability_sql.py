"""SQL execution under attack: the hostile, legitimate and resource-attack corpora of
``tests/fixtures/reliability/sql`` run against the Chinook sample database.

    .venv/bin/python benchmarks/reliability_sql.py [--timeout-s 10]

Figures: hostile statements that reached the database (0 is the bar) and whether the database
and the file system stayed as they were; legitimate statements refused by the guard, the
checker or the database (0 is the bar); and per resource attack, in a fresh subprocess each
(under an address-space cap, so a failure cannot take the machine down): the outcome, the
wall seconds of the check and execute stages, the peak RSS over the process's own baseline,
and the peak bytes of SQLite temp files. The corpora's reader and the runs are
:mod:`slmgraph.eval.sql.reliability` (shared with ``tests/test_sql_reliability.py``);
:func:`measure` returns the figures, :func:`section` writes them as markdown
(``benchmarks/reliability.py`` assembles the sections).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from slmgraph.eval.sql.reliability import hostile_figures, legit_figures, load_corpus, run_attacks

ROOT = Path(__file__).resolve().parent.parent
CHINOOK = ROOT.parent / "shared" / "data" / "samples" / "chinook.sqlite"


def measure(timeout_s: float = 10.0) -> dict[str, Any]:
    """All figures (see the module's docstring); ``skipped`` when Chinook is absent."""
    from slmgraph.tools.sql.base import DEFAULT_LIMITS, MAX_NESTING, MAX_SQL_TOKENS

    if not CHINOOK.exists():
        return {"skipped": f"{CHINOOK} not found (see ../shared/data/README.md)"}
    attacks = []
    for category, sql in load_corpus("resource"):
        (figures,) = run_attacks([sql], CHINOOK, timeout_s=timeout_s)
        attacks.append(
            {"sql": sql if len(sql) <= 80 else sql[:77] + "...", "expect": category, **figures}
        )
    limits = DEFAULT_LIMITS.but(timeout_s=timeout_s)
    return {
        "limits": {**vars(limits), "max_sql_tokens": MAX_SQL_TOKENS, "max_nesting": MAX_NESTING},
        "hostile": hostile_figures(CHINOOK),
        "legit": legit_figures(CHINOOK),
        "attacks": attacks,
    }


def section(figures: dict[str, Any]) -> str:
    """The figures as a markdown section: the limits, the corpora's counts, the attacks."""
    if "skipped" in figures:
        return f"## SQL execution\n\nSkipped: {figures['skipped']}.\n"
    lim, hostile, legit, attacks = (figures[k] for k in ("limits", "hostile", "legit", "attacks"))
    mb = 1e6
    out = [
        "## SQL execution",
        "",
        f"Limits (slmgraph/tools/sql/base.py): {lim['timeout_s']:g} s, {lim['max_rows']} rows "
        f"(the graph's execute node: 50), {lim['max_cell_bytes'] / mb:g} MB a value, "
        f"{lim['max_result_bytes'] / mb:g} MB a result, {lim['max_memory_bytes'] // 2**20} MiB "
        f"of SQLite heap with temp storage in memory; statements of at most "
        f"{lim['max_sql_tokens']:,} tokens and {lim['max_nesting']} levels of nesting.",
        "",
        f"- Hostile statements executed: **{hostile['executed']}** of {hostile['statements']} "
        f"(database changed: {'yes' if hostile['database_changed'] else 'no'}; files created: "
        f"{len(hostile['files_created'])}; with the guard bypassed, {hostile['bypassed']} "
        f"writes sent straight at the read-only connection, {len(hostile['bypass_ran'])} ran)",
        f"- Legitimate statements refused: **{len(legit['refused'])}** of {legit['statements']} "
        f"(slowest check {legit['slowest_check_s']:.2f} s)",
    ]
    for r in legit["refused"]:
        out.append(f"  - `{r['sql']}`: {r['by']}: {r['why']}")
    out += [
        "",
        "| attack | may fire | outcome | check s | wall s | CPU s | peak RSS Δ MB | temp MB |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for a in attacks:
        shown = a.get("error") or ("truncated" if a.get("truncated") else "")
        outcome = f"{a['outcome']}: {shown[:60]}" if shown else a["outcome"]
        sql = a["sql"].replace("|", "\\|")
        out.append(
            f"| `{sql}` | {a['expect']} | {outcome.replace('|', '/')} | {a.get('check_s', 0):.2f} "
            f"| {a.get('wall_s', 0):.2f} | {a.get('cpu_s', 0):.2f} "
            f"| {a.get('rss_delta', 0) / mb:.0f} | {a.get('temp_bytes', 0) / mb:.1f} |"
        )
    done = [a for a in attacks if a["outcome"] != "crashed"]
    if done:
        out += [
            "",
            f"Maxima over the attacks: {max(a['wall_s'] for a in done):.2f} s wall, "
            f"{max(a['cpu_s'] for a in done):.2f} s CPU, "
            f"{max(a['rss_delta'] for a in done) / mb:.0f} MB peak RSS over baseline, "
            f"{max(a['temp_bytes'] for a in done) / mb:.1f} MB of temp files; "
            f"{len(attacks) - len(done)} crashed.",
        ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timeout-s", type=float, default=10.0)
    args = parser.parse_args()
    print(section(measure(args.timeout_s)))
