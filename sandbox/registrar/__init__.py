"""The registrar / WHOIS system's sandbox: schema, seeder, and an HTTP app (admin API + RDAP).

    summary = await seed_registrar("sqlite+aiosqlite:///registrar.db", customers=1000, seed=1)
    python -m sandbox.serve registrar --port 8401 --database-url sqlite+aiosqlite:///registrar.db

The app is imported from `sandbox.registrar.app` (it needs FastAPI; the seeder does not).
"""

from sandbox.registrar.options import DEFAULT_API_TOKEN, RegistrarOptions
from sandbox.registrar.records import (
    HOSTMASTER,
    RegistrarContact,
    RegistrarDomain,
    RegistrarRecords,
    RegistryUpdate,
    contact_handle,
    registrar_records,
    registry_of,
)
from sandbox.registrar.schema import contacts, domain_contacts, domains, metadata, registry_updates
from sandbox.registrar.seed import (
    CATEGORIES,
    RegistrarSeedExample,
    RegistrarSeedExamples,
    RegistrarSeedSummary,
    seed_registrar,
    seeded_registrar,
)
from sandbox.registrar.store import REFERENCE_PREFIXES, parse_reference, reference_of

__all__ = [
    "CATEGORIES",
    "DEFAULT_API_TOKEN",
    "HOSTMASTER",
    "REFERENCE_PREFIXES",
    "RegistrarContact",
    "RegistrarDomain",
    "RegistrarOptions",
    "RegistrarRecords",
    "RegistrarSeedExample",
    "RegistrarSeedExamples",
    "RegistrarSeedSummary",
    "RegistryUpdate",
    "contact_handle",
    "contacts",
    "domain_contacts",
    "domains",
    "metadata",
    "parse_reference",
    "reference_of",
    "registrar_records",
    "registry_of",
    "registry_updates",
    "seed_registrar",
    "seeded_registrar",
]
