"""How much of the operator can a small model take? Per module, the share of a large-model
run's episodes whose outcome is unchanged when that module's calls are answered by the small
tier instead (the same method as the software team's, ``eval/team/replace.py``).

``operator-llm`` runs with the call log on. For each module, every episode is run again in the
browser with that module on ``slm`` while every other call is replayed from the log (a call
whose messages and constraint match a logged one gets the logged answer, at no cost); only the
module's own calls, and whatever changed downstream, are computed. An episode counts as
replaceable for the module when its outcome (success or not) is the same as the logged run's.
The replays read a copy of the run's final skill store and learn nothing (so one replay cannot
change another); where the store offers other skills than it did during the run, those calls
are computed too (counted in ``computed_calls``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from slmgraph.eval.operator.miniwob import MODULES, Episode
from slmgraph.eval.replay import ReplayBackend
from slmgraph.graphs.builder import build
from slmgraph.loader import load_spec
from slmgraph.runner import run
from slmgraph.spec import GraphSpec
from slmgraph.telemetry.calllog import CallLog
from slmgraph.tiers import TierRegistry
from slmgraph.tools.browser.miniwob import MiniWoB
from slmgraph.tools.browser.skills import SkillStore


def replaceability(
    llm_spec: GraphSpec,
    items: Sequence[Episode],
    records: dict[str, dict[str, Any]],
    log: CallLog,
    skills: Path | None = None,
    modules: Sequence[str] = MODULES,
    browser: MiniWoB | None = None,
) -> dict[str, dict[str, Any]]:
    """Per module: of the episodes ``records`` (the logged ``operator-llm`` run, by id) holds,
    how many keep their outcome with that module on ``slm`` and the other calls replayed."""
    registry = TierRegistry(dict(llm_spec.tiers), None)
    llm, slm = registry.backend("llm"), registry.backend("slm")
    env = browser or MiniWoB()
    folder = Path(tempfile.mkdtemp(prefix="slmgraph-replay-"))
    store_path = folder / "skills.sqlite"
    if skills is not None and skills.exists():
        shutil.copyfile(skills, store_path)
    store = SkillStore(store_path)
    out: dict[str, dict[str, Any]] = {}
    try:
        for module in modules:
            data = llm_spec.model_dump(by_alias=True, exclude_none=True, exclude={"source"})
            data["nodes"][module]["tier"] = "slm"
            data["nodes"]["finish"].setdefault("params", {})["learn"] = False
            spec = load_spec(data)
            unchanged = n = computed = replayed = 0
            for item in items:
                rec = records.get(item.id)
                if rec is None or not rec.get("run_id"):
                    continue
                replay = ReplayBackend.from_log(llm, log.for_run(str(rec["run_id"])))
                built = build(spec, backends={"llm": replay, "slm": slm}, call_log=False)
                result = run(built, {"task": item.task, "seed": item.seed},
                             resources={"browser": env, "skills": store})  # fmt: skip
                n += 1
                unchanged += (result.output.get("outcome") == "success") == bool(rec["correct"])
                computed += replay.misses + sum(
                    1 for t in result.trace
                    if t.get("node") == module and t.get("tier") == "slm" and t.get("model")
                )  # fmt: skip
                replayed += replay.hits
            out[module] = {"n": n, "unchanged": unchanged,
                           "share": round(unchanged / n, 4) if n else None,
                           "computed_calls": computed, "replayed_calls": replayed}  # fmt: skip
    finally:
        store.close()
        if browser is None:
            env.close()
        shutil.rmtree(folder, ignore_errors=True)
    return out
