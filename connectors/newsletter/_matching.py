"""Which subscribers are the subject's, and when the identifiers do not point at one person.

The newsletter knows a subscriber by e-mail address (unique) and, for customers, by the
customer number the customer sync writes into `attribs`. Identifiers lead to the wrong person
when:
- one identifier finds several subscribers whose names do not agree (a customer number shared
  by colleagues, say);
- an address the subject gave is subscribed under another customer's number than the ones the
  subject has (a household address subscribed by the partner);
- a subscriber found carries a name that does not match the name given.
Then the connector reports the subject ambiguous (with a reason free of personal data) and
refuses to touch anything. Names match leniently: "Anna" matches "Anna Maria Lind", case,
accents and punctuation ignored, so a subscriber who typed only a first name is still theirs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from connectors.base import matching
from connectors.base.matching import name_tokens, names_match
from connectors.newsletter._documents import ApiSubscriber
from connectors.newsletter._hashing import normalise_email
from schemas.identifiers import IdentifierType
from schemas.subject import Identifier, SubjectRef

__all__ = [
    "SEARCHABLE",
    "Match",
    "ambiguity",
    "learned",
    "normalise",
    "search_query",
    "subject_emails",
]

SEARCHABLE = (IdentifierType.EMAIL, IdentifierType.CUSTOMER_NUMBER)


def normalise(kind: IdentifierType, value: str) -> str | None:
    """The value as the newsletter stores it, or None if it cannot be one."""
    return matching.normalise(kind, value) if kind in SEARCHABLE else None


def search_query(kind: IdentifierType, value: str) -> str:
    """listmonk's `query` expression finding subscribers by one normalised identifier."""
    quoted = value.replace("'", "''")  # SQL string literal: a quote is written twice
    if kind is IdentifierType.EMAIL:
        return f"subscribers.email = '{quoted}'"
    return f"subscribers.attribs->>'customer_number' = '{quoted}'"


def subject_emails(subject: SubjectRef) -> list[str]:
    found = (normalise(IdentifierType.EMAIL, v) for v in subject.values(IdentifierType.EMAIL))
    return list(dict.fromkeys(e for e in found if e))


def _customer_numbers(subject: SubjectRef) -> set[str]:
    numbers = subject.values(IdentifierType.CUSTOMER_NUMBER)
    found = (normalise(IdentifierType.CUSTOMER_NUMBER, n) for n in numbers)
    return {n for n in found if n}


@dataclass
class Match:
    """The subscribers found, which identifier found which, and why it is ambiguous (if so)."""

    subscribers: dict[int, ApiSubscriber] = field(default_factory=dict)
    hits: list[tuple[IdentifierType, list[int]]] = field(default_factory=list)
    ambiguity: str | None = None

    @property
    def ordered(self) -> list[ApiSubscriber]:
        return [self.subscribers[i] for i in sorted(self.subscribers)]

    def emails(self, subject: SubjectRef) -> list[str]:
        """The subject's addresses and the found subscribers' addresses: the ones whose
        blocklist hashes belong to the subject."""
        found = subject_emails(subject)
        found += [normalise_email(s.email) for s in self.ordered]
        return list(dict.fromkeys(found))


def _names_agree(names: Iterable[str]) -> bool:
    named = [n for n in names if name_tokens(n)]
    return all(names_match(a, b) for i, a in enumerate(named) for b in named[i + 1 :])


def ambiguity(subject: SubjectRef, match: Match) -> str | None:
    """Why the identifiers do not lead to exactly one person, in words without personal data."""
    for kind, ids in match.hits:
        if len(ids) > 1 and not _names_agree(match.subscribers[i].name for i in ids):
            return f"{kind.value} matches {len(ids)} subscribers with different names"
    numbers = _customer_numbers(subject)
    if numbers:
        for kind, ids in match.hits:
            for i in ids:
                linked = match.subscribers[i].customer_number
                if kind is IdentifierType.EMAIL and linked and linked not in numbers:
                    return "email matches a subscriber linked to another customer number"
    if subject.name:
        for kind, ids in match.hits:
            for i in ids:
                if not names_match(subject.name, match.subscribers[i].name):
                    return (
                        f"{kind.value} matches a subscriber whose name differs from the name given"
                    )
    return None


def learned(subject: SubjectRef, match: Match) -> list[Identifier]:
    """Identifiers on the found subscribers that the subject did not bring: addresses (unique in
    the newsletter) and the customer numbers the customer sync recorded."""
    known = set(subject.identifiers)
    found: list[Identifier] = []
    for subscriber in match.ordered:
        candidates = [
            Identifier(type=IdentifierType.EMAIL, value=normalise_email(subscriber.email))
        ]
        if subscriber.customer_number:
            candidates.append(
                Identifier(type=IdentifierType.CUSTOMER_NUMBER, value=subscriber.customer_number)
            )
        found += [c for c in candidates if c not in known and c not in found]
    return found
