"""Which registrar contacts belong to the subject, and whether that is one person.

Identifiers are normalised to the form the registrar stores. A contact's holder is known by the
personnummer, else the customer number (a company's registrant and its admin contact share it),
else the organisationsnummer, else the handle. One identifier that leads to two holders (a family
sharing an e-mail address), identifiers that together lead to two holders, or a name that does
not match make the subject ambiguous: nothing is then passed on, changed or disclosed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from connectors.base import matching
from connectors.base.matching import name_matches_any
from connectors.registrar._api import Contact
from schemas.identifiers import IdentifierType
from schemas.subject import SubjectRef

__all__ = [
    "SEARCH_FIELDS",
    "Match",
    "ambiguity",
    "holder",
    "normalise",
    "normalise_domain",
]

# Identifier types the admin API searches contacts by, and the search field of each.
SEARCH_FIELDS: dict[IdentifierType, str] = {
    IdentifierType.EMAIL: "email",
    IdentifierType.CUSTOMER_NUMBER: "customer_number",
    IdentifierType.PERSONAL_IDENTITY_NUMBER: "personal_identity_number",
    IdentifierType.ORGANISATION_NUMBER: "organisation_number",
    IdentifierType.PHONE: "phone",
}

_LDH = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def normalise(kind: IdentifierType, value: str) -> str | None:
    """The value as the registrar stores it, or None if it cannot be one."""
    if kind is IdentifierType.DOMAIN:
        return normalise_domain(value)
    return matching.normalise(kind, value)


def normalise_domain(value: str) -> str | None:
    """A domain name in lower-case LDH form (IDNs as their A-label), or None."""
    name = value.strip().rstrip(".").lower()
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return name if _LDH.match(name) else None


def holder(contact: Contact) -> str:
    """Who the contact belongs to (see the module docstring)."""
    if contact.personal_identity_number:
        return f"pnr:{contact.personal_identity_number}"
    if contact.customer_number:
        return f"customer:{contact.customer_number}"
    if contact.organisation_number:
        return f"org:{contact.organisation_number}"
    return f"handle:{contact.handle}"


@dataclass
class Match:
    """The subject's contacts by handle, which identifier found which, and any ambiguity."""

    contacts: dict[str, Contact] = field(default_factory=dict)
    hits: list[tuple[IdentifierType, list[str]]] = field(default_factory=list)
    ambiguity: str | None = None
    # Every search made, by (field, value): asking "whose else is this e-mail?" reuses them.
    searched: dict[tuple[str, str], list[Contact]] = field(default_factory=dict)

    @property
    def handles(self) -> list[str]:
        return sorted(self.contacts)

    @property
    def ordered(self) -> list[Contact]:
        return [self.contacts[h] for h in self.handles]

    @property
    def holders(self) -> set[str]:
        return {holder(c) for c in self.contacts.values()}


def ambiguity(subject: SubjectRef, match: Match) -> str | None:
    """Why the identifiers do not lead to exactly one holder, in words without personal data."""
    for kind, handles in match.hits:
        holders = {holder(match.contacts[h]) for h in handles}
        if len(holders) > 1:
            return f"{kind.value} matches contacts of {len(holders)} different holders"
    if len(match.holders) > 1:
        return f"the identifiers given match contacts of {len(match.holders)} different holders"
    if subject.name:
        for kind, handles in match.hits:
            for handle in handles:
                contact = match.contacts[handle]
                if not name_matches_any(subject.name, contact.name, contact.organisation):
                    return f"{kind.value} matches a contact whose name differs from the name given"
    return None
