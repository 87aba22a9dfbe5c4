"""The support desk connector (entry point `support = "connectors.support:SupportConnector"`).

Settings: `DSR_SUPPORT_BASE_URL`, `DSR_SUPPORT_API_TOKEN` (required), `DSR_SUPPORT_PAGE_SIZE`,
`DSR_SUPPORT_CONCURRENCY`, and those of every HTTP connector: `DSR_SUPPORT_TIMEOUT`,
`_CONNECT_TIMEOUT`, `_RETRY_ATTEMPTS`, `_RETRY_TIMEOUT`, `_RETRY_WAIT_INITIAL`, `_RETRY_WAIT_MAX`,
`_RETRY_WAIT_JITTER`, `_RETRY_AFTER_CAP` (docs/connectors.md).
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
