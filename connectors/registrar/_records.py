"""Export records (Art. 15 / 20): the subject's contacts, the domains they have a role on with
their own roles (never another customer's contacts on it), registry log.

Structured, JSON-serialisable, and named for a reader: the archive is what the customer sees.
"""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.registrar._api import Contact, Domain, RegistryUpdate

__all__ = ["RECIPIENT_OF", "contact_record", "domain_record", "update_record"]

# The Art. 19 recipient named for each registry.
RECIPIENT_OF = {"se": "se-registry", "gtld": "gtld-registry"}
_REGISTRY_NAMES = {
    "se": "Internetstiftelsen (.se, .nu)",
    "gtld": "Verisign (.com)",
}


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def contact_record(contact: Contact) -> dict[str, object]:
    return {
        "handle": contact.handle,
        "kind": contact.kind,
        "name": contact.name,
        "organisation": contact.organisation,
        "organisation_number": contact.organisation_number,
        "personal_identity_number": contact.personal_identity_number,
        "email": contact.email,
        "phone": contact.phone,
        "street": contact.address.street,
        "postcode": contact.address.postcode,
        "city": contact.address.city,
        "country": contact.address.country,
        "customer_number": contact.customer_number,
        "held_by_registries": [_REGISTRY_NAMES.get(r, r) for r in contact.registries],
        "published_in_whois": contact.disclose,
        "restricted": contact.restricted,
        "created_at": _iso(contact.created_at),
        "updated_at": _iso(contact.updated_at),
    }


def domain_record(domain: Domain) -> dict[str, object]:
    return {
        "domain": domain.name,
        "registry": _REGISTRY_NAMES.get(domain.registry, domain.registry),
        "status": domain.status,
        "registered_at": _iso(domain.created_at),
        "expires_at": _iso(domain.expires_at),
        "roles": [{"handle": r.handle, "role": r.role} for r in domain.roles],
    }


def update_record(update: RegistryUpdate) -> dict[str, object]:
    return {
        "reference": update.reference,
        "registry": _REGISTRY_NAMES.get(update.registry, update.registry),
        "handle": update.handle,
        "action": update.action,
        "fields": list(update.fields),
        "sent_at": _iso(update.created_at),
    }
