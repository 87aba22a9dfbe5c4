"""Finding the subject's customer rows, and telling when identifiers lead to two people."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, func, select

from connectors.base.matching import name_matches_any
from connectors.billing._tables import customers
from schemas.identifiers import IdentifierType
from schemas.subject import SubjectRef

CHUNK = 500  # ids per IN (...) list


SEARCH_COLUMNS: dict[IdentifierType, ColumnElement[Any]] = {
    IdentifierType.EMAIL: func.lower(customers.c.email),
    IdentifierType.CUSTOMER_NUMBER: customers.c.customer_number,
    IdentifierType.PERSONAL_IDENTITY_NUMBER: customers.c.personal_identity_number,
    IdentifierType.ORGANISATION_NUMBER: customers.c.organisation_number,
    IdentifierType.PHONE: customers.c.phone,
}
LEARNED_COLUMNS: tuple[tuple[IdentifierType, str], ...] = (
    (IdentifierType.CUSTOMER_NUMBER, "customer_number"),
    (IdentifierType.EMAIL, "email"),
    (IdentifierType.PERSONAL_IDENTITY_NUMBER, "personal_identity_number"),
    (IdentifierType.ORGANISATION_NUMBER, "organisation_number"),
    (IdentifierType.PHONE, "phone"),
)
# Identifiers several people may legitimately share: learned only when nobody else has them.
SHAREABLE = frozenset({IdentifierType.EMAIL, IdentifierType.PHONE})
# A company row's own numbers: never learned from it for its contact person (they lead to the
# company's records in every system, its other contacts' included).
COMPANY_IDENTIFIERS = frozenset(
    {IdentifierType.ORGANISATION_NUMBER, IdentifierType.CUSTOMER_NUMBER}
)


def lookup(kind: IdentifierType, value: str) -> Select[Any]:
    """The indexed lookup of customer rows by one identifier."""
    return select(customers).where(SEARCH_COLUMNS[kind] == value).order_by(customers.c.id)


def identity(row: Row[Any]) -> str:
    """Who the row belongs to: personnummer, organisationsnummer, or (lacking both) the row."""
    if row.personal_identity_number:
        return f"pnr:{row.personal_identity_number}"
    if row.organisation_number:
        return f"org:{row.organisation_number}"
    return f"customer:{row.customer_number}"


def is_live(row: Row[Any]) -> bool:
    return bool(row.status != "anonymised")


def is_company(row: Row[Any]) -> bool:
    """A company customer: the data subject is its contact person, whose details on the row
    (name, e-mail, phone) are all of it that is theirs; the company's name, organisation
    number, address, cards and contracts are the company's, not the subject's."""
    return bool(row.kind == "company")


def holds_contact_person(row: Row[Any]) -> bool:
    """A live row holding the subject's own details: a person's row, or a company's row that
    still names a contact person."""
    if not is_live(row):
        return False
    return not is_company(row) or any((row.contact_name, row.email, row.phone))


@dataclass
class Match:
    rows: dict[int, Row[Any]] = field(default_factory=dict)
    hits: list[tuple[IdentifierType, list[int]]] = field(default_factory=list)
    ambiguity: str | None = None

    @property
    def ids(self) -> list[int]:
        return sorted(self.rows)

    @property
    def live(self) -> list[Row[Any]]:
        return [self.rows[i] for i in self.ids if is_live(self.rows[i])]

    @property
    def personal_ids(self) -> list[int]:
        """The rows whose cards and logins are the subject's (a company's cards are its own)."""
        return [i for i in self.ids if not is_company(self.rows[i])]


def ambiguity(subject: SubjectRef, match: Match) -> str | None:
    """Why the identifiers do not lead to exactly one person, in words without personal data."""
    for kind, ids in match.hits:
        people = {identity(match.rows[i]) for i in ids if is_live(match.rows[i])}
        if len(people) > 1:
            return f"{kind.value} matches {len(people)} customers with different identity numbers"
    people = {identity(row) for row in match.live}
    if len(people) > 1:
        return (
            f"the identifiers given match {len(people)} customers with different identity numbers"
        )
    if subject.name:
        for kind, ids in match.hits:
            for i in ids:
                row = match.rows[i]
                if is_live(row) and not name_matches_any(subject.name, row.name, row.contact_name):
                    return f"{kind.value} matches a customer whose name differs from the name given"
    return None


def chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]
