"""Identifiers as the help desk stores them, and when two names are the same person's.

The desk has no identity number: a user is a name, an e-mail address, maybe a phone number and
the company's customer number (`external_id`). So the name is what tells two people apart: an
identifier that leads to a user with another name, or identifiers that lead to users with
different names, are not safely one subject.
"""

from __future__ import annotations

import re
import unicodedata

from schemas.identifiers import E164_PATTERN, IdentifierType

__all__ = ["SEARCH_FIELDS", "fold", "name_tokens", "names_match", "normalise", "normalise_phone"]

# Identifier type -> the user field the desk's search matches it against.
SEARCH_FIELDS: dict[IdentifierType, str] = {
    IdentifierType.EMAIL: "email",
    IdentifierType.CUSTOMER_NUMBER: "external_id",
    IdentifierType.PHONE: "phone",
}

_E164 = re.compile(E164_PATTERN)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CUSTOMER_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-_.]{0,63}$")


def normalise_phone(value: str) -> str | None:
    """E.164 (+46701234567) from the ways Swedes write numbers, or None."""
    phone = re.sub(r"[\s\-().]", "", value)
    if phone.startswith("00"):
        phone = "+" + phone[2:]
    elif phone.startswith("0"):
        phone = "+46" + phone[1:]
    return phone if _E164.match(phone) else None


def normalise(kind: IdentifierType, value: str) -> str | None:
    """The value as the desk stores it, or None if it cannot be one (then it is not searched)."""
    value = value.strip()
    if kind is IdentifierType.EMAIL:
        return value.lower() if _EMAIL.match(value) else None
    if kind is IdentifierType.CUSTOMER_NUMBER:
        return value.upper() if _CUSTOMER_NUMBER.match(value) else None
    if kind is IdentifierType.PHONE:
        return normalise_phone(value)
    return None


def fold(text: str) -> str:
    """Case and accents ignored: 'Åsa Öberg' -> 'asa oberg'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def name_tokens(name: str) -> frozenset[str]:
    letters = "".join(c if c.isalnum() else " " for c in fold(name))
    return frozenset(letters.split())


def names_match(a: str | None, b: str | None) -> bool:
    """Lenient: 'Anna Lind' matches 'Anna Maria Lind' (and the other way round); case, accents,
    punctuation and order ignored. A missing name matches anything."""
    first, second = name_tokens(a or ""), name_tokens(b or "")
    if not first or not second:
        return True
    return first <= second or second <= first
