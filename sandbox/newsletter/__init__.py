"""The newsletter system's sandbox (listmonk-shaped): schema, seeder, and an HTTP API
(`sandbox.newsletter.app.create_app`, run with `python -m sandbox.serve newsletter ...`)."""

from sandbox.newsletter.hashing import DEFAULT_BLOCKLIST_SALT, blocklist_hash, normalise_email
from sandbox.newsletter.records import (
    Catalogue,
    NewsletterActivity,
    SubscriberRecord,
    catalogue,
    newsletter_activity,
)
from sandbox.newsletter.schema import (
    blocklist_hashes,
    campaign_views,
    campaigns,
    link_clicks,
    links,
    lists,
    metadata,
    subscriber_lists,
    subscribers,
)
from sandbox.newsletter.seed import (
    CATEGORIES,
    NewsletterSeedSummary,
    SeededNewsletterCustomer,
    SeedExample,
    SeedExamples,
    category_counts,
    seed_newsletter,
    seeded_newsletter,
)

__all__ = [
    "CATEGORIES",
    "DEFAULT_BLOCKLIST_SALT",
    "Catalogue",
    "NewsletterActivity",
    "NewsletterSeedSummary",
    "SeedExample",
    "SeedExamples",
    "SeededNewsletterCustomer",
    "SubscriberRecord",
    "blocklist_hash",
    "blocklist_hashes",
    "campaign_views",
    "campaigns",
    "catalogue",
    "category_counts",
    "link_clicks",
    "links",
    "lists",
    "metadata",
    "newsletter_activity",
    "normalise_email",
    "seed_newsletter",
    "seeded_newsletter",
    "subscriber_lists",
    "subscribers",
]
