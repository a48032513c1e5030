"""The replay's per-episode skill stores (benchmarks/miniwob_replay.py): each episode sees only
the skills learned before it in the logged run, with the counts they had then."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1] / "benchmarks"))

from miniwob_replay import _write_store, stores_before

from slmgraph.tools.browser.skills import Skill, SkillStore


def test_each_episode_sees_only_earlier_skills_with_their_counts(tmp_path: Path) -> None:
    final = tmp_path / "skills.sqlite"
    store = SkillStore(final)
    for name in ("t/a", "u/b"):
        store.add(Skill(name, name[0], "Click {0}.", [{"op": "click", "name": "{0}"}], 1, 0))
    store.record("t/a", False)
    store.close()
    records = [
        {"id": "t/0", "correct": True, "skill_used": None, "skill_learned": "t/a"},
        {"id": "t/1", "correct": False, "skill_used": "t/a", "skill_learned": None},
        {"id": "u/0", "correct": True, "skill_used": None, "skill_learned": "u/b"},
        {"id": "t/2", "correct": True, "skill_used": None, "skill_learned": None},
    ]
    stores = stores_before(records, final)
    assert stores["t/0"] == []
    assert [(r[0], r[4], r[5]) for r in stores["t/1"]] == [("t/a", 1, 0)]
    assert [(r[0], r[4], r[5]) for r in stores["u/0"]] == [("t/a", 1, 1)]
    assert [(r[0], r[4], r[5]) for r in stores["t/2"]] == [("t/a", 1, 1), ("u/b", 1, 0)]
    # a rebuilt store is read by the store's own code: before t/2, t/a is 1-1 (not offered)
    path = tmp_path / "before-t2.sqlite"
    _write_store(path, stores["t/2"])
    rebuilt = SkillStore(path)
    assert rebuilt.retrieve("u", "Click OK.")[0][1] == ["OK"]
    assert rebuilt.retrieve("t", "Click OK.") == []
    rebuilt.close()
