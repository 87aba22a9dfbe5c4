"""The support desk's sandbox (Zendesk-shaped): its schema, a seeder with realistic Swedish
conversations, and the HTTP API (`sandbox.support.app.create_app`, run by `sandbox.serve`)."""

from sandbox.support.records import (
    AGENTS,
    CATEGORIES,
    SupportActivity,
    SupportUser,
    phone_variants,
    pnr_variants,
    support_activity,
)
from sandbox.support.schema import (
    LEGAL_HOLD_TAG,
    attachments,
    calls,
    comments,
    metadata,
    organizations,
    satisfaction_ratings,
    tickets,
    users,
)
from sandbox.support.seed import (
    HEAVY_INDEX,
    SeededSupport,
    SupportSeedExample,
    SupportSeedExamples,
    SupportSeedSummary,
    add_heavy_user,
    seed_support,
    seeded_support,
)

__all__ = [
    "AGENTS",
    "CATEGORIES",
    "HEAVY_INDEX",
    "LEGAL_HOLD_TAG",
    "SeededSupport",
    "SupportActivity",
    "SupportSeedExample",
    "SupportSeedExamples",
    "SupportSeedSummary",
    "SupportUser",
    "add_heavy_user",
    "attachments",
    "calls",
    "comments",
    "metadata",
    "organizations",
    "phone_variants",
    "pnr_variants",
    "satisfaction_ratings",
    "seed_support",
    "seeded_support",
    "support_activity",
    "tickets",
    "users",
]
