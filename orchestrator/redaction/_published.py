"""Text a person typed that the orchestrator will publish or keep verbatim (a DPO's note or
reason: the subject's portal reads it on `dsr.status.v1`, the audit trail keeps it for good).

The log redaction (`scrub`) is tuned for machine text and for speed: it must leave a log line's
ids, dates and vocabulary readable. A hand-typed note is short, read by people, and refused
rather than altered, so it is held to more: what `scrub` would mask, after folding the
disguises a person types (full-width and other compatibility forms, U+FF20 for `@`; every
dash and minus sign; spaced separators `19640528 - 9262`, `640528/9262`), and besides:

- any number of six digits or more, separators and all (a personnummer in a form the patterns
  miss, a phone number without its prefix, a customer number `K100031`, a registry handle
  `ICTW-000062`) — dates (`2026-12-04`) and times are not numbers here;
- IP addresses (v4 and v6): a login's or a log's trace of the person;
- an address spelled out (`obergs31 at bredband dot net`);
- a lower-case name: a known first name with the word after it (`nour oberg`).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

from orchestrator.redaction._names_data import AMBIGUOUS, FIRST_NAMES, NOT_NAMES

__all__ = ["capitalised_names", "normalised", "published_problems"]

_DASHES = re.compile(r"[\u2010-\u2015\u2212\ufe58\ufe63\uff0d]")
# An ISO date, a time of day, a law's number (`2016/679`, `1182/71`, `1999:1078`): what a note
# may well hold, and no person's number (a personnummer's six digits never stand before a `/`
# here).
_DATE_OR_TIME = re.compile(
    r"(?<![\d\-/])(?:\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}|\d{2,4}/\d{1,4}|\d{4}:\d{1,4})(?![\d\-/])"
)
_NUMBER = re.compile(r"\d(?:[\s\-/.+]{0,3}\d)+")
_IP_CANDIDATE = re.compile(r"[0-9A-Fa-f:.]{7,45}")
_SPELLED_EMAIL = re.compile(
    r"(?i)(?<![\w])[\w.+\-]+\s*[\[(]?\s*(?:at|snabel-a|@)\s*[\])]?\s*[\w\-]+"
    r"(?:\s*[\[(]?\s*(?:dot|punkt|\.)\s*[\])]?\s*[a-z]{2,})+"
)
_LOWER_FIRST = frozenset(n.lower() for n in FIRST_NAMES - AMBIGUOUS - NOT_NAMES)
_LOWER_PAIR = re.compile(r"(?<![\w])([a-zåäöéü]{2,})\s+([a-zåäöéü]{2,})(?![\w])")


def normalised(text: str) -> str:
    """`text` as its reader sees it: compatibility forms folded (NFKC), every dash a hyphen."""
    return _DASHES.sub("-", unicodedata.normalize("NFKC", text))


def _long_numbers(text: str) -> bool:
    plain = _DATE_OR_TIME.sub(" ", text)
    return any(sum(c.isdigit() for c in m.group(0)) >= 6 for m in _NUMBER.finditer(plain))


def _ip_addresses(text: str) -> bool:
    for match in _IP_CANDIDATE.finditer(text):
        candidate = match.group(0).strip(".:")
        if candidate.count(".") != 3 and candidate.count(":") < 2:
            continue
        try:
            ipaddress.ip_address(candidate)
        except ValueError:
            continue
        return True
    return False


def capitalised_names(text: str) -> str:
    """A known first name written in lower case, and the word after it, capitalised: the name
    rule then sees `Nour Oberg` where the note says `nour oberg`."""

    def up(match: re.Match[str]) -> str:
        first, second = match.group(1), match.group(2)
        if first in _LOWER_FIRST:
            return f"{first.title()} {second.title()}"
        return match.group(0)

    return _LOWER_PAIR.sub(up, text)


def published_problems(text: str, scrubbed: str) -> list[str]:
    """What in `text` (already `normalised`, `scrubbed` by the log rule) is not for publishing,
    beyond what the log rule masks: the kinds found, in words."""
    found = []
    if _long_numbers(text):
        found.append("a number of six digits or more (an identity, phone or customer number)")
    if _ip_addresses(text):
        found.append("an IP address")
    if _SPELLED_EMAIL.search(text) and "[email]" not in scrubbed:
        found.append("an e-mail address")
    return found
