"""SQL out of a model's free text (code fences, prose, a trailing ``;``), for models decoding
without the grammar and for benchmarks' baselines."""

from __future__ import annotations

import re

from sqlglot.errors import TokenError
from sqlglot.tokenizer_core import TokenType

from slmgraph.tools.sql.guard import clean, tokens_of

#: Semicolons tried one by one when the whole text does not tokenize (prose after the SQL).
_MAX_TRIES = 100


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
    return clean(first_statement(clean(text)))


def first_statement(sql: str, dialect: str = "sqlite") -> str:
    """``sql`` up to the ``;`` that ends its first statement, as sqlglot's tokenizer reads it: a
    ``;`` inside a string, a quoted or bracketed name or a comment ends nothing. Text that does
    not tokenize as a whole (prose with an apostrophe after the SQL) is cut at the first ``;``
    whose prefix tokenizes and ends with it; with none, the text is returned whole."""
    if ";" not in sql:
        return sql
    try:
        tokens = tokens_of(sql, dialect)
    except TokenError:
        for i, m in enumerate(re.finditer(";", sql)):
            if i >= _MAX_TRIES:
                break
            try:
                prefix = tokens_of(sql[: m.start() + 1], dialect)
            except TokenError:
                continue  # the ; is inside an unterminated string or name
            if prefix and prefix[-1].token_type == TokenType.SEMICOLON:
                return sql[: prefix[-1].start]
        return sql
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            return sql[: token.start]
    return sql
