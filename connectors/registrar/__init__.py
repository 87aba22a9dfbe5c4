"""The registrar / WHOIS connector.

Entry point: `registrar = "connectors.registrar:RegistrarConnector"`.

Settings: `DSR_REGISTRAR_BASE_URL`, `DSR_REGISTRAR_API_TOKEN` (required), `DSR_REGISTRAR_TIMEOUT`,
`DSR_REGISTRAR_MAX_ATTEMPTS`, `DSR_REGISTRAR_BACKOFF`, `DSR_REGISTRAR_MAX_RETRY_AFTER`,
`DSR_REGISTRAR_PAGE_SIZE`.
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
