"""Who counts as the same subject: keyed hashes of a subject's normalised strong identifiers.

    fingerprint = HMAC-SHA256(key, "<identifier type>:<normalised value>").hexdigest()

The store keeps only these (the orchestrator's activity holds the key and hashes), so a
repeated access or portability request by the same person can be found (the policy promises
one free copy a year) without any identifier in clear at rest. Without the key the hashes
cannot be tested against guessed e-mail addresses or personnummer.
Weak identifiers (names, domains, phone numbers) are not fingerprinted: they are shared too often.
"""

from __future__ import annotations

import hashlib
import hmac

from schemas.identifiers import IdentifierType
from schemas.subject import SubjectRef

__all__ = [
    "FINGERPRINTED",
    "IDENTITY_NUMBERS",
    "identity_fingerprints",
    "normalise",
    "subject_fingerprints",
]

FINGERPRINTED = (
    IdentifierType.EMAIL,
    IdentifierType.CUSTOMER_NUMBER,
    IdentifierType.PERSONAL_IDENTITY_NUMBER,
    IdentifierType.ORGANISATION_NUMBER,
)


def normalise(kind: IdentifierType, value: str) -> str:
    """One spelling per identifier: case and spaces, dashes in numbers, never change the match."""
    text = value.strip()
    if kind is IdentifierType.EMAIL:
        return text.lower()
    if kind in (IdentifierType.PERSONAL_IDENTITY_NUMBER, IdentifierType.ORGANISATION_NUMBER):
        return "".join(ch for ch in text if ch.isdigit())
    return text.upper()


# The identifier that names one person: two subjects with different ones are different, whatever
# else they share (a household's e-mail address). Not an organisation number: the same person
# asks as a company's contact one day and as herself the next.
IDENTITY_NUMBERS = (IdentifierType.PERSONAL_IDENTITY_NUMBER,)


def subject_fingerprints(subject: SubjectRef, key: bytes) -> list[str]:
    """The sorted, distinct fingerprints of the subject's strong identifiers."""
    return _fingerprints(subject, key, FINGERPRINTED)


def identity_fingerprints(subject: SubjectRef, key: bytes) -> list[str]:
    """Those of them that are of a personnummer."""
    return _fingerprints(subject, key, IDENTITY_NUMBERS)


def _fingerprints(subject: SubjectRef, key: bytes, kinds: tuple[IdentifierType, ...]) -> list[str]:
    if not key:
        raise ValueError("the subject hash key is empty")
    found = {
        hmac.new(
            key, f"{ident.type.value}:{normalise(ident.type, ident.value)}".encode(), hashlib.sha256
        ).hexdigest()
        for ident in subject.identifiers
        if ident.type in kinds
    }
    return sorted(found)
