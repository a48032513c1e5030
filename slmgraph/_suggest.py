"""Closest-name suggestions for unknown names ("Did you mean 'slm'?")."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to ``name``, or None when nothing is reasonably close."""
    candidates = sorted(set(known))
    if not candidates:
        return None
    lowered = {c.lower(): c for c in candidates}
    if name.lower() in lowered:
        return lowered[name.lower()]
    match = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    if match:
        return lowered[match[0]]
    # Prefix matches catch abbreviations ("llama" -> "llamacpp").
    prefixed = [c for c in candidates if c.lower().startswith(name.lower()) and len(name) >= 3]
    return prefixed[0] if len(prefixed) == 1 else None


def did_you_mean(name: str, known: Iterable[str], what: str = "") -> str:
    """A hint sentence: "Did you mean 'x'?" or the list of known names when none is close."""
    known = sorted(set(known))
    best = closest(name, known)
    if best is not None:
        return f"Did you mean {best!r}?"
    if not known:
        return f"No {what or 'names'} are defined."
    shown = ", ".join(repr(k) for k in known[:12])
    more = f" (and {len(known) - 12} more)" if len(known) > 12 else ""
    return f"Known {what or 'names'}: {shown}{more}."
