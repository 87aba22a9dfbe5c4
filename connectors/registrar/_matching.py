"""Which registrar contacts belong to the subject, and whether that is one person.

Identifiers are normalised to the form the registrar stores. A contact's holder is known by the
personnummer, else the customer number (a company's registrant and its admin contact share it),
else the organisationsnummer, else the handle. One identifier that leads to two holders (a family
sharing an e-mail address), identifiers that together lead to two holders, or a name that does
not match make the subject ambiguous: nothing is then passed on, changed or disclosed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from connectors.registrar._api import Contact
from schemas.identifiers import E164_PATTERN, IdentifierType
from schemas.subject import SubjectRef

__all__ = [
    "SEARCH_FIELDS",
    "Match",
    "ambiguity",
    "holder",
    "names_match",
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

_E164 = re.compile(E164_PATTERN)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LDH = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def normalise_phone(value: str) -> str | None:
    phone = re.sub(r"[\s\-().]", "", value)
    if phone.startswith("00"):
        phone = "+" + phone[2:]
    elif phone.startswith("0"):
        phone = "+46" + phone[1:]
    return phone if _E164.match(phone) else None


def normalise(kind: IdentifierType, value: str) -> str | None:
    """The value as the registrar stores it, or None if it cannot be one."""
    value = value.strip()
    if kind is IdentifierType.EMAIL:
        return value.lower() if _EMAIL.match(value) else None
    if kind is IdentifierType.CUSTOMER_NUMBER:
        return value.upper() or None
    if kind is IdentifierType.PERSONAL_IDENTITY_NUMBER:
        digits = re.sub(r"[\s\-+]", "", value)
        return digits if re.fullmatch(r"[0-9]{12}", digits) else None
    if kind is IdentifierType.ORGANISATION_NUMBER:
        digits = re.sub(r"[\s\-]", "", value)
        if len(digits) == 12 and digits.startswith("16"):
            digits = digits[2:]
        return f"{digits[:6]}-{digits[6:]}" if re.fullmatch(r"[0-9]{10}", digits) else None
    if kind is IdentifierType.PHONE:
        return normalise_phone(value)
    if kind is IdentifierType.DOMAIN:
        return normalise_domain(value)
    return None


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


def _name_tokens(name: str) -> frozenset[str]:
    folded = unicodedata.normalize("NFKD", name.casefold())
    letters = "".join(c if c.isalnum() else " " for c in folded if not unicodedata.combining(c))
    return frozenset(letters.split())


def names_match(given: str, *candidates: str | None) -> bool:
    """Lenient: 'Anna Lind' matches 'Anna Maria Lind' (and the other way round), case, accents
    and punctuation ignored; a company's name matches its registrant too."""
    wanted = _name_tokens(given)
    if not wanted:
        return True
    for candidate in candidates:
        if candidate:
            have = _name_tokens(candidate)
            if have and (wanted <= have or have <= wanted):
                return True
    return False


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
                if not names_match(subject.name, contact.name, contact.organisation):
                    return f"{kind.value} matches a contact whose name differs from the name given"
    return None
