"""The PII scrubber on its reliability corpus: survivors per PII type, false scrubs per
look-alike kind and per entity type that fired wrongly, on the tuning split (``dev``) and the
held-out one (``test``).

    .venv/bin/python benchmarks/reliability_pii.py [--json OUT] [--failures]

The corpus (``tests/fixtures/reliability/pii/corpus.jsonl``, built by ``build_corpus.py``
beside it) embeds each value in a sentence, an SQL literal and a JSON value. The reader and the
judge are :mod:`slmgraph.testing.reliability` (its docstring says when a record fails);
``tests/test_pii_corpus.py`` holds these figures as a ratchet.

``measure()`` and ``section()`` are what the reliability report calls.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from slmgraph.pipeline.scrub import scrub
from slmgraph.testing.reliability import SPLITS, load, outcomes
from slmgraph.testing.reliability import measure as measure_corpus


def _scrub_text(text: str) -> str:
    return scrub(text).text


def measure() -> dict[str, Any]:
    """The current scrubber's figures on the corpus, with the recorded ``before`` beside them."""
    return measure_corpus(_scrub_text)


def _totals(split: dict[str, Any]) -> tuple[int, int, int, int]:
    pii, look = split["pii"].values(), split["lookalikes"].values()
    return (
        sum(c["instances"] for c in pii),
        sum(c["survivors"] for c in pii),
        sum(c["lookalikes"] for c in look),
        sum(c["false_scrubs"] for c in look),
    )


def section(figures: dict[str, Any]) -> str:
    """Markdown: one table of PII types, one of look-alike kinds; before → after, dev | test."""
    after, before = figures["after"], figures.get("before") or {}

    def cell(split: str, group: str, kind: str, key: str) -> str:
        now = after[split][group].get(kind, {}).get(key, 0)
        was = before.get(split, {}).get(group, {}).get(kind, {}).get(key)
        return f"{now}" if was is None or was == now else f"{was} → {now}"

    def table(title: str, group: str, count: str, *keys: str) -> list[str]:
        """A kind per row: its ``count`` (dev / test), then each of ``keys`` on dev and test."""
        heads = [title, "instances (dev / test)"]
        heads += [f"{key.replace('_', ' ')} {s}" for key in keys for s in SPLITS]
        rows = ["| " + " | ".join(heads) + " |", "| --- " * len(heads) + "|"]
        for kind in sorted({k for s in SPLITS for k in after[s][group]}):
            n = " / ".join(str(after[s][group].get(kind, {}).get(count, 0)) for s in SPLITS)
            cells = [cell(s, group, kind, key) for key in keys for s in SPLITS]
            rows.append("| " + " | ".join([kind, n, *cells]) + " |")
        return rows

    lines = [
        "### PII scrubber",
        "",
        f"Corpus: `{figures['corpus']}`, {figures['records']} records; tuned on dev, test held "
        "out. A cell reads before → after where they differ.",
        "",
        *table("PII type", "pii", "instances", "survivors", "mistyped"),
        "",
        *table("look-alike", "lookalikes", "lookalikes", "false_scrubs"),
    ]
    lines += ["", "| totals | PII | survivors | look-alikes | false scrubs |", "| --- " * 5 + "|"]
    for s in SPLITS:
        now = _totals(after[s])
        was = _totals(before[s]) if s in before else now
        lines.append(f"| {s} | {now[0]} | {was[1]} → {now[1]} | {now[2]} | {was[3]} → {now[3]} |")
    fired = {s: after[s]["false_scrubs_by_type"] for s in SPLITS}
    lines += [
        "",
        "Entity types that fired on a look-alike (dev / test): "
        + (
            ", ".join(
                f"{k} {fired['dev'].get(k, 0)} / {fired['test'].get(k, 0)}"
                for k in sorted(set(fired["dev"]) | set(fired["test"]))
            )
            or "none"
        )
        + ".",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--failures", action="store_true", help="list every failed record")
    ap.add_argument("--split", choices=SPLITS, help="with --failures: only this split")
    args = ap.parse_args()
    if args.failures:
        for o in outcomes(load(), _scrub_text):
            if o.failed and args.split in (None, o.row["split"]):
                print(f"{o.row['id']} {o.row['variant']}: {o.row['text']!r} -> {o.out!r}")
        return
    figs = measure()
    if args.json:
        args.json.write_text(json.dumps(figs, indent=1) + "\n")
    sys.stdout.write(section(figs))


if __name__ == "__main__":
    main()
