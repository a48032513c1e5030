"""PII with a syntax and, where it has one, a checksum: e-mail, IP, IBAN, card, national id,
phone — and the look-alikes that must survive scrubbing (the ``protected`` spans).

Each finder yields ``(start, end, kind)`` for one text; :mod:`slmgraph.pipeline.scrub` resolves
overlaps. Validation is delegated where a maintained library knows the format better than a
regex: ``phonenumbers`` (Google's libphonenumber metadata: every national numbering plan, so
``0171/1234567`` is a German mobile and ``2147483647`` is not written like one) and
``python-stdnum`` (IBAN country formats, SSN, German tax id, Spanish DNI/NIE, Italian codice
fiscale). Both come with the ``pii`` extra; without them phones and national ids are not found
(``NOT_COVERED`` says so) and IBANs and cards fall back to the bare mod-97 and Luhn checks.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import re
from collections.abc import Iterator

HAS_PHONENUMBERS = importlib.util.find_spec("phonenumbers") is not None
HAS_STDNUM = importlib.util.find_spec("stdnum") is not None

Span = tuple[int, int, str]

#: Regions whose national formats (no ``+``) are tried, most frequent in logs first. A number
#: written with a country code is checked against its own country whatever this list says.
REGIONS = (
    "US", "GB", "DE", "FR", "ES", "IT", "NL", "BE", "CH", "AT", "SE", "NO", "DK", "FI", "PL",
    "PT", "IE", "CZ", "AU", "NZ", "IN", "JP", "CN", "KR", "BR", "MX", "RU", "ZA", "TR", "SG",
)  # fmt: skip


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    s = re.sub(r"[\s.-]+", "", text).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", s):
        return False
    if HAS_STDNUM:  # country length and BBAN structure, not only mod 97
        from stdnum import iban

        return bool(iban.is_valid(s))
    return int("".join(str(int(c, 36)) for c in s[4:] + s[:4])) % 97 == 1


# --- e-mail and IP -------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![^\s\"'`(<\[{,;:=/])"  # starts after a delimiter, not inside a word or a path
    r"([^\s@\"'`()<>\[\]{},;:=/\\|?&%]+)@((?:[^\s@\"'`()<>\[\]{},;:=/\\|?&%.!]+\.)+"
    r"[^\s@\"'`()<>\[\]{},;:=/\\|?&%.!]{2,})"
)


def find_emails(text: str) -> Iterator[Span]:
    """Internationalised addresses too (``jürgen@bücher.de``, ``用户@例子.广告``): any
    characters but delimiters. Not a package spec (``react@18.2.0``: a numeric "TLD") nor a
    retina image (``icon@2x.png``)."""
    for m in _EMAIL.finditer(text):
        domain = m.group(2).rstrip("-")
        tld = domain.rsplit(".", 1)[-1]
        if tld.isdigit() or re.fullmatch(r"\d+(?:\.\d+)*x\..*|.*\d", domain):
            continue
        yield m.start(), m.start(1) + len(m.group(1)) + 1 + len(domain), "EMAIL"


_IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}"
    r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w]|\.\d)"
)
_IPV6 = re.compile(
    r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?"
    r"(?![\w:]|\.\d)"
)


def find_ips(text: str) -> Iterator[Span]:
    for m in _IPV6.finditer(text):
        try:
            ipaddress.IPv6Address(m.group(0))
        except ValueError:
            continue
        yield m.start(), m.end(), "IP_ADDRESS"
    for m in _IPV4.finditer(text):
        yield m.start(), m.end(), "IP_ADDRESS"


# --- IBAN and cards ------------------------------------------------------------------------

_IBAN = re.compile(r"(?<![\w])[A-Za-z]{2}\d{2}(?:(?: {1,2}|[-.])?[A-Za-z0-9]){11,32}")


def find_ibans(text: str) -> Iterator[Span]:
    """Any case, grouped by spaces, double spaces, dashes or dots. The pattern is greedy (it
    may take the next word); the longest prefix that ends a word and validates is the IBAN."""
    for m in _IBAN.finditer(text):
        s = m.group(0)
        for end in range(len(s), 14, -1):
            if end < len(s) and s[end].isalnum():
                continue
            if iban_ok(s[:end]):
                yield m.start(), m.start() + end, "IBAN"
                break


_CARD = re.compile(r"(?<![\w.,-])\d(?:(?: {1,2}|[.-])?\d){11,18}(?![\w]|[.,-]\d)")
#: Issuer prefixes and lengths (ISO/IEC 7812 ranges of the networks that issue most cards).
_BRANDS = [
    (r"4", (16, 19)),  # Visa (13-digit Visas are long gone; EAN-13 codes start with 4 too)
    (r"5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)", (16,)),  # Mastercard
    (r"3[47]", (15,)),  # American Express
    (r"6(?:011|5|4[4-9])", (16, 19)),  # Discover
    (r"3(?:0[0-5]|[68])", (14, 16, 19)),  # Diners Club
    (r"35(?:2[89]|[3-8]\d)", (16, 19)),  # JCB
    (r"62", (16, 17, 18, 19)),  # UnionPay
    (r"5[06-9]|6\d", (12, 13, 16, 19)),  # Maestro
]


def card_ok(text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    seps = set(re.findall(r"\D+", text))
    if len(seps) > 1 or not luhn_ok(digits):  # one separator throughout, as people write them
        return False
    return any(re.match(p, digits) and len(digits) in lengths for p, lengths in _BRANDS)


def find_cards(text: str) -> Iterator[Span]:
    for m in _CARD.finditer(text):
        if card_ok(m.group(0)):
            yield m.start(), m.end(), "CREDIT_CARD"


# --- national ids --------------------------------------------------------------------------

_NINO = re.compile(
    r"(?<![\w])(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
    r"(?: ?\d{2}){3} ?[A-D](?![\w])",
    re.IGNORECASE,
)
_SSN = re.compile(r"(?<![\w-])(?!000|666|9)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\w-])")
_DE_IDNR = re.compile(r"(?<![\w.,-])[1-9]\d ?\d{3} ?\d{3} ?\d{3}(?![\w]|[.,-]\d)")
_ES_DNI = re.compile(r"(?<![\w])[XYZ]?\d{7,8}-?[A-Z](?![\w])", re.IGNORECASE)
_IT_CF = re.compile(r"(?<![\w])[A-Z]{6}\d{2}[A-EHLMPRST]\d{2}[A-Z]\d{3}[A-Z](?![\w])", re.I)


def find_national_ids(text: str) -> Iterator[Span]:
    """UK NINO (prefix rules), US SSN (area/group/serial rules, written grouped: a bare nine
    digits is any number), German tax id, Spanish DNI/NIE, Italian codice fiscale (checksums)."""
    for m in _NINO.finditer(text):
        yield m.start(), m.end(), "NATIONAL_ID"
    for m in _SSN.finditer(text):
        yield m.start(), m.end(), "NATIONAL_ID"
    if not HAS_STDNUM:
        return
    from stdnum.de import idnr
    from stdnum.es import dni, nie
    from stdnum.it import codicefiscale

    checks = [(_DE_IDNR, idnr.is_valid), (_ES_DNI, dni.is_valid), (_ES_DNI, nie.is_valid)]
    checks.append((_IT_CF, codicefiscale.is_valid))
    for pattern, valid in checks:
        for m in pattern.finditer(text):
            if valid(m.group(0).replace(" ", "").replace("-", "").upper()):
                yield m.start(), m.end(), "NATIONAL_ID"


# --- phone numbers -------------------------------------------------------------------------

_PHONE = re.compile(
    r"(?<![\w+/.,-])(?:\+|\b00)?\(?\d(?:[\d()]|[ ./-](?=[\d(])| {2}(?=\d)| / (?=\d)){5,24}"
    r"(?<=\d)(?![\w]|[.,/-]\d)"
)


_PHONE_CONTEXT = re.compile(
    r"(?i)(?:phone|tel\b|telephone|mobile|mob\b|cell|fax|call|ring\b|whatsapp|sms\b|contact"
    r"|handy|telefon|téléphone|portable|móvil|movil|telefono|cellulare|numero|número|nummer)"
)


def _phone_valid(text: str, context: str = "") -> bool:
    from phonenumbers import Leniency, PhoneNumberMatcher

    s = text.strip()
    digits = re.sub(r"\D", "", s)
    if not 7 <= len(digits) <= 15:
        return False
    if s.startswith("+") or re.fullmatch(r"\(\d{2,5}\) ?\d{2,5}(?:[ -]\d{2,5})+", s):
        return True  # how phones are written, and nothing else: no plan check needed
    international = s.startswith("00")
    if international:
        s = "+" + s[2:]
    elif not re.search(r"[ ./()-]", s) and not _PHONE_CONTEXT.search(context):
        return False  # bare digits are a phone only where the text speaks of one
    for region in REGIONS[:1] if international else REGIONS:
        for m in PhoneNumberMatcher(s, region, leniency=Leniency.STRICT_GROUPING):
            if m.start == 0 and m.end == len(s):
                return True
    return False


def phone_ok(text: str, context: str = "") -> bool:
    """7-15 digits after a ``+`` or an area code in brackets (``(202) 555-0100``); otherwise
    a valid number of some numbering plan (after ``00``, or in the national format of one of
    :data:`REGIONS`), grouped the way that plan groups it (libphonenumber's
    ``STRICT_GROUPING``: ``176-12345675`` is an air waybill, not a Chinese mobile). Bare digits
    need a word for phone (in any of a dozen languages) in ``context``, the text before them:
    ``7311048826`` is as often an order number as a Tennessee phone."""
    return HAS_PHONENUMBERS and _phone_valid(text, context)


def find_phones(text: str) -> Iterator[Span]:
    """The pattern takes the longest run of digits and phone separators; that run is a phone
    or nothing (a prefix of ``112-3456789-1234567`` is not one)."""
    if not HAS_PHONENUMBERS:
        return
    for m in _PHONE.finditer(text):
        if phone_ok(m.group(0), text[max(0, m.start() - 80) : m.start()]):
            yield m.start(), m.end(), "PHONE"


# --- look-alikes ---------------------------------------------------------------------------

_PROTECTED = re.compile(
    "|".join(
        [
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
            r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,64}\b",  # hashes, compact UUIDs
            r"\b(?=[0-9A-F]*[A-F])(?=[0-9A-F]*\d)[0-9A-F]{12,64}\b",
            r"\b(?:CVE|GHSA|RHSA|USN|DSA|KB)-[\w-]+",  # advisories
            r"\b(?!TEL|FAX|MOB|PH|CALL|IBAN)[A-Z]{2,6}[-# ]?\d[\d-]{3,}\b",  # order, ticket numbers
            r"\b(?:19|20)\d\d[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])"
            r"(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?",  # ISO dates
            r"\b(?:0?[1-9]|[12]\d|3[01])[-/.](?:0?[1-9]|1[0-2])[-/.](?:19|20)\d\d\b",
            r"\b(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])/(?:19|20)\d\d\b",  # US dates
            r"\b(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?:[ T]?\d{6})?\b",
            r"\b(?:19|20)\d\d ?[-/] ?(?:19|20)\d\d\b",  # year ranges
            r"\b\d{1,2}:\d\d(?::\d\d(?:\.\d+)?)?\b",  # times
            r"(?<![\d.])-?\d+\.\d+(?:[eE][+-]?\d+)?(?![\d.])",  # one decimal point: a number
            r"(?<![\w.])v?\d{1,3}(?:\.\d+){2,}(?:-[\w.-]+)?",  # versions, OIDs (see below)
            r"\b\d+(?:, \d+)+\b",  # number lists
            r"\b(?:2147483647|4294967295|9223372036854775807|18446744073709551615)\b",
        ]
    )
)
_ISBN_EAN = re.compile(r"(?<![\w+-])(?<!\d )\d(?:[- ]?\d){7,13}(?:[- ]?[\dX])?(?![\w]|[- ]\d)")


def _gtin_ok(digits: str) -> bool:
    weights = [3 if i % 2 == 0 else 1 for i in range(len(digits) - 1)]
    total = sum(int(d) * w for d, w in zip(reversed(digits[:-1]), weights, strict=True))
    return (10 - total % 10) % 10 == int(digits[-1])


def _isbn10_ok(s: str) -> bool:
    total = sum((10 - i) * (10 if c == "X" else int(c)) for i, c in enumerate(s))
    return total % 11 == 0


def _product_code(text: str) -> bool:
    """ISBN-13/EAN-13/GTIN-14/UPC-A with a valid check digit (13 digits: bare, or grouped
    after 978/979), or an ISBN-10 written as one (grouped in four, or ending in X): not cards
    (Luhn) nor phones. An ISBN after the word ISBN is protected whatever its form."""
    compact = re.sub(r"[- ]", "", text)
    if len(compact) in (12, 13, 14) and compact.isdigit():
        grouped_isbn = compact[:3] in ("978", "979") or text.isdigit()
        return _gtin_ok(compact) and (len(compact) != 13 or grouped_isbn)
    if len(compact) == 10 and re.fullmatch(r"\d{9}[\dX]", compact):
        isbn_like = compact.endswith("X") or text.count("-") == 3
        return isbn_like and _isbn10_ok(compact)
    return False


def protected_spans(text: str) -> list[tuple[int, int]]:
    """Spans no number-shaped PII may overlap: UUIDs and hashes, advisories, prefixed
    references, dates and times, decimals, versions, product codes, integer limits."""
    spans = []
    for m in _PROTECTED.finditer(text):
        groups = m.group(0).lstrip("v").split(".")
        if len(groups) >= 3 and (all(len(g) == 2 for g in groups) or _nanp_dotted(groups)):
            continue  # 01.42.68.53.00 and 415.555.2671 are phones, not versions
        spans.append((m.start(), m.end()))
    for m in _ISBN_EAN.finditer(text):
        if _product_code(m.group(0)):
            spans.append((m.start(), m.end()))
    if re.search(r"\bISBN", text, re.IGNORECASE):
        for m in re.finditer(r"\bISBN(?:-1[03])?:? ?([\d -]{9,17}[\dX])", text, re.I):
            spans.append((m.start(1), m.end(1)))
    return spans


def _nanp_dotted(groups: list[str]) -> bool:
    return [len(g) for g in groups] in ([3, 3, 4], [1, 3, 3, 4])
