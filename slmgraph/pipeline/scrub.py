"""PII scrubbing for the conversion pipeline's curation step (S2), and ``slmgraph scrub``.

Supported entity types, each found by a pattern and, where the format has one, a checksum:

- ``EMAIL``: RFC-5322-ish addresses (``local@domain.tld``).
- ``CREDIT_CARD``: 13–19 digits, optionally grouped by spaces or dashes, that pass the Luhn check.
- ``IBAN``: country code, two check digits and 11–30 alphanumerics (optionally grouped by four),
  that pass the ISO 13616 mod-97 check.
- ``IP_ADDRESS``: IPv4 (each octet 0–255) and IPv6 (validated by :mod:`ipaddress`).
- ``PHONE``: international (``+`` and 7–15 digits) or grouped national numbers (at least 7
  digits in groups separated by spaces, dots, dashes or parentheses).
- ``STREET_ADDRESS``: English-style street addresses — a house number, one to four capitalised
  words and a street suffix (Street, St, Avenue, Rd, Boulevard, Lane, Drive, Way, …), with an
  optional compass prefix and unit (Apt 4B, Suite 200). Other formats (``Hauptstraße 5``,
  ``5 rue de la Paix``) are not recognised.
- ``PERSON``: a capitalised first name from the US Census 1990 lists (5,494 first names) followed
  by an optional initial and a capitalised surname from the same census (88,799 surnames), or a
  title (Mr, Mrs, Ms, Dr, Prof) and a capitalised name. The lists ship in the ``names`` PyPI
  package (the ``pii`` extra; public-domain census data); without it PERSON is not covered.
  A gazetteer misses names outside the lists (many non-English ones) and can hit a capitalised
  pair that happens to be a name ("Grant Park" would be scrubbed).

Each value becomes a typed placeholder, numbered by first appearance and consistent within a
record (the same email is ``<EMAIL_1>`` everywhere in it). A statistical named-entity
recogniser would do better on names: Presidio installs from PyPI, but no spaCy language model
is available from the package registries this project can reach; the report names what is not
covered rather than pretending.

Order matters: IBANs and cards are matched before phone numbers (their digit runs would
otherwise read as phones), emails before anything inside them.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

_HAS_NAMES = importlib.util.find_spec("names") is not None
ENTITY_TYPES = (
    "EMAIL",
    "IBAN",
    "CREDIT_CARD",
    "IP_ADDRESS",
    "STREET_ADDRESS",
    *(("PERSON",) if _HAS_NAMES else ()),
    "PHONE",
)
#: PII types this scrubber does not find (reports name them).
NOT_COVERED: tuple[str, ...] = () if _HAS_NAMES else ("PERSON",)

_CENSUS: tuple[frozenset[str], frozenset[str]] | None = None
#: A capitalised name word: Smith, O'Brien, McDonald, Smith-Jones.
_NAME = r"(?:Mc|Mac|O['’])?[A-Z][a-z]+(?:[-'’][A-Z][a-z]+)?"


def census_names() -> tuple[frozenset[str], frozenset[str]]:
    """(first names, surnames), upper-case, from the ``names`` package's census files."""
    global _CENSUS
    if _CENSUS is None:
        from pathlib import Path

        spec = importlib.util.find_spec("names")
        if spec is None or spec.origin is None:
            return frozenset(), frozenset()
        root = Path(spec.origin).parent

        def read(name: str) -> frozenset[str]:
            return frozenset(
                line.split()[0] for line in (root / name).read_text().splitlines() if line.strip()
            )

        _CENSUS = (read("dist.male.first") | read("dist.female.first"), read("dist.all.last"))
    return _CENSUS


def _key(word: str) -> str:
    return re.sub(r"['’-]", "", word).upper()


def person_ok(text: str) -> bool:
    if re.match(r"(?:Mr|Mrs|Ms|Miss|Dr|Prof)\b", text):
        return True
    first, last = census_names()
    words = re.findall(r"[A-Z][A-Za-z'’-]*", text)
    if len(words) < 2:
        return False

    def known(word: str, names: frozenset[str]) -> bool:  # Mary-Jane, Smith-Jones: any part
        return _key(word) in names or any(_key(p) in names for p in word.split("-"))

    return known(words[0], first) and known(words[-1], last)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    s = re.sub(r"\s+", "", text).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", s):
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def phone_ok(s: str) -> bool:
    """7-15 digits, written like a phone number — and not like the numbers a database is full
    of: a decimal (``255041.46``), a date (``2009-10-12``, ``12.10.2009``) or a bare number
    with one dot."""
    digits = re.sub(r"\D", "", s)
    if not 7 <= len(digits) <= 15:
        return False
    if re.fullmatch(r"\d+\.\d+", s):  # a decimal
        return False
    # a date, or a timestamp that starts with one (2018-03-23 23:05)
    if re.match(r"\d{4}([-./])\d{1,2}\1\d{1,2}(?!\d)|\d{1,2}([-./])\d{1,2}\2\d{4}(?!\d)", s):
        return False
    return s.startswith("+") or bool(re.search(r"[ .()-]", s)) or len(digits) >= 10


def _ipv6_ok(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]
    valid: Callable[[str], bool] = lambda s: True


_RULES = [
    _Rule(
        "EMAIL",
        re.compile(
            r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
        ),
    ),
    _Rule(
        "IBAN",
        re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"),
        iban_ok,
    ),
    _Rule(
        "CREDIT_CARD",
        re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d])"),
        lambda s: luhn_ok(re.sub(r"\D", "", s)),
    ),
    _Rule(
        "IP_ADDRESS",
        re.compile(
            r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}"
            r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.]*\d)"
        ),
    ),
    _Rule(
        "IP_ADDRESS",
        re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])"),
        _ipv6_ok,
    ),
    _Rule(
        "STREET_ADDRESS",
        re.compile(
            r"\b\d{1,6}[A-Za-z]?\s+(?:(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?\s+)?"
            r"(?:[A-Z][a-z]+\.?\s+|\d{1,3}(?:st|nd|rd|th)\s+){1,4}"
            r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way"
            r"|Place|Pl|Terrace|Ter|Parkway|Pkwy|Highway|Hwy|Square|Sq|Circle|Cir|Close|Crescent)"
            r"\b\.?(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\b)?"
            r"(?:,?\s*(?:Apt|Apartment|Suite|Ste|Unit|Flat|#)\.?\s*[A-Za-z0-9-]+)?"
        ),
    ),
    *(
        [
            _Rule(
                "PERSON",
                re.compile(
                    rf"\b(?:(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.?\s+{_NAME}(?:\s+{_NAME})?"
                    rf"|[A-Z][a-z]+(?:-[A-Z][a-z]+)?(?:\s+[A-Z]\.)?\s+{_NAME})\b"
                ),
                person_ok,
            )
        ]
        if _HAS_NAMES
        else []
    ),
    _Rule(
        "PHONE",
        re.compile(
            r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?"
            r"\d{2,4}(?:[ .-]?\d{2,4}){1,4}(?!\w)"
        ),
        phone_ok,
    ),
]


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
        for rule in _RULES:
            if rule.kind == "PERSON":
                text = self._scrub_names(rule, text)
                continue

            def replace(m: re.Match[str], rule: _Rule = rule) -> str:
                value = m.group(0)
                if not rule.valid(value):
                    return value
                return self._placeholder(rule.kind, value)

            text = rule.pattern.sub(replace, text)
        return text

    def _scrub_names(self, rule: _Rule, text: str) -> str:
        """Names overlap with the capitalised word before them ("Mail Dana Smith"): a
        candidate that is not a name must not hide the one starting a word later, so every
        capitalised word is tried as a start."""
        out, pos = [], 0
        for start in (m.start() for m in re.finditer(r"\b[A-Z]", text)):
            if start < pos:
                continue
            m = rule.pattern.match(text, start)
            if m is not None and rule.valid(m.group(0)):
                out += [text[pos:start], self._placeholder(rule.kind, m.group(0))]
                pos = m.end()
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
