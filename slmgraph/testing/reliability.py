"""The PII scrubber's reliability corpus, shared by its test (``tests/test_pii_corpus.py``) and
its benchmark (``benchmarks/reliability_pii.py``): the reader, the judge of one record, and the
figures per split, type and look-alike kind.

The corpus (``tests/fixtures/reliability/pii/corpus.jsonl``) lives in the repository, not in
the wheel: the functions take its path, by default the checkout's. The scrubber is passed in
(``scrub_text``: text in, scrubbed text out), so this module stays clear of the pipeline.

A PII instance is scrubbed when the text around it is untouched and nothing alphanumeric of it
is left outside placeholders (a title such as ``Dr.`` may stay); a look-alike is scrubbed
wrongly when the text changes at all. A placeholder of another type than the instance's still
scrubs it (``mistyped`` counts those).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "BEFORE",
    "CORPUS",
    "SPLITS",
    "Outcome",
    "figures",
    "judge",
    "load",
    "measure",
    "outcomes",
]

#: The checkout this module sits in (``slmgraph/testing/`` is two levels below it).
REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "fixtures" / "reliability" / "pii" / "corpus.jsonl"
SPLITS = ("dev", "test")
_PLACEHOLDER = re.compile(r"<([A-Z_]+)_\d+>")
_TITLES = {"mr", "mrs", "ms", "miss", "dr", "prof", "herr", "frau", "mme", "m"}

#: The scrubber as it was before the corpus (hand-written regexes, census gazetteer, phones
#: by digit count), measured on this same corpus with this judge. That version is not kept
#: importable; its figures are recorded here so the report shows before and after.
BEFORE: dict[str, Any] = {
    "dev": {
        "pii": {
            "CREDIT_CARD": {"instances": 93, "survivors": 30, "mistyped": 3, "collateral": 0},
            "EMAIL": {"instances": 72, "survivors": 27, "mistyped": 0, "collateral": 0},
            "IBAN": {"instances": 66, "survivors": 48, "mistyped": 15, "collateral": 0},
            "IP_ADDRESS": {"instances": 33, "survivors": 3, "mistyped": 0, "collateral": 0},
            "NATIONAL_ID": {"instances": 72, "survivors": 42, "mistyped": 30, "collateral": 0},
            "PERSON": {"instances": 120, "survivors": 85, "mistyped": 0, "collateral": 0},
            "PHONE": {"instances": 129, "survivors": 24, "mistyped": 0, "collateral": 0},
            "STREET_ADDRESS": {"instances": 57, "survivors": 33, "mistyped": 0, "collateral": 0},
        },
        "lookalikes": {
            "CVE": {"lookalikes": 21, "false_scrubs": 18},
            "DATE": {"lookalikes": 30, "false_scrubs": 3},
            "FLOAT": {"lookalikes": 22, "false_scrubs": 6},
            "ISBN_EAN": {"lookalikes": 33, "false_scrubs": 33},
            "NUMBER": {"lookalikes": 37, "false_scrubs": 6},
            "ORDER_REF": {"lookalikes": 49, "false_scrubs": 17},
            "PLACE_ORG": {"lookalikes": 66, "false_scrubs": 30},
            "SQL_IDENT": {"lookalikes": 44, "false_scrubs": 0},
            "TIMESTAMP": {"lookalikes": 15, "false_scrubs": 15},
            "UUID": {"lookalikes": 18, "false_scrubs": 9},
            "VERSION": {"lookalikes": 33, "false_scrubs": 3},
        },
        "false_scrubs_by_type": {"CREDIT_CARD": 6, "EMAIL": 3, "PERSON": 30, "PHONE": 101},
    },
    "test": {
        "pii": {
            "CREDIT_CARD": {"instances": 45, "survivors": 18, "mistyped": 3, "collateral": 0},
            "EMAIL": {"instances": 33, "survivors": 12, "mistyped": 0, "collateral": 0},
            "IBAN": {"instances": 60, "survivors": 42, "mistyped": 12, "collateral": 0},
            "IP_ADDRESS": {"instances": 15, "survivors": 0, "mistyped": 0, "collateral": 0},
            "NATIONAL_ID": {"instances": 24, "survivors": 12, "mistyped": 12, "collateral": 0},
            "PERSON": {"instances": 36, "survivors": 21, "mistyped": 0, "collateral": 0},
            "PHONE": {"instances": 75, "survivors": 6, "mistyped": 3, "collateral": 0},
            "STREET_ADDRESS": {"instances": 9, "survivors": 3, "mistyped": 0, "collateral": 0},
        },
        "lookalikes": {
            "CVE": {"lookalikes": 6, "false_scrubs": 6},
            "DATE": {"lookalikes": 12, "false_scrubs": 0},
            "FLOAT": {"lookalikes": 17, "false_scrubs": 3},
            "ISBN_EAN": {"lookalikes": 6, "false_scrubs": 6},
            "NUMBER": {"lookalikes": 20, "false_scrubs": 6},
            "ORDER_REF": {"lookalikes": 35, "false_scrubs": 15},
            "PLACE_ORG": {"lookalikes": 36, "false_scrubs": 9},
            "SQL_IDENT": {"lookalikes": 2, "false_scrubs": 0},
            "TIMESTAMP": {"lookalikes": 15, "false_scrubs": 9},
            "UUID": {"lookalikes": 9, "false_scrubs": 9},
            "VERSION": {"lookalikes": 12, "false_scrubs": 0},
        },
        "false_scrubs_by_type": {"PERSON": 9, "PHONE": 54},
    },
}


@dataclass(frozen=True)
class Outcome:
    """One record's result. ``failed``: a survivor (PII) or a false scrub (look-alike)."""

    row: dict[str, Any]
    out: str
    failed: bool
    mistyped: bool
    wrongly_fired: tuple[str, ...]  # entity types of placeholders that replaced no PII
    collateral: bool = False  # a PII instance whose surrounding text was changed too


def load(path: Path = CORPUS) -> list[dict[str, Any]]:
    """The corpus's records; a clear error where the file is absent (an installed wheel)."""
    if not path.is_file():
        raise FileNotFoundError(
            f"the PII corpus {path} is not there: it is in a checkout's tests/fixtures, not in "
            "the installed package; run from a checkout or pass the corpus's path"
        )
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def judge(row: dict[str, Any], scrub_text: Callable[[str], str]) -> Outcome:
    """Scrub one record's text and judge the result (see the module's docstring)."""
    text, value, start = row["text"], row["value"], row["start"]
    out = scrub_text(text)
    if not row["must_scrub"]:
        fired = tuple(_PLACEHOLDER.findall(out)) or (("?",) if out != text else ())
        return Outcome(row, out, out != text, False, fired)
    prefix, suffix = text[:start], text[start + len(value) :]
    intact = (
        out.startswith(prefix) and out.endswith(suffix) and len(out) >= len(prefix) + len(suffix)
    )
    if not intact:  # the scrubber touched the context: judge by the value alone
        kinds = _PLACEHOLDER.findall(out)
        return Outcome(row, out, value in out, row["type"] not in kinds, tuple(kinds), True)
    middle = out[len(prefix) : len(out) - len(suffix)]
    kinds = _PLACEHOLDER.findall(middle)
    left = [w for w in re.findall(r"[^\W_]+", _PLACEHOLDER.sub(" ", middle))]
    survived = any(w.lower() not in _TITLES for w in left) or not kinds
    return Outcome(row, out, survived, bool(kinds) and row["type"] not in kinds, ())


def outcomes(rows: Iterable[dict[str, Any]], scrub_text: Callable[[str], str]) -> Iterator[Outcome]:
    """:func:`judge` on each record."""
    for row in rows:
        yield judge(row, scrub_text)


def figures(results: list[Outcome]) -> dict[str, Any]:
    """Per split: ``pii[type]`` instances/survivors/mistyped, ``lookalikes[kind]``
    lookalikes/false_scrubs, ``false_scrubs_by_type[entity type]``."""
    out: dict[str, Any] = {}
    for split in SPLITS:
        pii: dict[str, Counter[str]] = {}
        look: dict[str, Counter[str]] = {}
        fired: Counter[str] = Counter()
        for o in (o for o in results if o.row["split"] == split):
            kind = o.row["type"]
            if o.row["must_scrub"]:
                c = pii.setdefault(kind, Counter())
                c.update(instances=1, survivors=int(o.failed), mistyped=int(o.mistyped))
                c.update(collateral=int(o.collateral))
            else:
                c = look.setdefault(kind, Counter())
                c.update(lookalikes=1, false_scrubs=int(o.failed))
            fired.update(set(o.wrongly_fired))
        out[split] = {
            "pii": {k: dict(v) for k, v in sorted(pii.items())},
            "lookalikes": {k: dict(v) for k, v in sorted(look.items())},
            "false_scrubs_by_type": dict(sorted(fired.items())),
        }
    return out


def measure(scrub_text: Callable[[str], str], path: Path = CORPUS) -> dict[str, Any]:
    """``scrub_text``'s figures on the corpus, with the recorded :data:`BEFORE` beside them."""
    rows = load(path)
    resolved = path.resolve()
    shown = resolved.relative_to(REPO) if resolved.is_relative_to(REPO) else path
    return {
        "corpus": str(shown),
        "records": len(rows),
        "after": figures(list(outcomes(rows, scrub_text))),
        "before": BEFORE,
    }
