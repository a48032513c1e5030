"""PII scrubbing for the conversion pipeline's curation step (S2), and ``slmgraph scrub``.

Supported entity types (finders in :mod:`~slmgraph.pipeline.pii_formats` and
:mod:`~slmgraph.pipeline.pii_names`, which say how each is recognised):

- ``EMAIL``: ``local@domain.tld``, internationalised ones too (``jürgen@bücher.de``).
- ``IBAN``: any case, grouped by spaces, double spaces, dashes or dots; country format and
  mod-97 checked.
- ``CREDIT_CARD``: 12–19 digits with one separator throughout (space, double space, dash, dot)
  that pass the Luhn check and carry an issuer prefix of that length.
- ``NATIONAL_ID``: UK NINO, US SSN (grouped), German tax id, Spanish DNI/NIE, Italian codice
  fiscale (the last three checksummed).
- ``IP_ADDRESS``: IPv4 and IPv6.
- ``STREET_ADDRESS``: English, German/Dutch/Nordic, French, Spanish/Italian street formats.
- ``PERSON``: gazetteer of census and Faker names, or a title and a name.
- ``PHONE``: a number that is valid in some numbering plan (``phonenumbers``), international or
  in one of 30 countries' national formats.

Precision matters as much as recall: a scrubbed SQL literal is a broken training example. So
number-shaped candidates (phones, cards, national ids) that overlap a look-alike — a UUID, a
hash, a date, a decimal, a version, a CVE id, an ISBN/EAN, a prefixed order number, an integer
limit — are dropped. ``benchmarks/reliability_pii.py`` measures both directions on a corpus
of PII and look-alikes in sentences, SQL and JSON (``tests/fixtures/reliability/pii/``).

All finders run on the original text; overlapping candidates are resolved by type priority
(:data:`ENTITY_TYPES` order: an e-mail before the name inside it, an IBAN before the phone in
its digits), then by length. Each value becomes a typed placeholder, numbered by first
appearance and consistent within a record (the same email is ``<EMAIL_1>`` everywhere in it).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from slmgraph.pipeline.pii_formats import (
    HAS_PHONENUMBERS,
    HAS_STDNUM,
    Span,
    find_cards,
    find_emails,
    find_ibans,
    find_ips,
    find_national_ids,
    find_phones,
    iban_ok,
    luhn_ok,
    phone_ok,
    protected_spans,
)
from slmgraph.pipeline.pii_names import (
    HAS_NAMES,
    census_names,
    find_addresses,
    find_persons,
    person_ok,
)

__all__ = [
    "ENTITY_TYPES",
    "NOT_COVERED",
    "Scrubbed",
    "Scrubber",
    "census_names",
    "find",
    "iban_ok",
    "luhn_ok",
    "person_ok",
    "phone_ok",
    "scrub",
    "scrub_record",
]

ENTITY_TYPES = (
    "EMAIL",
    "IP_ADDRESS",
    "IBAN",
    "CREDIT_CARD",
    "NATIONAL_ID",
    "STREET_ADDRESS",
    *(("PERSON",) if HAS_NAMES else ()),
    *(("PHONE",) if HAS_PHONENUMBERS else ()),
)
#: PII types this scrubber does not find (reports name them): without the ``pii`` extra, names
#: (no gazetteer), phones (no numbering plans) and the checksummed national ids.
NOT_COVERED: tuple[str, ...] = tuple(
    kind
    for kind, covered in (
        ("PERSON", HAS_NAMES),
        ("PHONE", HAS_PHONENUMBERS),
        ("NATIONAL_ID (DE, ES, IT)", HAS_STDNUM),
    )
    if not covered
)
_FINDERS: tuple[Callable[[str], Iterator[Span]], ...] = (
    find_emails,
    find_ips,
    find_ibans,
    find_cards,
    find_national_ids,
    find_addresses,
    find_persons,
    find_phones,
)
#: Types a look-alike span vetoes when the candidate is digits alone (a NINO or a codice
#: fiscale carries its own letters and is not mistaken for an order number).
_NUMBER_SHAPED = frozenset({"CREDIT_CARD", "NATIONAL_ID", "PHONE"})
_RANK = {kind: i for i, kind in enumerate(ENTITY_TYPES)}


def find(text: str) -> list[Span]:
    """The PII spans ``(start, end, type)`` of one text, in order, none overlapping."""
    candidates = [span for finder in _FINDERS for span in finder(text)]
    if not candidates:
        return []
    guarded = protected_spans(text) if any(k in _NUMBER_SHAPED for *_, k in candidates) else []
    taken: list[Span] = []
    for start, end, kind in sorted(candidates, key=lambda s: (_RANK[s[2]], s[0] - s[1])):
        digits_only = not any(c.isalpha() for c in text[start:end])
        if (
            kind in _NUMBER_SHAPED
            and digits_only
            and any(a < end and start < b for a, b in guarded)
        ):
            continue
        if all(end <= a or b <= start for a, b, _ in taken):
            taken.append((start, end, kind))
    return sorted(taken)


@dataclass
class Scrubbed:
    """A scrubbed text and how many values of each type were replaced (the values themselves
    are not kept: a scrubber's result must not carry the PII it removed)."""

    text: str
    counts: Counter[str] = field(default_factory=Counter)


class Scrubber:
    """Replaces PII with typed placeholders. One instance = one record: the same value gets the
    same placeholder in every text scrubbed through it."""

    def __init__(self) -> None:
        # (type, normalised value) -> placeholder; lives only as long as the record's scrubber.
        self.mapping: dict[tuple[str, str], str] = {}
        self.numbers: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()

    def _placeholder(self, kind: str, value: str) -> str:
        key = (kind, re.sub(r"[\s().-]", "", value).lower())
        if key not in self.mapping:
            self.numbers[kind] += 1
            self.mapping[key] = f"<{kind}_{self.numbers[kind]}>"
        self.counts[kind] += 1
        return self.mapping[key]

    def scrub(self, text: str) -> str:
        out, pos = [], 0
        for start, end, kind in find(text):
            out += [text[pos:start], self._placeholder(kind, text[start:end])]
            pos = end
        return "".join([*out, text[pos:]])


def scrub(text: str) -> Scrubbed:
    """Scrub one text (a record of its own)."""
    s = Scrubber()
    out = s.scrub(text)
    return Scrubbed(out, s.counts)


def scrub_record(texts: Iterable[str]) -> tuple[list[str], Counter[str]]:
    """Scrub the texts of one record (e.g. a call's messages and output) consistently."""
    s = Scrubber()
    return [s.scrub(t) for t in texts], s.counts
