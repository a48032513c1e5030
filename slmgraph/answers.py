"""When are two model answers the same answer? One rule for the whole project: the cascade's
self-consistency vote, parallel verification's agreement, shadow agreement before a promotion,
and a candidate's agreement with the teacher in ``slmgraph select``.

Equal parsed JSON values; else equal text up to case, spacing, code fences and a final ``;``;
else whatever a domain's equivalence says (the query-writer's: two SQL queries equal after
sqlglot normalisation; :func:`slmgraph.registry.register_equivalence`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from slmgraph import registry


def normalise(value: Any) -> str:
    """A comparable form of an answer (structured values as sorted JSON)."""
    if not isinstance(value, str):
        return json.dumps(value, sort_keys=True)
    text = re.sub(r"^```\w*\s*|\s*```$", "", value.strip())
    return re.sub(r"\s+", " ", text).strip().rstrip(";").casefold()


def same_answer(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return False
    try:
        return bool(json.loads(a) == json.loads(b))
    except (json.JSONDecodeError, TypeError):
        pass
    if normalise(a) == normalise(b):
        return True
    # the loaded plug-ins' rules (callers outside a graph load them: slmgraph.plugins)
    return any(same(a, b) for same in registry.EQUIVALENCES.values())
