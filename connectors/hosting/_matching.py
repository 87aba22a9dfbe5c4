"""Finding a subject's accounts, and telling whether they belong to one person.

The panel has no personnummer, so "one person" is decided from what it does hold: two accounts
have the same owner when their phone numbers are equal and their owner names match (leniently:
case, accents, punctuation and extra given names ignored). That keeps the same person with two
customer numbers (two e-mail addresses) one subject, and makes a shared family address that
leads to two people ambiguous. Every lookup is an equality on an indexed column.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, Select, select

from connectors.base import matching
from connectors.base.matching import names_match
from connectors.hosting._tables import accounts, domains, mailboxes
from schemas.identifiers import IdentifierType
from schemas.subject import SubjectRef

__all__ = [
    "SEARCHABLE",
    "Match",
    "account_lookups",
    "ambiguity",
    "hosted_lookups",
    "normalise",
    "owner_count",
    "owner_lookups",
    "same_owner",
]

SEARCHABLE = frozenset(
    {
        IdentifierType.EMAIL,
        IdentifierType.CUSTOMER_NUMBER,
        IdentifierType.DOMAIN,
        IdentifierType.ACCOUNT_NAME,
        IdentifierType.PHONE,
    }
)

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
_ACCOUNT = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")


def normalise(kind: IdentifierType, value: str) -> str | None:
    """The value as the panel stores it, or None if it cannot be one (then it matches nothing)."""
    if kind not in SEARCHABLE:
        return None
    value = value.strip()
    if kind is IdentifierType.DOMAIN:
        value = value.lower().rstrip(".")
        value = value.removeprefix("www.")
        try:
            value = value.encode("idna").decode("ascii")  # växjö.se is stored as xn--vxj-...
        except UnicodeError:
            return None
        return value if _DOMAIN.match(value) else None
    if kind is IdentifierType.ACCOUNT_NAME:
        value = value.lower()
        return value if _ACCOUNT.match(value) else None
    return matching.normalise(kind, value)


def account_lookups(kind: IdentifierType, value: str) -> list[Select[Any]]:
    """The indexed lookups of account rows by one (normalised) identifier: by the owner's own
    details first, then by what the account hosts."""
    return owner_lookups(kind, value) + hosted_lookups(kind, value)


def hosted_lookups(kind: IdentifierType, value: str) -> list[Select[Any]]:
    """Accounts that host the identifier — a mailbox with the address, the domain — which says
    nothing about who owns them: a partner's box on the family account, a customer's domain on
    its web agency's account. Such an account is the subject's only when an owner detail also
    leads to it (`ambiguity`)."""
    if kind is IdentifierType.EMAIL:
        return [
            select(accounts)
            .join(mailboxes, mailboxes.c.account_id == accounts.c.id)
            .where(mailboxes.c.address == value)
        ]
    if kind is IdentifierType.DOMAIN:
        return [
            select(accounts)
            .join(domains, domains.c.account_id == accounts.c.id)
            .where(domains.c.name == value)
        ]
    return []


def owner_lookups(kind: IdentifierType, value: str) -> list[Select[Any]]:
    """Accounts whose owner has the identifier (contact e-mail, customer number, user name,
    phone)."""
    if kind is IdentifierType.EMAIL:
        return [select(accounts).where(accounts.c.email == value)]
    if kind is IdentifierType.CUSTOMER_NUMBER:
        return [select(accounts).where(accounts.c.customer_number == value)]
    if kind is IdentifierType.ACCOUNT_NAME:
        return [select(accounts).where(accounts.c.username == value)]
    if kind is IdentifierType.PHONE:
        return [select(accounts).where(accounts.c.phone == value)]
    return []


def same_owner(a: Row[Any], b: Row[Any]) -> bool:
    return bool(a.phone == b.phone and names_match(a.owner_name, b.owner_name))


def owner_count(rows: Sequence[Row[Any]]) -> int:
    """How many different people own these accounts (connected groups of `same_owner`)."""
    groups: list[list[Row[Any]]] = []
    for row in rows:
        joined = [g for g in groups if any(same_owner(row, other) for other in g)]
        merged = [row]
        for group in joined:
            merged.extend(group)
            groups.remove(group)
        groups.append(merged)
    return len(groups)


@dataclass
class Match:
    """The subject's accounts by id, which identifier found which, and why it is ambiguous."""

    rows: dict[int, Row[Any]] = field(default_factory=dict)
    hits: list[tuple[IdentifierType, list[int]]] = field(default_factory=list)
    # Accounts an owner detail led to; the others were found only by what they host.
    owned: set[int] = field(default_factory=set)
    ambiguity: str | None = None

    @property
    def ids(self) -> list[int]:
        return sorted(self.rows)

    @property
    def accounts(self) -> list[Row[Any]]:
        return [self.rows[i] for i in self.ids]


def ambiguity(subject: SubjectRef, match: Match) -> str | None:
    """Why the identifiers do not lead to exactly one person, in words without personal data."""
    hosted_only = [i for i in match.ids if i not in match.owned]
    if hosted_only:
        return (
            f"{len(hosted_only)} account(s) found only by a mailbox address or domain they "
            "host, not by their owner's details: they may be another person's"
        )
    for kind, ids in match.hits:
        owners = owner_count([match.rows[i] for i in dict.fromkeys(ids)])
        if owners > 1:
            return f"{kind.value} matches accounts of {owners} different owners"
    owners = owner_count(match.accounts)
    if owners > 1:
        return f"the identifiers given match accounts of {owners} different owners"
    if subject.name:
        for kind, ids in match.hits:
            if any(not names_match(subject.name, match.rows[i].owner_name) for i in ids):
                return (
                    f"{kind.value} matches an account whose owner name differs from the name given"
                )
    return None
