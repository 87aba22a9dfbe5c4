"""The registrar / WHOIS connector.

Entry point: `registrar = "connectors.registrar:RegistrarConnector"`.

Settings: `DSR_REGISTRAR_BASE_URL`, `DSR_REGISTRAR_API_TOKEN` (required),
`DSR_REGISTRAR_PAGE_SIZE`, and those of every HTTP connector: `DSR_REGISTRAR_TIMEOUT`,
`_CONNECT_TIMEOUT`, `_RETRY_ATTEMPTS`, `_RETRY_TIMEOUT`, `_RETRY_WAIT_INITIAL`, `_RETRY_WAIT_MAX`,
`_RETRY_WAIT_JITTER`, `_RETRY_AFTER_CAP` (docs/connectors.md).
"""

from connectors.registrar._connector import (
    CONTRACT_LEGAL_BASIS,
    RECTIFIABLE_FIELDS,
    RegistrarConnector,
)
from connectors.registrar._settings import RegistrarSettings

__all__ = [
    "CONTRACT_LEGAL_BASIS",
    "RECTIFIABLE_FIELDS",
    "RegistrarConnector",
    "RegistrarSettings",
]
