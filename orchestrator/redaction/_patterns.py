"""The shapes of Swedish personal data in text: e-mail, personnummer, phone, street, postcode,
and a personal field's value written into text (`name='...'`)."""

from __future__ import annotations

import re
from collections.abc import Callable

from schemas.identifiers import is_valid_personal_identity_number

__all__ = ["NUMBER_PATTERNS", "SHAPE_PATTERNS", "labelled_pattern"]

_EMAIL = r"[\w.%+\-']+(?:@|%40|\(at\))[\w\-]+(?:\.[\w\-]+)*\.[^\W\d_]{2,}"
# Personnummer / samordningsnummer / organisationsnummer: YYYYMMDD-NNNN, YYMMDD-NNNN, with
# `-`, `+` (100 years or older), a space or no separator at all; "16" prefixes an org number.
_ID_NUMBER = r"(?<![\w+])(?:1[6-9]|20)?\d{6}[-+ ]?\d{4}(?![\w])"
# The same forms glued to letters or "_" ("export_198112189876.json", "user811218-9876"), where
# the pattern above, kept off words so ids stay readable, does not look: masked when the digits
# are a personnummer or samordningsnummer (a real date and check digit), the intake's rule for
# ids (schemas.events), so a random digit run inside an id stays as it is.
_EMBEDDED_ID_NUMBER = re.compile(r"(?<![\d+])(?:19|20)?\d{6}[-+_ ]?\d{4}(?!\d)")
# International (+46 / 0046 ...) and national (07x, 08, 031 ...) phone numbers, with the usual
# separators: "+46 (0)70-123 45 67", "070-123 45 67", "(08) 123 456 78". Checked by digit count;
# not after a hyphen, so ids and dates ("req-2026-00012345", "2026-01-31") stay readable.
_PHONE_INTERNATIONAL = (
    r"(?<![\w+\-])(?:\+|00)\d{1,3}[\s.\-]?(?:\(0\)[\s.\-]?)?"
    r"\d{1,4}(?:[\s.\-/]?\d{1,4}){1,5}(?![\w])"
)
_PHONE_NATIONAL = (
    r"(?<![\w+.\-])(?:\(0\d{1,3}\)|0\d{1,3})[\s\-/]?\d{2,4}(?:[\s\-]?\d{2,4}){0,3}(?![\w])"
)

# Swedish street addresses: a compound street name ("Storgatan", "Sveavägen", "Stureplan"), a
# separate street word ("Drottning Kristinas väg", "Södra Vägen"), up to two leading words
# ("Sankt", "S:t", "Västra", "Övre"), the number with a letter or a range ("12B", "3 C",
# "4-6") and a flat ("lgh 1102"). Names with the distinctive suffixes are addresses even
# without a number ("bor på Storgatan"); the short ones ("-plan", "-torg") only with one.
_UP = "A-ZÅÄÖÆØÜÉÈ"
_ALONE = (
    "gatan|vägen|gränd|gränden|torget|stigen|backen|allén|slingan|stråket|esplanaden|"
    "promenaden|platsen|kajen"
)
_WITH_NUMBER = (
    f"{_ALONE}|gata|väg|torg|stig|backe|allé|plan|planen|leden|kaj|hagen|liden|gården|parken|"
    "bron|strand|stranden|ringen|höjden|dalen|ängen|udden|gången|viken|plats"
)
# A separate street word needs a capitalised word before it ("Olof Palmes gata 1"): "plan 2"
# alone is the planner talking.
_STREET_WORD = "gata|gatan|väg|vägen|gränd|torg|torget|allé"
_LEAD_WORD = rf"(?:S:t|St\.|[{_UP}][\wåäöéü]+)\s+"
_LEAD = rf"(?:{_LEAD_WORD}){{0,2}}"
_NUMBER = (
    r"\s+\d{1,4}(?:\s?[A-Za-z](?![\w]))?(?:\s?[-\u2013]\s?\d{1,4})?"
    r"(?:\s*,?\s*(?:lgh|lägenhet|vån|tr)\.?\s*\d{1,5})?"
)
_STREET_WORD_ANY_CASE = "|".join(f"{w}|{w.title()}" for w in _STREET_WORD.split("|"))
_STREET = (
    rf"(?<![\w])(?:{_LEAD}[{_UP}][\w\-]*?(?:{_WITH_NUMBER})"
    rf"|(?:{_LEAD_WORD}){{1,3}}(?:{_STREET_WORD_ANY_CASE}))(?![\w]){_NUMBER}"
    rf"|(?<![\w]){_LEAD}[{_UP}][\w\-]*?(?:{_ALONE})(?![\w])"
    rf"|(?<![\w])(?:{_LEAD_WORD}){{1,2}}(?:Gatan|Vägen|Gränden|Torget|Allén)(?![\w])"
)
# Postcodes with their town ("111 22 Stockholm", "194 30 Upplands Väsby", "SE-411 05"); a
# second town word only after a genitive or a direction ("Lilla Edet"), so the name that
# follows a town is left to the name rule.
_TOWN = rf"[{_UP}](?:[a-zåäöéü]+|[{_UP}]+)"  # not "127.0.0.1:44301 WorkerID"
_TOWN_PREFIX = rf"(?:[{_UP}][\wåäö]+s|Lilla|Stora|Norra|Södra|Östra|Västra|Övre|Nedre)"
_POSTCODE = (
    rf"(?<![\w\-:.])(?:SE-?\s?)?\d{{3}}\s?\d{{2}}\s+(?:{_TOWN_PREFIX}\s{_TOWN}|{_TOWN}(?:-{_TOWN})?)"
    r"(?![\w\-])|SE-?\s?\d{3}\s?\d{2}(?!\d)"
)


# Two numbers written next to each other ("+46701234567 0046 70 ...") read as one too long
# to be a phone number ("070-123 45 67 503"): cut where the longest first one of a right length
# ends and go on looking from there.
_NEXT_NUMBER = re.compile(r"(?<=\d)\s+(?=\+|0)")


def _digits(text: str) -> int:
    return sum(c.isdigit() for c in text)


_GROUP = re.compile(r"(?<=\d)[\s\-/.]+(?=\d|\+|\()")


def _cut(at: re.Pattern[str], found: str, low: int, high: int) -> re.Match[str] | None:
    """The last boundary before which `found` holds `low`..`high` digits (the longest number)."""
    cuts = [c for c in at.finditer(found) if low <= _digits(found[: c.start()]) <= high]
    return cuts[-1] if cuts else None


def _phones(pattern: re.Pattern[str], low: int, high: int) -> Callable[[str], str]:
    """Mask what `pattern` finds when it holds `low`..`high` digits."""

    def mask(text: str) -> str:
        out: list[str] = []
        position = 0
        while (match := pattern.search(text, position)) is not None:
            found = match.group(0)
            out.append(text[position : match.start()])
            position = match.end()
            count = _digits(found)
            if low <= count <= high:
                out.append("[phone]")
                continue
            # Prefer a cut where the next number starts ("+", "0"), else any group boundary.
            cut = _cut(_NEXT_NUMBER, found, low, high) or _cut(_GROUP, found, low, high)
            if count > high and cut is not None:
                out.append("[phone]" + cut.group(0))
                position = match.start() + cut.end()
            else:
                out.append(found)
        out.append(text[position:])
        return "".join(out)

    return mask


def _embedded_identity_number(match: re.Match[str]) -> str:
    digits = re.sub(r"[-+_ ]", "", match.group(0))
    candidates = [digits] if len(digits) == 12 else ["19" + digits, "20" + digits]
    return (
        "[id-number]"
        if any(is_valid_personal_identity_number(c) for c in candidates)
        else match.group(0)
    )


def _mask_embedded_identity_numbers(text: str) -> str:
    return _EMBEDDED_ID_NUMBER.sub(_embedded_identity_number, text)


_WORDS = re.compile(r"[^\W\d_]{3,}")
_STREET_ENDINGS = tuple(_WITH_NUMBER.split("|"))


def _has_street_word(text: str) -> bool:
    # str.endswith over the words: a case-insensitive alternation scanned at every position
    # would cost more than the street pattern itself on a long line.
    return any(word.lower().endswith(_STREET_ENDINGS) for word in _WORDS.findall(text))


# Each mask with a cheap test that must hold for it to find anything (most log lines hold no
# "@", no street word and no digit run), so a line pays only for the shapes it could hold.
Hint = Callable[[str], object]
Shape = tuple[Hint, Callable[[str], str]]


def _sub(pattern: str, replacement: str) -> Callable[[str], str]:
    compiled = re.compile(pattern)
    return lambda text: compiled.sub(replacement, text)


# Shapes that identify by themselves, in the order they run (e-mail first: its local part
# would otherwise look like a name; addresses before names: "Storgatan" is no surname).
SHAPE_PATTERNS: tuple[Shape, ...] = (
    (re.compile(r"@|%40|\(at\)").search, _sub(_EMAIL, "[email]")),
    (_has_street_word, _sub(_STREET, "[address]")),
    (re.compile(r"\d{3}\s?\d{2}(?!\d)").search, _sub(_POSTCODE, "[postcode]")),
)
# Digit runs: not applied to the digits of a validated id (orchestrator.redaction._ids).
NUMBER_PATTERNS: tuple[Shape, ...] = (
    (re.compile(r"\d{6}").search, _sub(_ID_NUMBER, "[id-number]")),
    (re.compile(r"\d{6}").search, _mask_embedded_identity_numbers),
    (re.compile(r"(?:\+|00)\d").search, _phones(re.compile(_PHONE_INTERNATIONAL), 7, 15)),
    (re.compile(r"0\d").search, _phones(re.compile(_PHONE_NATIONAL), 8, 11)),
)


def labelled_pattern(labels: frozenset[str]) -> re.Pattern[str]:
    """`name='Anna Lindqvist'`, `"email": "..."`, `name=Anna Lindqvist,`: a personal field's
    value written into text (reprs, JSON, pydantic's `input_value=...`, query strings)."""
    alternatives = "|".join(sorted(labels, key=len, reverse=True))
    return re.compile(
        rf"(?i)(?<![\w])((?:{alternatives})[\"']?\s*[=:]\s*)"
        r"('[^'\n]*'|\"[^\"\n]*\"|[^,;&)}\]\n]*?(?=\s+\w+=|[,;&)}\]\n]|$))"
    )
