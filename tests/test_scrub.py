"""PII scrubbing (conversion pipeline S2): generated PII of every supported type inside
generated text leaves no survivor; checksums keep ordinary numbers; placeholders are typed and
consistent within a record; `slmgraph scrub` on stdin."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from slmgraph.pipeline.scrub import NOT_COVERED, census_names, iban_ok, luhn_ok, scrub, scrub_record

WORDS = st.sampled_from(
    [
        "please",
        "refund",
        "order",
        "the",
        "my",
        "account",
        "call",
        "me",
        "at",
        "or",
        "thanks",
        "invoice",
        "from",
        "to",
        "is",
        "and",
        "ticket",
        "login",
        "failed",
        "today",
    ]
)
FILLER = st.lists(WORDS, min_size=0, max_size=6).map(" ".join)


def _luhn_complete(body: str) -> str:
    for d in "0123456789":
        if luhn_ok(body + d):
            return body + d
    raise AssertionError


@st.composite
def cards(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(["4", "51", "37", "6011"]))
    length = 15 if prefix == "37" else 16
    body = prefix + "".join(
        draw(
            st.lists(
                st.sampled_from("0123456789"),
                min_size=length - 1 - len(prefix),
                max_size=length - 1 - len(prefix),
            )
        )
    )
    number = _luhn_complete(body)
    sep = draw(st.sampled_from(["", " ", "-"]))
    return sep.join(number[i : i + 4] for i in range(0, len(number), 4))


@st.composite
def ibans(draw: st.DrawFn) -> str:
    country, length = draw(st.sampled_from([("DE", 18), ("GB", 18), ("FR", 23), ("NL", 14)]))
    bban = "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=length, max_size=length)))
    if country in ("GB", "NL"):
        bban = draw(st.sampled_from(["ABNA", "NWBK", "INGB"])) + bban[4:]
    check = 98 - int("".join(str(int(c, 36)) for c in bban + country + "00")) % 97
    iban = f"{country}{check:02d}{bban}"
    assert iban_ok(iban)
    if draw(st.booleans()):
        iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    return iban


emails = st.builds(
    lambda user, dom, tld: f"{user}@{dom}.{tld}",
    st.from_regex(r"[a-z][a-z0-9._+-]{0,15}[a-z0-9]", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True),
    st.sampled_from(["com", "org", "de", "co.uk", "io"]),
)
ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
ipv6 = st.ip_addresses(v=6).map(str).filter(lambda s: s.count(":") >= 2 and "." not in s)
phones = st.one_of(
    st.builds(
        lambda cc, n: f"+{cc} {n[:3]} {n[3:]}",
        st.integers(1, 99),
        st.from_regex(r"[1-9]\d{6,9}", fullmatch=True),
    ),
    st.builds(
        lambda a, b, c: f"({a}) {b}-{c}",
        st.from_regex(r"[2-9]\d{2}", fullmatch=True),
        st.from_regex(r"\d{3}", fullmatch=True),
        st.from_regex(r"\d{4}", fullmatch=True),
    ),
    st.from_regex(r"\+[1-9]\d{9,12}", fullmatch=True),
)
STREETS = ["Main", "Oak", "Pennsylvania", "Baker", "Martin Luther King", "Elm", "Park", "Sunset"]
SUFFIXES = ["Street", "St", "Avenue", "Ave.", "Road", "Blvd", "Lane", "Drive", "Way", "Court"]
addresses = st.builds(
    lambda n, pre, name, suf, post, unit: f"{n} {pre}{name} {suf}{post}{unit}",
    st.integers(1, 99999),
    st.sampled_from(["", "N ", "West ", "SE "]),
    st.sampled_from(STREETS),
    st.sampled_from(SUFFIXES),
    st.sampled_from(["", " NW"]),
    st.sampled_from(["", ", Apt 4B", " Suite 200", ", #12"]),
)
PII = {
    "EMAIL": emails,
    "CREDIT_CARD": cards(),
    "IBAN": ibans(),
    "IP_ADDRESS": st.one_of(ipv4, ipv6),
    "PHONE": phones,
    "STREET_ADDRESS": addresses,
}
if "PERSON" not in NOT_COVERED:
    FIRST, LAST = (sorted(s) for s in census_names())
    PII["PERSON"] = st.builds(
        lambda title, first, initial, last: f"{title}{first.title()}{initial} {last.title()}",
        st.sampled_from(["", "", "Dr. ", "Ms "]),
        st.sampled_from(FIRST),
        st.sampled_from(["", " J."]),
        st.sampled_from(LAST),
    )


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(sorted(PII)), data=st.data(), before=FILLER, after=FILLER)
def test_no_generated_pii_survives(kind: str, data: st.DataObject, before: str, after: str) -> None:
    value = data.draw(PII[kind])
    text = f"{before} {value}, {after}".strip()
    out = scrub(text)
    assert value not in out.text, (kind, value, out.text)
    digits = "".join(ch for ch in value if ch.isdigit())
    if len(digits) >= 7:
        assert digits not in "".join(ch for ch in out.text if ch.isdigit()), (value, out.text)
    assert sum(out.counts.values()) >= 1


def test_placeholders_are_typed_and_consistent_within_a_record() -> None:
    texts, counts = scrub_record(
        [
            "Contact dana@example.com or bob@example.org",
            "Reply to dana@example.com from 10.0.0.7",
        ]
    )
    assert texts == [
        "Contact <EMAIL_1> or <EMAIL_2>",
        "Reply to <EMAIL_1> from <IP_ADDRESS_1>",
    ]
    assert counts == {"EMAIL": 3, "IP_ADDRESS": 1}


def test_ordinary_numbers_are_kept() -> None:
    text = (
        "Order 12345 shipped in 2024 for 19.99 EUR; version 3.11.7; 1,200 users; "
        "card ending 1234; invoice 4111111111111112; room 101; price 255041.46; "
        "opened 2009-10-12 and 12.10.2009, at 2018-03-23 23:05:11"
    )
    assert scrub(text).text == text  # 4111111111111112 fails the Luhn check


def test_scrub_cli_reads_stdin() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "slmgraph.cli", "scrub"],
        input="mail dana@example.com twice: dana@example.com\n",
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout == "mail <EMAIL_1> twice: <EMAIL_1>\n"
    assert "EMAIL 2" in out.stderr
    assert ("not covered: PERSON" in out.stderr) == ("PERSON" in NOT_COVERED)


def test_names_and_street_addresses() -> None:
    text = "Dana Smith (Mr. O'Brien's client) moved to 1600 Pennsylvania Avenue NW, Apt 4B."
    out = scrub(text)
    assert out.text.endswith("moved to <STREET_ADDRESS_1>.")
    if "PERSON" not in NOT_COVERED:
        assert out.text.startswith("<PERSON_1> (<PERSON_2>'s client)")
        # a capitalised word before a name must not hide it
        assert scrub("Mail Dana Smith today").text == "Mail <PERSON_1> today"
    # SQL, schema words and lower-case identifiers stay
    sql = "SELECT Name, Song_Name FROM singer WHERE Country = 'France' AND age > 30"
    assert scrub(sql).text == sql
