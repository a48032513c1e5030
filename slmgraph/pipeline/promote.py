"""S6 Promote and iterate: evidence from shadow calls, the spec-level switch, and drift.

- **Shadow evidence.** A node with ``shadow: TIER`` runs that tier beside its own on every call
  (in the background; the answer stays the primary's). Both calls share a ``call_group`` in the
  log, the shadow's ``params.shadow_of`` names the tier that answered. :func:`shadow_report`
  pairs them: per node and candidate, how often the candidate's output agrees with the answer
  (parsed JSON equal, SQL equal after sqlglot normalisation, or normalised text equal), its
  error rate, and both sides' latency and cost.
- **Promote.** :func:`promote` moves a node to the candidate tier by editing the spec file in
  place — only the node's ``tier:`` (and its ``shadow:``, now pointless) change; comments and
  layout stay — and refuses without enough agreeing shadow calls unless forced.
- **Drift.** :func:`drift` slices the log into time windows: calls per node, failure and fallback
  rates per tier, shadow agreement, and (given ``slmgraph cluster`` output) the share of calls
  per task cluster and of calls that fit no cluster. It says when to run S2-S5 again.
"""

from __future__ import annotations

import difflib
import json
import re
import shutil
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from slmgraph._suggest import did_you_mean
from slmgraph.answers import same_answer
from slmgraph.errors import SlmgraphError
from slmgraph.loader import load_spec
from slmgraph.pipeline.cluster import embed_with
from slmgraph.plugins import ensure_loaded
from slmgraph.telemetry.calllog import CallLog, is_shadow
from slmgraph.tiers import resolve_tier


@dataclass
class ShadowPair:
    node: str
    tier: str
    shadow: str
    ts: float
    agree: bool
    shadow_error: bool
    latency_s: float | None
    shadow_latency_s: float | None
    cost_usd: float
    shadow_cost_usd: float


def shadow_pairs(rows: Iterable[dict[str, Any]]) -> list[ShadowPair]:
    """Each shadow call with the answer it shadowed (the ok, non-shadow call of its group)."""
    ensure_loaded()  # the domains' rules for "same answer"
    answers: dict[str, dict[str, Any]] = {}
    shadows: list[dict[str, Any]] = []
    for r in rows:
        if is_shadow(r):
            shadows.append(r)
        elif r["status"] == "ok":
            answers[r["call_group"]] = r
    out = []
    for s in shadows:
        a = answers.get(s["call_group"])
        if a is None:
            continue  # the primary failed: no answer to agree with
        out.append(
            ShadowPair(
                node=str(s.get("node")),
                tier=str(a.get("tier")),
                shadow=str(s.get("tier")),
                ts=float(s["ts"]),
                agree=s["status"] == "ok" and same_answer(a.get("output"), s.get("output")),
                shadow_error=s["status"] != "ok",
                latency_s=a.get("latency_s"),
                shadow_latency_s=s.get("latency_s"),
                cost_usd=float(a.get("cost_usd") or 0.0),
                shadow_cost_usd=float(s.get("cost_usd") or 0.0),
            )
        )
    return out


@dataclass
class ShadowSummary:
    node: str
    tier: str
    shadow: str
    n: int
    agreement: float
    shadow_error_rate: float
    p50_s: float | None
    shadow_p50_s: float | None
    cost_per_call: float
    shadow_cost_per_call: float


def shadow_report(rows: Iterable[dict[str, Any]]) -> list[ShadowSummary]:
    groups: dict[tuple[str, str, str], list[ShadowPair]] = defaultdict(list)
    for p in shadow_pairs(rows):
        groups[(p.node, p.tier, p.shadow)].append(p)

    def p50(values: Sequence[float | None]) -> float | None:
        v = [x for x in values if x is not None]
        return round(statistics.median(v), 3) if v else None

    out = []
    for (node, tier, shadow), ps in sorted(groups.items()):
        n = len(ps)
        out.append(
            ShadowSummary(
                node=node,
                tier=tier,
                shadow=shadow,
                n=n,
                agreement=round(sum(p.agree for p in ps) / n, 4),
                shadow_error_rate=round(sum(p.shadow_error for p in ps) / n, 4),
                p50_s=p50([p.latency_s for p in ps]),
                shadow_p50_s=p50([p.shadow_latency_s for p in ps]),
                cost_per_call=sum(p.cost_usd for p in ps) / n,
                shadow_cost_per_call=sum(p.shadow_cost_usd for p in ps) / n,
            )
        )
    return out


def shadow_markdown(summaries: Sequence[ShadowSummary]) -> str:
    lines = [
        "| node | tier | shadow | calls | agreement | shadow errors | p50 s | shadow p50 s "
        "| $/call | shadow $/call |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        lines.append(
            f"| {s.node} | {s.tier} | {s.shadow} | {s.n} | {s.agreement:.0%} "
            f"| {s.shadow_error_rate:.0%} | {s.p50_s} | {s.shadow_p50_s} "
            f"| {s.cost_per_call:.2e} | {s.shadow_cost_per_call:.2e} |"
        )
    return "\n".join(lines) + "\n"


# --- promote: edit the spec in place -----------------------------------------------------


def _mapping_item(mapping: yaml.MappingNode, key: str) -> tuple[yaml.ScalarNode, yaml.Node] | None:
    for k, v in mapping.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return k, v
    return None


def _node_mapping(text: str, node: str, path: Path) -> yaml.MappingNode:
    root = yaml.compose(text)
    if not isinstance(root, yaml.MappingNode):
        raise SlmgraphError(f"{path}: not a spec (no top-level mapping)")
    nodes = _mapping_item(root, "nodes")
    if nodes is None or not isinstance(nodes[1], yaml.MappingNode):
        raise SlmgraphError(f"{path}: no `nodes:` mapping")
    item = _mapping_item(nodes[1], node)
    if item is None or not isinstance(item[1], yaml.MappingNode):
        names = [k.value for k, _ in nodes[1].value]
        hint = did_you_mean(node, names, "nodes") or ""
        raise SlmgraphError(f"{path}: no node {node!r} under `nodes:`. {hint}".strip())
    if item[1].start_mark.index < item[0].end_mark.index:  # defined before its key: an alias
        raise SlmgraphError(
            f"{path}: node {node!r} is a YAML alias of another mapping; editing it would move "
            "every node sharing it. Give the node its own mapping first"
        )
    return item[1]


def set_node_tier(text: str, node: str, tier: str, path: Path = Path("spec")) -> str:
    """The spec text with ``nodes.<node>.tier`` set to ``tier`` and a ``shadow: <tier>`` of that
    node removed; everything else byte for byte."""
    mapping = _node_mapping(text, node, path)
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement), applied back to front
    found = _mapping_item(mapping, "tier")
    if found is not None:
        v = found[1]
        if v.start_mark.index == v.end_mark.index:  # `tier:` with no value
            edits.append((v.start_mark.index, v.end_mark.index, f" {tier}"))
        else:
            edits.append((v.start_mark.index, v.end_mark.index, tier))
    elif mapping.flow_style:
        end = mapping.end_mark.index - 1  # the closing brace
        edits.append((end, end, f", tier: {tier}"))
    else:
        first_key = mapping.value[0][0]
        indent = " " * first_key.start_mark.column
        line_start = text.rfind("\n", 0, first_key.start_mark.index) + 1
        edits.append((line_start, line_start, f"{indent}tier: {tier}\n"))
    shadow = _mapping_item(mapping, "shadow")
    if shadow is not None and shadow[1].value == tier:
        k, v = shadow
        if mapping.flow_style:
            start = text.rfind(",", 0, k.start_mark.index)
            end = v.end_mark.index
            if start < mapping.start_mark.index:  # the first key: drop the comma after it
                start = k.start_mark.index
                m = re.compile(r"\s*,\s*").match(text, end)
                end = m.end() if m else end
            edits.append((start, end, ""))
        else:
            line_start = text.rfind("\n", 0, k.start_mark.index) + 1
            line_end = text.find("\n", v.end_mark.index)
            edits.append((line_start, len(text) if line_end < 0 else line_end + 1, ""))
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


@dataclass
class PromoteResult:
    path: Path
    node: str
    old_tier: str | None
    tier: str
    evidence: ShadowSummary | None
    written: bool
    diff: str


def promote(
    spec_path: str | Path,
    node: str,
    tier: str,
    *,
    log: CallLog | None,
    min_agreement: float = 0.9,
    min_calls: int = 30,
    force: bool = False,
    dry_run: bool = False,
) -> PromoteResult:
    """Move ``node`` to ``tier`` in the spec file, given enough shadow evidence in ``log``."""
    path = Path(spec_path).resolve()  # a symlinked spec: edit the file it points to
    if not path.is_file():
        raise SlmgraphError(f"no spec file at {path} (promote edits a spec file in place)")
    spec = load_spec(path)
    if node not in spec.nodes:
        raise SlmgraphError(f"{path}: no node {node!r}")
    if tier not in spec.tiers:
        raise SlmgraphError(
            f"{path}: no tier {tier!r} under `tiers:`; declare the candidate tier first "
            f"(have: {', '.join(spec.tiers)})"
        )
    old = resolve_tier(spec, node)
    evidence = None
    if log is not None:
        for s in shadow_report(log.rows("node = ?", (node,))):
            if s.shadow == tier and s.tier == old:
                evidence = s
    if not force:
        if evidence is None:
            raise SlmgraphError(
                f"no shadow calls of {node!r} on {tier!r} in the log: set `shadow: {tier}` on the "
                f"node and run traffic first (or --force)"
            )
        if evidence.n < min_calls or evidence.agreement < min_agreement:
            raise SlmgraphError(
                f"not enough evidence to move {node!r} to {tier!r}: {evidence.n} shadow calls "
                f"(need {min_calls}), agreement {evidence.agreement:.0%} (need "
                f"{min_agreement:.0%}); run more traffic, fine-tune further, or --force"
            )
    text = path.read_text(encoding="utf-8")
    new = set_node_tier(text, node, tier, path)
    diff = "".join(
        difflib.unified_diff(
            text.splitlines(True), new.splitlines(True), str(path), f"{path} (promoted)"
        )
    )
    # The edited spec is written beside the original (relative paths resolve alike), validated
    # as a whole, and only then moved over it: a failed promotion leaves the spec untouched.
    tmp = path.with_name(f".{path.name}.promote.tmp")
    tmp.write_text(new, encoding="utf-8")
    shutil.copymode(path, tmp)
    try:
        load_spec(tmp)
        if not dry_run:
            tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return PromoteResult(path, node, old, tier, evidence, not dry_run, diff)


# --- drift -----------------------------------------------------------------------------


@dataclass
class Window:
    start: float
    calls: int
    node_share: dict[str, float]
    tier_failure_rate: dict[str, float]
    fallback_rate: float
    shadow_agreement: dict[str, float]
    cluster_share: dict[str, float] = field(default_factory=dict)


@dataclass
class DriftReport:
    window_s: float
    windows: list[Window]
    reasons: list[str]

    @property
    def rerun(self) -> bool:
        return bool(self.reasons)

    def as_dict(self) -> dict[str, Any]:
        return {
            "window_s": self.window_s,
            "rerun": self.rerun,
            "reasons": self.reasons,
            "windows": [asdict(w) for w in self.windows],
        }

    def markdown(self) -> str:
        import datetime as dt

        lines = ["| window start (UTC) | calls | fallback | failures by tier | top nodes "
                 "| shadow agreement | clusters |", "|---|---|---|---|---|---|---|"]  # fmt: skip
        for w in self.windows:
            when = dt.datetime.fromtimestamp(w.start, dt.UTC).strftime("%Y-%m-%d %H:%M")

            def fmt(d: dict[str, float]) -> str:
                top = sorted(d.items(), key=lambda i: -i[1])[:4]
                return ", ".join(f"{k} {v:.0%}" for k, v in top) or "-"

            lines.append(
                f"| {when} | {w.calls} | {w.fallback_rate:.0%} | {fmt(w.tier_failure_rate)} "
                f"| {fmt(w.node_share)} | {fmt(w.shadow_agreement)} | {fmt(w.cluster_share)} |"
            )
        verdict = (
            "Run curate/cluster/select/finetune again: " + "; ".join(self.reasons) + "."
            if self.reasons
            else "No drift beyond the thresholds: the current models still fit the traffic."
        )
        return "\n".join(lines) + "\n\n" + verdict + "\n"


def drift(
    rows: Sequence[dict[str, Any]],
    *,
    window_s: float = 86400.0,
    clusters: str | Path | None = None,
    failure_rise: float = 0.05,
    fallback_rise: float = 0.05,
    share_shift: float = 0.2,
    unassigned_max: float = 0.1,
    min_calls: int = 20,
) -> DriftReport:
    """Windows of ``window_s`` seconds, and the reasons (if any) to run S2-S5 again: a tier's
    failure rate or the fallback rate up by more than the given points against the first
    window, the task mix moved (total variation distance of cluster or node shares), or calls
    that fit no known cluster. Only windows with at least ``min_calls`` calls are compared
    (the first such and the last such: a window just begun says little)."""
    if not rows:
        raise SlmgraphError("the call log is empty: nothing to compare")
    assign = _cluster_assigner(clusters) if clusters is not None else None
    t0 = min(float(r["ts"]) for r in rows)
    buckets: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        buckets[int((float(r["ts"]) - t0) // window_s)].append(r)
    windows = []
    for b in sorted(buckets):
        rs = buckets[b]
        primary = [r for r in rs if not is_shadow(r)]
        nodes = Counter(str(r.get("node")) for r in primary)
        by_tier: dict[str, list[bool]] = defaultdict(list)
        for r in primary:
            by_tier[str(r.get("tier"))].append(r["status"] != "ok")
        groups: dict[str, int] = Counter(str(r["call_group"]) for r in primary)
        fell_back = {str(r["call_group"]) for r in primary if r.get("fallback_from")}
        agreement = {f"{s.node}->{s.shadow}": s.agreement for s in shadow_report(rs) if s.n > 0}
        w = Window(
            start=t0 + b * window_s,
            calls=len(primary),
            node_share={k: v / len(primary) for k, v in nodes.items()} if primary else {},
            tier_failure_rate={t: sum(v) / len(v) for t, v in by_tier.items()},
            fallback_rate=len(fell_back) / len(groups) if groups else 0.0,
            shadow_agreement=agreement,
        )
        if assign is not None and primary:
            labels = assign([r for r in primary if r["status"] == "ok"])
            total = max(1, len(labels))
            w.cluster_share = {k: v / total for k, v in Counter(labels).items()}
        windows.append(w)
    full = [w for w in windows if w.calls >= min_calls]
    reasons = _drift_reasons(full, failure_rise, fallback_rise, share_shift, unassigned_max)
    return DriftReport(window_s, windows, reasons)


def _tvd(a: dict[str, float], b: dict[str, float]) -> float:
    return 0.5 * sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b))


def _drift_reasons(
    windows: Sequence[Window],
    failure_rise: float,
    fallback_rise: float,
    share_shift: float,
    unassigned_max: float,
) -> list[str]:
    if len(windows) < 2:
        return []
    first, last = windows[0], windows[-1]
    reasons = []
    for tier, rate in sorted(last.tier_failure_rate.items()):
        before = first.tier_failure_rate.get(tier, 0.0)
        if rate - before > failure_rise:
            reasons.append(f"tier {tier} fails {rate:.0%} of calls (was {before:.0%})")
    if last.fallback_rate - first.fallback_rate > fallback_rise:
        reasons.append(
            f"fallbacks on {last.fallback_rate:.0%} of calls (was {first.fallback_rate:.0%})"
        )
    mix_before = first.cluster_share or first.node_share
    mix_now = last.cluster_share or last.node_share
    shift = _tvd(mix_before, mix_now)
    if shift > share_shift:
        what = "task clusters" if last.cluster_share else "nodes"
        reasons.append(f"the mix of {what} moved by {shift:.0%} (total variation)")
    unassigned = last.cluster_share.get("unassigned", 0.0)
    if unassigned > unassigned_max:
        reasons.append(f"{unassigned:.0%} of calls fit no known task cluster")
    return reasons


def _cluster_assigner(clusters: str | Path) -> Any:
    """Nearest-centroid assignment with the clustering's own embedder (``slmgraph cluster``
    writes ``centroids.npz``); calls less similar than the least similar member seen when
    clustering are ``unassigned``."""
    import numpy as np

    d = Path(clusters)
    f = d / "centroids.npz"
    if not f.exists():
        raise SlmgraphError(f"no {f}: run 'slmgraph cluster' (it writes the centroids) first")
    data = np.load(f, allow_pickle=False)
    centroids, ids, floor = data["centroids"], data["ids"], float(data["floor"])
    embedder = str(data["embedder"])
    vocab_file = d / "tfidf.json"

    def assign(rows: Sequence[dict[str, Any]]) -> list[str]:
        if not rows:
            return []
        examples = [
            {"messages": json.loads(r["messages"]) if isinstance(r["messages"], str)
             else r["messages"], "output": r.get("output")}
            for r in rows
        ]  # fmt: skip
        x = embed_with(examples, embedder, vocab_file if vocab_file.exists() else None)
        sims = (
            x
            @ centroids.T
            / np.maximum(
                np.linalg.norm(x, axis=1, keepdims=True) * np.linalg.norm(centroids, axis=1), 1e-9
            )
        )
        best = sims.argmax(axis=1)
        return [
            str(int(ids[j])) if sims[i, j] >= floor else "unassigned" for i, j in enumerate(best)
        ]

    return assign
