"""The newsletter connector.

Entry point: `newsletter = "connectors.newsletter:NewsletterConnector"`.

Talks to the newsletter system (listmonk) over its REST API. Settings: `DSR_NEWSLETTER_BASE_URL`,
`DSR_NEWSLETTER_API_USER`, `DSR_NEWSLETTER_API_TOKEN`, `DSR_NEWSLETTER_BLOCKLIST_SALT` (required),
`DSR_NEWSLETTER_TIMEOUT`, `DSR_NEWSLETTER_CONNECT_TIMEOUT`, `DSR_NEWSLETTER_MAX_RETRIES`,
`DSR_NEWSLETTER_BACKOFF_BASE`, `DSR_NEWSLETTER_BACKOFF_MAX`, `DSR_NEWSLETTER_PAGE_SIZE`.
"""

from connectors.newsletter._connector import (
    RECTIFIABLE_FIELDS,
    RESTRICTION_MARK,
    SUPPRESSION_LEGAL_BASIS,
    NewsletterConnector,
)
from connectors.newsletter._hashing import blocklist_hash, normalise_email
from connectors.newsletter._settings import NewsletterSettings

__all__ = [
    "RECTIFIABLE_FIELDS",
    "RESTRICTION_MARK",
    "SUPPRESSION_LEGAL_BASIS",
    "NewsletterConnector",
    "NewsletterSettings",
    "blocklist_hash",
    "normalise_email",
]
