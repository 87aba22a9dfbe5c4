"""Text a person typed that the orchestrator will publish or keep verbatim (a DPO's note or
reason: the subject's portal reads it on `dsr.status.v1`, the audit trail keeps it for good).

The log redaction (`scrub`) is tuned for machine text and for speed: it must leave a log line's
ids, dates and vocabulary readable. A hand-typed note is short, read by people, and refused
rather than altered, so it is held to more: what `scrub` would mask, after folding the
disguises a person types (full-width and other compatibility forms, U+FF20 for `@`; every
dash and minus sign; spaced separators `19640528 - 9262`, `640528/9262`), and besides:

- a personnummer or organisation number written with any separators the patterns miss
  (`19640528 - 9262`, `640528/9262`: six or eight digits, then four, a real date and check
  digit), a phone number without its `+` (`46708701049`, nine to twelve digits from `0` or
  `46`), a customer number (`K100031`: one letter and five to seven digits) — not dates
  (`2026-12-01 - 2026-12-04`, any dash; `04.12.2026`), times, law numbers, or case and
  ticket references (`DI-2026-12345`, `CHG0012345`, `DSR-104233`);
- IP addresses (v4 and v6): a login's or a log's trace of the person;
- an address spelled out (`obergs31 at bredband dot net`);
- a lower-case name: a known first name with the word after it (`malin johansson`; a first
  name the list does not know, `nour oberg`, passes).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

from orchestrator.redaction._names_data import AMBIGUOUS, FIRST_NAMES, NOT_NAMES
from schemas.identifiers import is_valid_organisation_number, is_valid_personal_identity_number

__all__ = ["capitalised_names", "normalised", "published_problems"]

_DASHES = re.compile(r"[\u2010-\u2015\u2212\ufe58\ufe63\uff0d]")
# Digits with the separators a person types between them: the candidates for a number.
_NUMBER = re.compile(r"(?<![\w])\+?\d(?:[ \-/.]{0,3}\d)+(?![\w])")
_CUSTOMER_NUMBER = re.compile(r"(?<![\w\-])[A-Za-z]\d{5,7}(?![\w])")
_DATE = re.compile(r"(?<!\d)(?:\d{4}-\d{2}-\d{2}|\d{1,2}\.\d{1,2}\.\d{4})(?!\d)")
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


def _identity_number(digits: str) -> bool:
    candidates = [digits] if len(digits) == 12 else ["19" + digits, "20" + digits]
    return any(is_valid_personal_identity_number(c) for c in candidates) or (
        len(digits) == 10 and is_valid_organisation_number(f"{digits[:6]}-{digits[6:]}")
    )


def _personal_numbers(text: str) -> bool:
    """A personnummer, organisation or phone number however it is spaced, or a customer
    number; dates are taken out first (a date range is digits and dashes too)."""
    if _CUSTOMER_NUMBER.search(text):
        return True
    for match in _NUMBER.finditer(_DATE.sub(" ", text)):
        digits = "".join(c for c in match.group(0) if c.isdigit())
        if len(digits) in (10, 12) and _identity_number(digits):
            return True
        if 9 <= len(digits) <= 12 and digits.startswith(("0", "46")):
            return True
    return False


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
    rule then sees `Malin Johansson` where the note says `malin johansson`."""

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
    if _personal_numbers(text):
        found.append("an identity, phone or customer number")
    if _ip_addresses(text):
        found.append("an IP address")
    if _SPELLED_EMAIL.search(text) and "[email]" not in scrubbed:
        found.append("an e-mail address")
    return found
