"""The newsletter connector.

Entry point: `newsletter = "connectors.newsletter:NewsletterConnector"`.

Talks to the newsletter system (listmonk) over its REST API. Settings: `DSR_NEWSLETTER_BASE_URL`,
`DSR_NEWSLETTER_API_USER`, `DSR_NEWSLETTER_API_TOKEN`, `DSR_NEWSLETTER_BLOCKLIST_SALT` (required),
`DSR_NEWSLETTER_PAGE_SIZE`, and those of every HTTP connector: `DSR_NEWSLETTER_TIMEOUT`,
`_CONNECT_TIMEOUT`, `_RETRY_ATTEMPTS`, `_RETRY_TIMEOUT`, `_RETRY_WAIT_INITIAL`, `_RETRY_WAIT_MAX`,
`_RETRY_WAIT_JITTER`, `_RETRY_AFTER_CAP` (docs/connectors.md).
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
