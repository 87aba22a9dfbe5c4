"""The support desk connector (entry point `support = "connectors.support:SupportConnector"`).

Settings: `DSR_SUPPORT_BASE_URL`, `DSR_SUPPORT_API_TOKEN` (required), `DSR_SUPPORT_TIMEOUT`,
`DSR_SUPPORT_CONNECT_TIMEOUT`, `DSR_SUPPORT_MAX_RETRIES`, `DSR_SUPPORT_BACKOFF_BASE`,
`DSR_SUPPORT_BACKOFF_MAX`, `DSR_SUPPORT_MAX_RETRY_AFTER`, `DSR_SUPPORT_PAGE_SIZE`,
`DSR_SUPPORT_CONCURRENCY`.
"""

from connectors.support._connector import (
    CATEGORY_NAMES,
    LEGAL_HOLD_BASIS,
    RECTIFIABLE_FIELDS,
    SupportConnector,
)
from connectors.support._redaction import Redactor
from connectors.support._settings import SupportSettings

__all__ = [
    "CATEGORY_NAMES",
    "LEGAL_HOLD_BASIS",
    "RECTIFIABLE_FIELDS",
    "Redactor",
    "SupportConnector",
    "SupportSettings",
]
