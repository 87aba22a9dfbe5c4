"""What the registrar holds about one customer: contacts, domains with roles, registry log.

Deterministic per customer (`random.Random` seeded with the sandbox seed and the row index), so
`registrar_records(customer, seed)` gives exactly the rows the seeder wrote, without a database:
tests and benchmarks use it for the expected counts of any seeded customer.

Who is here follows `sandbox.presence` (so one person can be followed across all five systems),
except customers anonymised earlier: their erasure already deleted their contacts, and their
domains lapsed long ago, so the registrar keeps nothing about them.

- Every customer here gets a registrant contact: a person is the holder; a company is the
  holder with its contact person as the contact's `name`. Companies often also have an admin
  contact for the contact person. The tech contact of every domain is the registrar's own
  hostmaster (a role account, not personal data).
- `customer.domains` are registered in registry `se` (.se, .nu) or `gtld` (.com), mostly active
  for active customers, expired or deleted (pendingDelete) for closed ones.
- Persons are redacted in public RDAP/WHOIS by default (as .se does; a few opted in to
  publication); companies are disclosed.
- Contact ids (hence handles) follow from the row index, so a handle is known without a database.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sandbox.people import REFERENCE_DATE, Customer
from sandbox.presence import presence

__all__ = [
    "HOSTMASTER",
    "RegistrarContact",
    "RegistrarDomain",
    "RegistrarRecords",
    "RegistryUpdate",
    "contact_handle",
    "registrar_records",
    "registry_of",
]


@dataclass(frozen=True, slots=True)
class RegistrarContact:
    id: int
    handle: str
    kind: str  # person | organisation | role
    name: str
    organisation: str | None
    organisation_number: str | None
    personal_identity_number: str | None
    email: str
    phone: str | None
    street: str | None
    postcode: str | None
    city: str | None
    country: str
    customer_number: str | None
    registries: tuple[str, ...]
    disclose: bool
    created_at: datetime
    updated_at: datetime

    def __repr__(self) -> str:  # fictitious-but-realistic personal data stays out of logs
        return f"RegistrarContact({self.handle}, {self.kind})"


@dataclass(frozen=True, slots=True)
class RegistrarDomain:
    name: str
    registry: str
    status: str  # active | expired | deleted
    created_at: datetime
    expires_at: datetime
    roles: tuple[tuple[int, str], ...]  # (contact id, role)

    def __repr__(self) -> str:
        return f"RegistrarDomain({self.registry}, {self.status})"


@dataclass(frozen=True, slots=True)
class RegistryUpdate:
    registry: str
    handle: str
    action: str
    fields: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RegistrarRecords:
    """One customer's rows in the registrar (all empty when the registrar does not know them)."""

    customer: Customer
    contacts: tuple[RegistrarContact, ...] = ()
    domains: tuple[RegistrarDomain, ...] = ()
    updates: tuple[RegistryUpdate, ...] = ()

    @property
    def present(self) -> bool:
        return bool(self.contacts)

    @property
    def counts(self) -> dict[str, int]:
        """Records per registrar connector category when searched by all of the row's data."""
        return {
            "contacts": len(self.contacts),
            "domains": len(self.domains),
            "registry_updates": len(self.updates),
        }

    @property
    def handles(self) -> list[str]:
        return [c.handle for c in self.contacts]

    def domains_with(self, status: str) -> list[RegistrarDomain]:
        return [d for d in self.domains if d.status == status]


# The registrar's own hostmaster: tech contact of every domain. Id 1; customers' ids start at 2.
HOSTMASTER = RegistrarContact(
    id=1,
    handle="ICTW-HOSTMASTER",
    kind="role",
    name="ICT Workgroup Hostmaster",
    organisation="ICT Workgroup AB",
    organisation_number=None,
    personal_identity_number=None,
    email="hostmaster@ictworkgroup.se",
    phone="+46313001000",
    street="Industrivägen 55",
    postcode="433 61",
    city="Sävedalen",
    country="SE",
    customer_number=None,
    registries=("se", "gtld"),
    disclose=True,
    created_at=datetime(2017, 1, 2, 8, 0, tzinfo=UTC),
    updated_at=datetime(2017, 1, 2, 8, 0, tzinfo=UTC),
)

_COMPANY_ADMIN_SHARE = 0.6  # companies with a separate admin contact for the contact person
_PERSON_DISCLOSE_SHARE = 0.1  # persons who opted in to publication in WHOIS
_ADDRESS_UPDATE_SHARE = 0.2  # contacts whose address changed once since registration
_ACTIVE_CUSTOMER_STATUSES = (("active", 0.75), ("expired", 0.15), ("deleted", 0.10))
_CLOSED_CUSTOMER_STATUSES = (("expired", 0.5), ("deleted", 0.5))


def contact_handle(contact_id: int) -> str:
    """`ICTW-000123`: the registrar's handle prefix and the contact id."""
    return f"ICTW-{contact_id:06d}"


def registry_of(domain: str) -> str:
    """.se and .nu are Internetstiftelsen's (`se`); .com is Verisign's (`gtld`)."""
    return "se" if domain.rsplit(".", 1)[-1] in ("se", "nu") else "gtld"


def registrar_records(customer: Customer, seed: int) -> RegistrarRecords:
    """The registrar's rows for `customer` (none when the registrar does not know them)."""
    if customer.status == "anonymised" or not presence(customer, seed).registrar:
        return RegistrarRecords(customer)
    rng = random.Random(f"sandbox-registrar:{seed}:{customer.index}")
    domain_rows = [_domain(rng, customer, name) for name in customer.domains]
    registries = tuple(r for r in ("se", "gtld") if any(d.registry == r for d in domain_rows))
    registrant_id = 2 * customer.index + 2
    contacts = [_registrant(rng, customer, registrant_id, registries)]
    if customer.kind == "company" and rng.random() < _COMPANY_ADMIN_SHARE:
        contacts.append(_admin(contacts[0], registrant_id + 1))
    roles: list[tuple[int, str]] = [(registrant_id, "registrant")]
    if len(contacts) > 1:
        roles.append((contacts[1].id, "admin"))
    roles.append((HOSTMASTER.id, "tech"))
    domains = tuple(
        RegistrarDomain(d.name, d.registry, d.status, d.created_at, d.expires_at, tuple(roles))
        for d in domain_rows
    )
    updates: list[RegistryUpdate] = []
    for contact in contacts:
        for registry in contact.registries:
            updates.append(
                RegistryUpdate(registry, contact.handle, "create", (), contact.created_at)
            )
            if contact.updated_at != contact.created_at:
                updates.append(
                    RegistryUpdate(
                        registry,
                        contact.handle,
                        "update",
                        ("street", "postcode", "city"),
                        contact.updated_at,
                    )
                )
    return RegistrarRecords(customer, tuple(contacts), domains, tuple(updates))


def _registrant(
    rng: random.Random, customer: Customer, contact_id: int, registries: tuple[str, ...]
) -> RegistrarContact:
    created = customer.created_at + timedelta(minutes=rng.randint(1, 90))
    updated = created
    if rng.random() < _ADDRESS_UPDATE_SHARE:
        updated = _at(rng, _day_between(rng, created.date(), REFERENCE_DATE - timedelta(days=7)))
        updated = max(updated, created + timedelta(days=1))
    company = customer.kind == "company"
    return RegistrarContact(
        id=contact_id,
        handle=contact_handle(contact_id),
        kind="organisation" if company else "person",
        name=customer.contact_name if company and customer.contact_name else customer.name,
        organisation=customer.name if company else None,
        organisation_number=customer.organisation_number,
        personal_identity_number=customer.personal_identity_number,
        email=customer.email.lower(),
        phone=customer.phone,
        street=customer.street,
        postcode=customer.postcode,
        city=customer.city,
        country="SE",
        customer_number=customer.customer_number,
        registries=registries,
        disclose=company or rng.random() < _PERSON_DISCLOSE_SHARE,
        created_at=created,
        updated_at=updated,
    )


def _admin(registrant: RegistrarContact, contact_id: int) -> RegistrarContact:
    """The company's contact person as a contact of their own, without the company's number."""
    return RegistrarContact(
        id=contact_id,
        handle=contact_handle(contact_id),
        kind="person",
        name=registrant.name,
        organisation=registrant.organisation,
        organisation_number=None,
        personal_identity_number=None,
        email=registrant.email,
        phone=registrant.phone,
        street=registrant.street,
        postcode=registrant.postcode,
        city=registrant.city,
        country=registrant.country,
        customer_number=registrant.customer_number,
        registries=registrant.registries,
        disclose=True,
        created_at=registrant.created_at,
        updated_at=registrant.updated_at,
    )


@dataclass(frozen=True, slots=True)
class _Domain:
    name: str
    registry: str
    status: str
    created_at: datetime
    expires_at: datetime


def _domain(rng: random.Random, customer: Customer, name: str) -> _Domain:
    weights = (
        _ACTIVE_CUSTOMER_STATUSES if customer.status == "active" else _CLOSED_CUSTOMER_STATUSES
    )
    status = rng.choices([s for s, _ in weights], [w for _, w in weights])[0]
    first = customer.created_at.date()
    if status == "active":
        created = _day_between(rng, first, REFERENCE_DATE - timedelta(days=30))
        years = max(1, REFERENCE_DATE.year - created.year)
        expires = _anniversary(created, years)
        while expires <= REFERENCE_DATE:
            years += 1
            expires = _anniversary(created, years)
    else:
        lapsed_days = rng.randint(1, 40) if status == "expired" else rng.randint(45, 75)
        expires = REFERENCE_DATE - timedelta(days=lapsed_days)
        created = _day_between(rng, first, expires - timedelta(days=365))
        if created >= expires - timedelta(days=365):
            created = expires - timedelta(days=365)
    return _Domain(name, registry_of(name), status, _at(rng, created), _at(rng, expires))


def _anniversary(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _day_between(rng: random.Random, first: date, last: date) -> date:
    if last <= first:
        return first
    return first + timedelta(days=rng.randint(0, (last - first).days))


def _at(rng: random.Random, day: date) -> datetime:
    return datetime.combine(day, time(rng.randint(6, 23), rng.randint(0, 59)), tzinfo=UTC)
