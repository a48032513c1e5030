"""Names of people and street addresses: the PII without a checksum, found from word lists and
the shape of the words around them.

``PERSON`` is a gazetteer: the US Census 1990 first names and surnames (the ``names`` package)
and the person-name lists of Faker's 80-odd locales (``faker``: German, Polish, Turkish, Hindi,
Yoruba, Japanese and Chinese romanised, Cyrillic, Greek …), both in the ``pii`` extra. A
candidate is a capitalised first name, up to two middle names, initials or particles
(``van der``, ``de la``) and a capitalised surname, or a title (Mr, Dr, Herr, Mme …) and a
capitalised name. Scores: a listed first name or surname counts 2, a word shaped like one
(non-ASCII letters; ``-ski``, ``-sson``, ``-poulos``, ``O'``, ``Al-`` …) 1; both parts must count
and together reach 3, so "Siobhán O'Connor" is found while "Crystal Palace" (Crystal listed,
Palace not) is not. A last word that heads place and organisation names (Park, City, Bank …)
or a first word that starts them (San, Mount, Fort …) is no name: "Grant Park" stays. A
statistical recogniser would do better, but Presidio's needs a spaCy model, which no registry
this project reaches serves (see docs/architecture.md).
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path

HAS_CENSUS = importlib.util.find_spec("names") is not None
HAS_FAKER = importlib.util.find_spec("faker") is not None
HAS_NAMES = HAS_CENSUS or HAS_FAKER

Span = tuple[int, int, str]

_CENSUS: tuple[frozenset[str], frozenset[str]] | None = None
_GAZETTEER: tuple[frozenset[str], frozenset[str]] | None = None

TITLES = frozenset(
    "Mr Mrs Ms Miss Mx Dr Prof Sir Dame Herr Frau Mme Mlle Sr Sra Srta Sig Dott".split()
)
#: Last words of place and organisation names; first words of place names.
HEADS = frozenset(
    """Park Street St Avenue Ave Road Rd Lane Drive Way Boulevard Blvd Square Place Plaza Court
    Gardens Garden Heights Hills City Town Village County State Beach Bay Harbor Harbour Port
    Island Islands Lake River Falls Valley Mountain Mountains Station Airport Bridge Tower Palace
    Castle Cathedral Church Abbey Hall Center Centre Stadium Arena Bowl Field Bank Group Inc Corp
    Company Motor Motors University College School Institute Hospital Clinic Hotel Museum
    Library Tech Airlines Records Studios Foundation Street Straße Strasse Platz""".split()
)
PLACE_STARTS = frozenset(
    """San Santa Santo São Sao Saint St Ste Mount Mt Fort Port Lake Cape Glen New North South East
    West Los Las Puerto Bad Sankt Grand Great Upper Lower""".split()
)
PARTICLES = frozenset(
    "van von der den de la le du da di del della dos das ter ten bin al el".split()
)
_SURNAME_SHAPE = re.compile(
    r".*(?:ski|ska|cki|cka|wicz|vić|vic|sson|sen|poulos|akis|escu|enko|chuk|shvili|dze|oglu"
    r"|oğlu|zadeh|ová|yev|yeva|ova|ov|ev)$|(?:O['’]{1,2}|Mc|Mac|Al-|El-|Ben-|Abu-)\w+"
)
_WORD = re.compile(r"[^\W\d_]+(?:(?:['’]{1,2}|-)[^\W\d_]+)*")


def census_names() -> tuple[frozenset[str], frozenset[str]]:
    """(first names, surnames), upper-case, from the ``names`` package's census files."""
    global _CENSUS
    if _CENSUS is None:
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


def _faker_names() -> tuple[set[str], set[str]]:
    """Every locale's first and last names (class attributes of Faker's person providers; no
    Faker instance, so loading is under a second)."""
    first: set[str] = set()
    last: set[str] = set()
    if not HAS_FAKER:
        return first, last
    import faker.providers.person as person

    for info in pkgutil.iter_modules(person.__path__):
        provider = importlib.import_module(f"{person.__name__}.{info.name}").Provider
        for attr in dir(provider):
            value = getattr(provider, attr)
            names = list(value) if isinstance(value, dict | list | tuple) else []
            if attr.startswith("first_name") or attr.startswith("first_romanized"):
                first.update(key(n) for n in names if isinstance(n, str))
            elif attr.startswith("last_name") or attr.startswith("last_romanized"):
                last.update(key(n) for n in names if isinstance(n, str))
    return first, last


def gazetteer() -> tuple[frozenset[str], frozenset[str]]:
    """(first names, surnames) as :func:`key` spells them: census and Faker together."""
    global _GAZETTEER
    if _GAZETTEER is None:
        first, last = _faker_names()
        census_first, census_last = census_names()
        _GAZETTEER = (frozenset(first | census_first), frozenset(last | census_last))
    return _GAZETTEER


def key(word: str) -> str:
    return re.sub(r"['’-]", "", word).upper()


def _capitalised(word: str) -> bool:
    return word[0].isupper() and (len(word) == 1 or not word.isupper())


def _score(word: str, names: frozenset[str], shape: bool) -> int:
    if key(word) in names or any(key(p) in names for p in word.split("-") if len(p) > 1):
        return 2
    if any(ord(c) > 127 for c in word):
        return 1
    return 1 if shape and _SURNAME_SHAPE.fullmatch(word) else 0


def person_ok(text: str) -> bool:
    """A title and a name, or a first name and a surname that score enough (see the module)."""
    words = [w for w in _WORD.findall(text) if w not in PARTICLES]
    if len(words) >= 2 and words[0].rstrip(".") in TITLES:
        return all(_capitalised(w) for w in words[1:])
    if len(words) < 2 or words[-1] in HEADS or words[0] in PLACE_STARTS:
        return False
    first, last = gazetteer()
    a, b = _score(words[0], first, False), _score(words[-1], last, True)
    return a > 0 and b > 0 and a + b >= 3


def _tokens(text: str) -> list[tuple[int, int, str]]:
    out = []
    for m in _WORD.finditer(text):
        word, end = m.group(0), m.end()
        if re.search(r"['’]{1,2}s$", word):  # O'Brien's
            word = re.sub(r"['’]{1,2}s$", "", word)
            end = m.start() + len(word)
        out.append((m.start(), end, word))
    return out


def find_persons(text: str) -> Iterator[Span]:
    """Every capitalised word is tried as a start, longest candidate first: "Mail Dana Smith"
    is not hidden by "Mail Dana", nor "Fatima Zahra Benali" cut to its first two words."""
    if not HAS_NAMES:  # no gazetteer: PERSON is reported as not covered
        return
    toks = _tokens(text)
    i = 0
    while i < len(toks):
        start, _, word = toks[i]
        if not _capitalised(word):
            i += 1
            continue
        best = None
        seq = [i]
        for j in range(i + 1, min(i + 5, len(toks))):
            gap, prev = text[toks[j - 1][1] : toks[j][0]], toks[j - 1][2]
            dotted = prev in TITLES or len(prev) == 1  # Dr. Alan, Robert J. Miller
            if not re.fullmatch(r"\.? +" if dotted else r" +", gap):
                break
            seq.append(j)
            w = toks[j][2]
            if w in PARTICLES:
                continue
            if not _capitalised(w):
                break
            candidate = text[start : toks[j][1]]
            if person_ok(candidate):
                best = toks[j][1]
        if best is None:
            i += 1
            continue
        yield start, best, "PERSON"
        while i < len(toks) and toks[i][0] < best:
            i += 1


# --- street addresses ----------------------------------------------------------------------

_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl"
    r"|Terrace|Ter|Parkway|Pkwy|Highway|Hwy|Square|Sq|Circle|Cir|Close|Crescent|Loop|Row|Alley"
    r"|Plaza|Trail|Walk|Mews)"
)
_ADDRESSES = [
    re.compile(  # English: 1600 Pennsylvania Avenue NW, Apt 4B
        r"\b\d{1,6}[A-Za-z]?\s+(?:(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?\s+)?"
        r"(?:[A-Z][a-z]+\.?\s+|\d{1,3}(?:st|nd|rd|th)\s+){1,4}" + _SUFFIX + r"\b\.?"
        r"(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\b)?"
        r"(?:,?\s*(?:Apt|Apartment|Suite|Ste|Unit|Flat|#)\.?\s*[A-Za-z0-9-]+)?"
    ),
    re.compile(  # German, Dutch, Nordic compounds: Hauptstraße 5, Kerkstraat 12, Bahnhofstr. 3
        r"\b[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|str\.|weg|allee|platz|gasse|ring|damm|ufer"
        r"|chaussee|straat|laan|plein|gracht|steeg|kade|vej|gade|gatan|vägen)\s*\d{1,4}[a-z]?\b"
    ),
    re.compile(  # Mariahilfer Straße 88, Am Weinberg 17
        r"\b(?:[A-ZÄÖÜ][a-zäöüß]+er\s+(?:Straße|Strasse|Str\.|Weg|Allee|Platz|Gasse|Ring|Damm)"
        r"|(?:Am|An der|Auf der|Im|In der)\s+[A-ZÄÖÜ][a-zäöüß]+(?:berg|feld|hof|garten|bach"
        r"|graben|markt|wald|hang|tor|turm|park))\s+\d{1,4}[a-z]?\b"
    ),
    re.compile(  # French: 5 rue de la Paix, 12, avenue des Champs-Élysées
        r"\b\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?i:rue|avenue|av\.|boulevard|bd|place|allée|impasse"
        r"|chemin|quai|cours)\s+(?:(?:de la|de l['’]|du|des|de|d['’])\s*)?"
        r"[A-ZÉÈ][^\W\d_]*(?:['’][^\W\d_]+)?(?:[ -][A-ZÉÈ][^\W\d_A-Z]+)*"
    ),
    re.compile(  # Spanish, Italian, Portuguese: Calle Mayor 10, Via Roma 15
        r"\b(?:Calle|Avenida|Plaza|Paseo|Carrer|Via|Viale|Piazza|Corso|Largo|Rua|Travessa)"
        r"\s+(?:(?:de la|del|de|dei|della|di|da|do)\s+)?[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)*"
        r",?\s+\d{1,4}\b"
    ),
]


def find_addresses(text: str) -> Iterator[Span]:
    for pattern in _ADDRESSES:
        for m in pattern.finditer(text):
            yield m.start(), m.end(), "STREET_ADDRESS"
