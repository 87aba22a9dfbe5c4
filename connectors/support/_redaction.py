"""Finding the subject's personal data in free text, so that it can be redacted.

Tickets that must be kept (legal hold) keep their conversation, but not the person in it: every
occurrence of the subject's name, e-mail address, phone number, personnummer and domain names is
redacted with the desk's own redaction (one ▇ per character). Customers write these in many
ways, so the patterns are built from the identifiers, not matched literally:

- phone +46701234567: 070-123 45 67, 0701234567, +46 70 123 45 67, 0046 (0)70 1234567 ...
- personnummer 198503121234: 850312-1234, 19850312-1234, 8503121234, 850312+1234 ...
- names: each part of the name as a word, case and accents ignored (Åsa, Asa, ÅSA), with the
  genitive s (Annas); over-redacting a word that is also a name costs a kept ticket little.
- e-mail addresses and domains: literally, case ignored.

The customer number is left in: it is the company's own reference, and it is how the kept
ticket stays linked to the retained bookkeeping records.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from connectors.support._identity import fold, normalise_phone
from schemas.identifiers import IdentifierType
from schemas.subject import SubjectRef

__all__ = ["Redactor"]

_SEPARATOR = r"[\s\-]?"


def _phone_pattern(e164: str) -> str:
    if e164.startswith("+46"):
        digits = e164[3:]
        prefix = r"(?:(?:\+|00)\s?46[\s\-]?(?:\(0\)[\s\-]?)?|0)"
    else:
        digits = e164[1:]
        prefix = r"(?:\+|00)\s?"
    return rf"(?<![0-9]){prefix}{_SEPARATOR.join(digits)}(?![0-9])"


def _pnr_pattern(value: str) -> str | None:
    digits = re.sub(r"[\s\-+]", "", value)
    if len(digits) == 10:
        century, short = None, digits
    elif len(digits) == 12:
        century, short = digits[:2], digits[2:]
    else:
        return None
    lead = f"(?:{century})?" if century else r"(?:[0-9]{2})?"
    return rf"(?<![0-9]){lead}{short[:6]}[\s\-+]?{short[6:]}(?![0-9])"


def _letter(char: str) -> str:
    base = fold(char)
    if len(base) == 1 and base != char.casefold():
        return f"[{re.escape(char)}{re.escape(base)}]"
    return re.escape(char)


def _name_pattern(token: str) -> str:
    return r"(?<!\w)" + "".join(_letter(c) for c in token) + r"s?(?!\w)"


def _name_parts(name: str) -> set[str]:
    parts: set[str] = set()
    for word in re.split(r"[\s,]+", name.strip()):
        word = word.strip(".()\"'")
        if len(word) >= 2:
            parts.add(word)
        for piece in word.split("-"):
            if len(piece) >= 2:
                parts.add(piece)
    return parts


class Redactor:
    """Finds the occurrences of one subject's personal data in a text."""

    def __init__(
        self,
        subject: SubjectRef,
        *,
        names: Iterable[str | None] = (),
        emails: Iterable[str | None] = (),
        phones: Iterable[str | None] = (),
    ) -> None:
        patterns: set[str] = set()
        for email in (*subject.values(IdentifierType.EMAIL), *emails):
            if email and email.strip():
                patterns.add(re.escape(email.strip()))
        for domain in subject.values(IdentifierType.DOMAIN):
            if domain.strip():
                patterns.add(rf"(?<![\w\-]){re.escape(domain.strip())}(?![\w\-])")
        for phone in (*subject.values(IdentifierType.PHONE), *phones):
            e164 = normalise_phone(phone) if phone else None
            if e164:
                patterns.add(_phone_pattern(e164))
        for pnr in subject.values(IdentifierType.PERSONAL_IDENTITY_NUMBER):
            pattern = _pnr_pattern(pnr)
            if pattern:
                patterns.add(pattern)
        for name in (subject.name, *names):
            for part in _name_parts(name or ""):
                patterns.add(_name_pattern(part))
        # One pattern per value, each searched on its own: in one alternation a name would win
        # at the start of an e-mail address and leave the rest of the address unmatched.
        self._patterns = tuple(re.compile(p, re.IGNORECASE) for p in sorted(patterns))

    def __repr__(self) -> str:
        return "Redactor()"

    def find(self, text: str) -> list[str]:
        """The distinct pieces of `text` to redact, longest first. Occurrences that overlap,
        touch or are separated only by spaces are one piece ("Anna Lind"), so the redaction is
        whole."""
        if not text:
            return []
        found = sorted(
            (m.start(), m.end())
            for pattern in self._patterns
            for m in pattern.finditer(text)
            if m.end() > m.start()
        )
        spans: list[list[int]] = []
        for start, end in found:
            if spans and (start <= spans[-1][1] or not text[spans[-1][1] : start].strip()):
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        pieces = {text[start:end] for start, end in spans}
        return sorted(pieces, key=lambda piece: (-len(piece), piece))
