"""How much of a team can a small model take? Per role, the share of a large-model run's tasks
whose outcome is unchanged when that role's calls are answered by the small tier instead.

Method (issue: replay the logged calls): ``team-llm`` runs with the call log on. For each role,
the task is run again with that role on ``slm`` while every other call is *replayed from the
log* — a call whose messages and constraint match a logged large-model call gets the logged
answer, at no cost — so only the role's own small-model calls, and whatever downstream call
changed because its input changed, are computed. Greedy decoding makes the replay exact: where
the small model wrote what the large one did, nothing downstream changes. A task counts as
replaceable for the role when its official outcome (pass or fail) is the same as the logged
run's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slmgraph.eval.replay import ReplayBackend
from slmgraph.eval.team.humaneval import ROLES, Task, official_pass
from slmgraph.graphs.builder import build
from slmgraph.loader import load_spec
from slmgraph.runner import run
from slmgraph.spec import GraphSpec
from slmgraph.telemetry.calllog import CallLog
from slmgraph.tiers import TierRegistry


def replaceability(
    llm_spec: GraphSpec,
    tasks: Sequence[Task],
    records: dict[str, dict[str, Any]],
    log: CallLog,
    roles: Sequence[str] = ROLES,
) -> dict[str, dict[str, Any]]:
    """Per role: of the tasks ``records`` (the logged ``team-llm`` run, by task id) holds, how
    many keep their official outcome with that role on ``slm`` and every other call replayed
    from ``log``. Also the calls the replays had to compute (``computed``) and replayed."""
    registry = TierRegistry(dict(llm_spec.tiers), None)
    llm = registry.backend("llm")
    slm = registry.backend("slm")
    out: dict[str, dict[str, Any]] = {}
    for role in roles:
        unchanged = n = computed = replayed = 0
        for task in tasks:
            rec = records.get(task.id)
            if rec is None or not rec.get("run_id"):
                continue
            replay = ReplayBackend.from_log(llm, log.for_run(str(rec["run_id"])))
            data = llm_spec.model_dump(by_alias=True, exclude_none=True, exclude={"source"})
            data["nodes"][role]["tier"] = "slm"
            built = build(load_spec(data), backends={"llm": replay, "slm": slm}, call_log=False)
            result = run(built, {"task": task.prompt})
            passed, _ = official_pass(task, result.output.get("code"))
            n += 1
            unchanged += passed == bool(rec["correct"])
            computed += replay.misses + sum(
                1 for t in result.trace if t.get("node") == role and t.get("tier") == "slm"
            )
            replayed += replay.hits
        share = round(unchanged / n, 4) if n else None
        out[role] = {"n": n, "unchanged": unchanged, "share": share,
                     "computed_calls": computed, "replayed_calls": replayed}  # fmt: skip
    return out
