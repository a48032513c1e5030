"""When are two model answers the same answer? One rule for the whole project: the cascade's
self-consistency vote, parallel verification's agreement, shadow agreement before a promotion,
and a candidate's agreement with the teacher in ``slmgraph select``.

Equal parsed JSON values; else equal text up to case, spacing, code fences and a final ``;``;
else, for two SQL queries, equal after sqlglot normalisation.
"""

from __future__ import annotations

import json
import re
from typing import Any


def normalise(value: Any) -> str:
    """A comparable form of an answer (structured values as sorted JSON)."""
    if not isinstance(value, str):
        return json.dumps(value, sort_keys=True)
    text = re.sub(r"^```\w*\s*|\s*```$", "", value.strip())
    return re.sub(r"\s+", " ", text).strip().rstrip(";").casefold()


def _norm_sql(text: str) -> str | None:
    import sqlglot

    try:
        return sqlglot.transpile(text, read="sqlite", write="sqlite")[0].casefold()
    except Exception:  # not SQL, or SQL sqlglot cannot read
        return None


def same_answer(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return False
    try:
        return bool(json.loads(a) == json.loads(b))
    except (json.JSONDecodeError, TypeError):
        pass
    if normalise(a) == normalise(b):
        return True
    if re.match(r"\s*(select|with)\b", a, re.I) and re.match(r"\s*(select|with)\b", b, re.I):
        sa, sb = _norm_sql(a), _norm_sql(b)
        return sa is not None and sa == sb
    return False
