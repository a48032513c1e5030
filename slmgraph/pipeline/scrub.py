"""PII scrubbing for the conversion pipeline's curation step (S2), and ``slmgraph scrub``.

Supported entity types, each found by a pattern and, where the format has one, a checksum:

- ``EMAIL``: RFC-5322-ish addresses (``local@domain.tld``).
- ``CREDIT_CARD``: 13–19 digits, optionally grouped by spaces or dashes, that pass the Luhn check.
- ``IBAN``: country code, two check digits and 11–30 alphanumerics (optionally grouped by four),
  that pass the ISO 13616 mod-97 check.
- ``IP_ADDRESS``: IPv4 (each octet 0–255) and IPv6 (validated by :mod:`ipaddress`).
- ``PHONE``: international (``+`` and 7–15 digits) or grouped national numbers (at least 7
  digits in groups separated by spaces, dots, dashes or parentheses).

Each value becomes a typed placeholder, numbered by first appearance and consistent within a
record (the same email is ``<EMAIL_1>`` everywhere in it). Person names and street addresses
need a named-entity recogniser: Presidio installs from PyPI, but no spaCy language model is
available from the package registries this project can reach, so they are not scrubbed here
(yet); the report says so rather than pretending.

Order matters: IBANs and cards are matched before phone numbers (their digit runs would
otherwise read as phones), emails before anything inside them.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

ENTITY_TYPES = ("EMAIL", "IBAN", "CREDIT_CARD", "IP_ADDRESS", "PHONE")
NOT_COVERED = ("PERSON", "STREET_ADDRESS")


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
        "PHONE",
        re.compile(
            r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?"
            r"\d{2,4}(?:[ .-]?\d{2,4}){1,4}(?!\w)"
        ),
        lambda s: (
            7 <= len(re.sub(r"\D", "", s)) <= 15
            and (
                s.startswith("+")
                or bool(re.search(r"[ .()-]", s))
                or len(re.sub(r"\D", "", s)) >= 10
            )
        ),
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

            def replace(m: re.Match[str], rule: _Rule = rule) -> str:
                value = m.group(0)
                if not rule.valid(value):
                    return value
                return self._placeholder(rule.kind, value)

            text = rule.pattern.sub(replace, text)
        return text


def scrub(text: str) -> Scrubbed:
    """Scrub one text (a record of its own)."""
    s = Scrubber()
    out = s.scrub(text)
    return Scrubbed(out, s.counts)


def scrub_record(texts: Iterable[str]) -> tuple[list[str], Counter[str]]:
    """Scrub the texts of one record (e.g. a call's messages and output) consistently."""
    s = Scrubber()
    return [s.scrub(t) for t in texts], s.counts
