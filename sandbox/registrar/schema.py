"""The registrar platform's database: contacts, domains, the roles linking them, and the log of
changes pushed to the registries.

SQLAlchemy Core tables, portable between SQLite and PostgreSQL. Every column a DSR searches by is
indexed (locating a subject is an index lookup even at a million customers), and so is every
foreign key followed from a contact to its domains and from a handle to its registry log.

- `contacts`: registry contact objects (EPP style). `name` is always a person (for a company the
  contact person), `organisation` the company. `registries` lists the registries that hold a copy
  of the contact (space-separated `se`, `gtld`): a change to it must be pushed there (GDPR Art. 19).
  `disclose` False means the public RDAP/WHOIS output is redacted; `restricted` marks Art. 18.
- `domains`: registrations; `registry` is `se` (.se/.nu, Internetstiftelsen) or `gtld` (.com,
  Verisign). `status` is `active`, `expired` (past expiry, redemption period) or `deleted`
  (pendingDelete at the registry).
- `domain_contacts`: the roles `registrant`, `admin`, `tech` of contacts on domains.
- `registry_updates`: one row per change pushed to one registry; its id is the registry's
  reference for the change. It names the handle and the changed fields, never their values, and
  is not tied to `contacts` by a foreign key: the log outlives a deleted contact.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

__all__ = [
    "CONTACT_KINDS",
    "DOMAIN_STATUSES",
    "REGISTRIES",
    "ROLES",
    "UPDATE_ACTIONS",
    "contacts",
    "domain_contacts",
    "domains",
    "metadata",
    "registry_updates",
]

CONTACT_KINDS = ("person", "organisation", "role")  # role: the registrar's own hostmaster
DOMAIN_STATUSES = ("active", "expired", "deleted")
REGISTRIES = ("se", "gtld")
ROLES = ("registrant", "admin", "tech")
UPDATE_ACTIONS = ("create", "update", "redact", "restrict", "lift_restriction", "delete")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("handle", String(32), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("name", String(200), nullable=False),  # a person: the holder or the contact person
    Column("organisation", String(200)),
    Column("organisation_number", String(11)),  # NNNNNN-NNNN
    Column("personal_identity_number", String(12)),  # YYYYMMDDNNNC
    Column("email", String(254), nullable=False),  # stored lower-case
    Column("phone", String(20)),  # E.164
    Column("street", String(200)),
    Column("postcode", String(10)),
    Column("city", String(100)),
    Column("country", String(2), nullable=False),  # ISO 3166-1 alpha-2
    Column("customer_number", String(32)),  # the billing customer, None for role accounts
    Column("registries", String(16), nullable=False),  # space-separated, "" if none
    Column("disclose", Boolean, nullable=False),
    Column("restricted", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("kind IN ('person', 'organisation', 'role')", name="kind"),
)

domains = Table(
    "domains",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(253), nullable=False, unique=True),  # LDH, lower-case
    Column("registry", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("registry IN ('se', 'gtld')", name="registry"),
    CheckConstraint("status IN ('active', 'expired', 'deleted')", name="status"),
)

domain_contacts = Table(
    "domain_contacts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("domain_id", Integer, ForeignKey("domains.id"), nullable=False),
    Column("contact_id", Integer, ForeignKey("contacts.id"), nullable=False),
    Column("role", String(16), nullable=False),
    CheckConstraint("role IN ('registrant', 'admin', 'tech')", name="role"),
    UniqueConstraint("domain_id", "contact_id", "role", name="uq_domain_contacts_role"),
)

registry_updates = Table(
    "registry_updates",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("registry", String(8), nullable=False),
    Column("handle", String(32), nullable=False),
    Column("action", String(24), nullable=False),
    Column("fields", String(200), nullable=False),  # comma-separated field names, no values
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Lookup indexes: every identifier a DSR searches by, and every link followed from there. Domain
# to contacts is served by the unique constraint (domain_id first), handle and name by theirs.
Index("ix_contacts_email", contacts.c.email)
Index("ix_contacts_customer_number", contacts.c.customer_number)
Index("ix_contacts_personal_identity_number", contacts.c.personal_identity_number)
Index("ix_contacts_organisation_number", contacts.c.organisation_number)
Index("ix_contacts_phone", contacts.c.phone)
Index("ix_domain_contacts_contact_id", domain_contacts.c.contact_id, domain_contacts.c.role)
Index("ix_registry_updates_handle", registry_updates.c.handle)
