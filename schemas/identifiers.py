"""Swedish identity numbers and other subject identifiers, validated at the boundary.

Why here: a personnummer or organisationsnummer with a wrong check digit is almost always a typo,
and a typo in an erasure request could point at somebody else. We reject it before anything starts.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum

__all__ = [
    "E164_PATTERN",
    "IdentifierType",
    "is_valid_organisation_number",
    "is_valid_personal_identity_number",
    "luhn_check_digit",
    "luhn_valid",
]

E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
_PNR = re.compile(r"^[0-9]{12}$")
_ORGNR = re.compile(r"^[0-9]{6}-[0-9]{4}$")


class IdentifierType(StrEnum):
    """The kinds of identifier a connector can search by (its `search_identifiers`)."""

    EMAIL = "email"
    CUSTOMER_NUMBER = "customer_number"
    PERSONAL_IDENTITY_NUMBER = "personal_identity_number"
    ORGANISATION_NUMBER = "organisation_number"
    PHONE = "phone"
    DOMAIN = "domain"
    ACCOUNT_NAME = "account_name"


def luhn_check_digit(digits: str) -> int:
    """The Luhn (mod 10) check digit for `digits`, as Skatteverket computes it."""
    total = 0
    for index, char in enumerate(digits):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product - 9 if product > 9 else product
    return (10 - total % 10) % 10


def luhn_valid(ten_digits: str) -> bool:
    """True when the last of ten digits is the Luhn check digit of the first nine."""
    return luhn_check_digit(ten_digits[:9]) == int(ten_digits[9])


def is_valid_personal_identity_number(value: str) -> bool:
    """Twelve digits YYYYMMDDNNNC: a real date (day + 60 for samordningsnummer), Luhn-valid."""
    if not _PNR.match(value):
        return False
    year, month, day = int(value[0:4]), int(value[4:6]), int(value[6:8])
    if day > 60:  # samordningsnummer: the day is increased by 60
        day -= 60
    try:
        date(year, month, day)
    except ValueError:
        return False
    return luhn_valid(value[2:])


def is_valid_organisation_number(value: str) -> bool:
    """NNNNNN-NNNN with a Luhn check digit; the third digit is at least 2 for legal entities."""
    if not _ORGNR.match(value):
        return False
    digits = value.replace("-", "")
    return int(digits[2]) >= 2 and luhn_valid(digits)
