"""SQL out of a model's free text (code fences, prose, a trailing ``;``), for models decoding
without the grammar and for benchmarks' baselines."""

from __future__ import annotations

import re


def extract_sql(text: str) -> str:
    """The first SQL statement in a model's free-text answer (code fences, prose and a trailing
    ``;`` removed). With the grammar on the answer is already bare SQL."""
    fence = re.search(r"```(?:sql|sqlite)?\s*(.*?)```", text, re.S | re.I)
    if fence:
        text = fence.group(1)
    elif "```" in text:
        text = text.split("```", 1)[1].removeprefix("sql").removeprefix("sqlite")
    m = re.search(r"\b(SELECT|WITH)\b", text, re.I)
    if m:
        text = text[m.start() :]
    out, quote = [], None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
        elif ch == ";":
            break
        out.append(ch)
    return "".join(out).strip()
