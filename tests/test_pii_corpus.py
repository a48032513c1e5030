"""The PII scrubber on its reliability corpus (tests/fixtures/reliability/pii/): survivors and
false scrubs per type may not rise above the figures measured when the scrubber was last tuned
(a ratchet: lower them here when the scrubber improves), on the tuning split and the held-out
one; and the cases issue 20 named, one by one."""

from __future__ import annotations

from typing import Any

import pytest

from slmgraph.pipeline.scrub import NOT_COVERED, scrub
from slmgraph.testing.reliability import measure

pytestmark = pytest.mark.skipif(
    bool(NOT_COVERED), reason=f"the pii extra is not installed: {', '.join(NOT_COVERED)}"
)


#: (split, type) -> most survivors allowed. Dev PERSON: names outside both gazetteers
#: (Oluwaseun Adeyemi, Priya Raghunathan …); dev PHONE: a bare 10-digit US number in a text
#: that says nothing of phones; test EMAIL: ``name%tag@…`` (``%`` is left out of addresses so
#: that ``LIKE '%a@b.com%'`` keeps its wildcards).
SURVIVORS = {("dev", "PERSON"): 15, ("dev", "PHONE"): 1, ("test", "EMAIL"): 3}
#: (split, look-alike kind) -> most false scrubs allowed. ORDER_REF: an air waybill number
#: grouped like a Chinese mobile; PLACE_ORG: names made of a census first name and surname
#: (Wells Fargo, Orlando Magic, Morgan Stanley, Pink Floyd, Rock And Roll).
FALSE_SCRUBS = {("dev", "ORDER_REF"): 3, ("dev", "PLACE_ORG"): 6, ("test", "PLACE_ORG"): 9}
#: At least this many records per split, so the ratchet cannot pass on a shrunken corpus.
MIN_RECORDS = {"dev": (640, 360), "test": (290, 165)}


@pytest.fixture(scope="module")
def figures() -> dict[str, Any]:
    return measure(lambda text: scrub(text).text)


@pytest.mark.parametrize("split", ["dev", "test"])
def test_survivors_per_type_do_not_rise(figures: dict[str, Any], split: str) -> None:
    pii = figures["after"][split]["pii"]
    assert set(pii) == {
        "CREDIT_CARD",
        "EMAIL",
        "IBAN",
        "IP_ADDRESS",
        "NATIONAL_ID",
        "PERSON",
        "PHONE",
        "STREET_ADDRESS",
    }
    assert sum(c["instances"] for c in pii.values()) >= MIN_RECORDS[split][0]
    over = {
        kind: c["survivors"]
        for kind, c in pii.items()
        if c["survivors"] > SURVIVORS.get((split, kind), 0)
    }
    assert over == {}
    assert {k: c["collateral"] for k, c in pii.items() if c["collateral"]} == {}
    assert {k: c["mistyped"] for k, c in pii.items() if c["mistyped"]} == {}


@pytest.mark.parametrize("split", ["dev", "test"])
def test_false_scrubs_per_type_do_not_rise(figures: dict[str, Any], split: str) -> None:
    look = figures["after"][split]["lookalikes"]
    assert sum(c["lookalikes"] for c in look.values()) >= MIN_RECORDS[split][1]
    over = {
        kind: c["false_scrubs"]
        for kind, c in look.items()
        if c["false_scrubs"] > FALSE_SCRUBS.get((split, kind), 0)
    }
    assert over == {}
    fired = figures["after"][split]["false_scrubs_by_type"]
    allowed = {"dev": {"PERSON": 6, "PHONE": 3}, "test": {"PERSON": 9}}[split]
    assert {k: n for k, n in fired.items() if n > allowed.get(k, 0)} == {}


def test_before_figures_are_recorded_and_worse(figures: dict[str, Any]) -> None:
    for split in ("dev", "test"):
        before, after = figures["before"][split], figures["after"][split]
        # the same types and kinds, so the report has a before beside each after
        assert set(before["pii"]) == set(after["pii"])
        assert set(before["lookalikes"]) == set(after["lookalikes"])
        assert sum(c["survivors"] for c in before["pii"].values()) > 3 * sum(
            c["survivors"] for c in after["pii"].values()
        )


@pytest.mark.parametrize(
    "value",
    [
        "de89 3704 0044 0532 0130 00",  # lower case
        "DE89-3704-0044-0532-0130-00",  # dash-grouped
        "gb29nwbk60161331926819",
        "4111.1111.1111.1111",  # dot-grouped card
        "5555  5555  5555  4444",  # double-space-grouped
        "jürgen.müller@example.de",
        "иван@пример.рф",
        "0171/1234567",  # German mobile, slash
        "089 / 123 456 78",
        "+49 (0)171 1234567",
        "8 (495) 123-45-67",
        "AB 12 34 56 C",  # UK NINO
        "536-90-4399",  # US SSN
        "86095742719",  # German tax id
        "Jürgen Müller",
        "Siobhán O'Connor",
        "Agnieszka Kowalska",
        "Hauptstraße 5",
        "5 rue de la Paix",
    ],
)
def test_named_survivors_are_scrubbed(value: str) -> None:
    for text in (
        f"Please update it to {value} today.",
        f"SELECT * FROM t WHERE c = '{value.replace(chr(39), chr(39) * 2)}'",
        f'{{"v": "{value}"}}',
    ):
        out = scrub(text).text
        assert value not in out and "<" in out, (text, out)


@pytest.mark.parametrize(
    "text",
    [
        "SELECT 3.14159265358979",
        "SELECT * FROM orders WHERE order_id = 4500012345",
        "Order ORD-2024-0012345 and ticket TKT-88213 are closed",
        "Amazon order 112-3456789-1234567 shipped",
        "WHERE created_at > 1712345678 AND updated_ms < 1712345678123",
        "id 550e8400-e29b-41d4-a716-446655440000, tail 446655440000",
        "ISBN 978-3-16-148410-0, EAN 4006381333931, UPC 036000291452",
        "Patch CVE-2021-44228 and CVE-2023-4863 first",
        "Meet at Grant Park, then Lincoln Park and Hyde Park",
        "Python 3.11.7 on kernel 4.19.0-26-amd64, lodash@4.17.21, icon@2x.png",
        "Opened 2024-03-15T10:30:00Z, due 15.03.2024, range 1999-2024",
        "WHERE id = 2147483647 OR id = 4294967295",
        "SELECT Name, Song_Name FROM singer WHERE Country = 'France' ORDER BY Total DESC",
        "card 4111111111111112 fails Luhn; masked **** **** **** 4242",
    ],
)
def test_named_lookalikes_are_kept(text: str) -> None:
    assert scrub(text).text == text


def test_a_bare_number_is_a_phone_only_where_the_text_speaks_of_one() -> None:
    assert scrub("INSERT INTO contacts (phone) VALUES ('6465553890')").text == (
        "INSERT INTO contacts (phone) VALUES ('<PHONE_1>')"
    )
    assert scrub("INSERT INTO events (ref) VALUES ('6465553890')").text == (
        "INSERT INTO events (ref) VALUES ('6465553890')"
    )
