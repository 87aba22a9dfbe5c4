"""Identifiers as the help desk stores them, and when two names are the same person's.

The desk has no identity number: a user is a name, an e-mail address, maybe a phone number and
the company's customer number (`external_id`). So the name is what tells two people apart: an
identifier that leads to a user with another name, or identifiers that lead to users with
different names, are not safely one subject. The rules themselves are the shared ones in
`connectors.base.matching`; this module says which of them the desk uses.
"""

from __future__ import annotations

import re

from connectors.base import matching
from connectors.base.matching import fold, normalise_phone
from schemas.identifiers import IdentifierType

# `fold` and `normalise_phone` are re-exported for `_redaction`, which builds its patterns on them.
__all__ = ["SEARCH_FIELDS", "fold", "normalise", "normalise_phone"]

# Identifier type -> the user field the desk's search matches it against.
SEARCH_FIELDS: dict[IdentifierType, str] = {
    IdentifierType.EMAIL: "email",
    IdentifierType.CUSTOMER_NUMBER: "external_id",
    IdentifierType.PHONE: "phone",
}

# `external_id` is a free text field of the desk, wider than the company's customer number: the
# customer numbers found in it (also `_` and `.`, up to 64 characters) are what kept tickets are
# filed under, so a stricter rule here would leave held tickets unfiled.
_EXTERNAL_ID = re.compile(r"[A-Z0-9][A-Z0-9\-_.]{0,63}")


def normalise(kind: IdentifierType, value: str) -> str | None:
    """The value as the desk stores it, or None if it cannot be one (then it is not searched)."""
    if kind not in SEARCH_FIELDS:
        return None
    return matching.normalise(kind, value, customer_number=_EXTERNAL_ID)
