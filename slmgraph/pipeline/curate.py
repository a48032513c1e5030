"""S2 Curate: from the call log to training examples.

Keeps the calls that succeeded (drops ``error`` and ``cancelled`` rows, calls whose user
feedback is negative, and shadow calls — a candidate's answer is not the teacher's), removes
duplicates (same node, same messages, same output), scrubs PII from each call's messages and
output as one record (so a placeholder means the same value in the prompt and in the answer),
and writes one JSON line per example:

    {"call_id", "run_id", "session_id", "node", "tier", "model", "messages", "output",
     "constraint", "ts"}

plus a report (counts of calls read, kept and dropped by reason, and PII replaced per entity
type). The node name is the workload id the later steps group by.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slmgraph.pipeline.scrub import NOT_COVERED, scrub_record
from slmgraph.telemetry.calllog import CallLog, is_shadow


@dataclass
class CurateReport:
    read: int = 0
    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    pii: Counter[str] = field(default_factory=Counter)
    by_node: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "kept": self.kept,
            "dropped": dict(self.dropped),
            "pii_replaced": dict(self.pii),
            "pii_not_covered": list(NOT_COVERED),
            "kept_by_node": dict(self.by_node),
        }

    def markdown(self) -> str:
        lines = [
            f"Calls read: {self.read}; kept: {self.kept}.",
            "",
            "| dropped because | calls |",
            "|---|---|",
            *[f"| {k} | {v} |" for k, v in sorted(self.dropped.items())],
            "",
            "| PII replaced | values |",
            "|---|---|",
            *[f"| {k} | {v} |" for k, v in sorted(self.pii.items())],
            "",
            f"Not covered by the scrubber: {', '.join(NOT_COVERED) or 'nothing we know of'}.",
        ]
        return "\n".join(lines) + "\n"


def curate(
    log: CallLog | str | Path,
    out: str | Path,
    *,
    nodes: list[str] | None = None,
    runs: Collection[str] | None = None,
    scrub_pii: bool = True,
) -> CurateReport:
    """Write the curated examples of ``log`` to ``out`` (JSONL) and return the report.

    ``runs``: keep only the calls of these run ids, e.g. the runs that finished. A process killed
    mid-run leaves that run's first calls in the log; its rerun repeats them word for word, and
    deduplication (which keeps the first) would otherwise keep the orphan and drop the rerun's.
    """
    calllog = log if isinstance(log, CallLog) else CallLog(log)
    report = CurateReport()
    seen: set[str] = set()
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with out_path.open("w", encoding="utf-8") as f:
        for row in calllog.rows():
            report.read += 1
            if nodes is not None and row.get("node") not in nodes:
                report.dropped["other node"] += 1
                continue
            if runs is not None and row.get("run_id") not in runs:
                report.dropped["other run"] += 1
                continue
            if is_shadow(row):
                report.dropped["shadow call"] += 1  # a candidate's answer, not the teacher's
                continue
            if row["status"] != "ok":
                report.dropped[f"status {row['status']}"] += 1
                continue
            if row.get("output") is None:
                report.dropped["no output"] += 1
                continue
            if row.get("feedback") is not None and float(row["feedback"]) < 0:
                report.dropped["negative feedback"] += 1
                continue
            messages = json.loads(row["messages"])
            key = hashlib.sha256(
                json.dumps([row.get("node"), messages, row["output"]], sort_keys=True).encode()
            ).hexdigest()
            if key in seen:
                report.dropped["duplicate"] += 1
                continue
            seen.add(key)
            output = str(row["output"])
            if scrub_pii:
                texts, counts = scrub_record([*(str(m["content"]) for m in messages), output])
                messages = [{**m, "content": t} for m, t in zip(messages, texts[:-1], strict=True)]
                output = texts[-1]
                report.pii.update(counts)
            example = {
                "call_id": row["call_id"],
                "run_id": row.get("run_id"),
                "session_id": row.get("session_id"),
                "node": row.get("node"),
                "tier": row.get("tier"),
                "model": row.get("model"),
                "messages": messages,
                "output": output,
                "constraint": json.loads(row["constraint_json"])
                if row.get("constraint_json")
                else None,
                "ts": row.get("ts"),
            }
            f.write(json.dumps(example, ensure_ascii=False) + "\n")
            report.kept += 1
            report.by_node[str(row.get("node"))] += 1
    return report
