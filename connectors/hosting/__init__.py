"""The shared-hosting connector (entry point `hosting = "connectors.hosting:HostingConnector"`).

Settings: `DSR_HOSTING_DATABASE_URL` (MariaDB/MySQL via aiomysql, or SQLite via aiosqlite; a
secret), `DSR_HOSTING_HOME_ROOT` (the directory holding `<username>/` home directories),
`DSR_HOSTING_STATEMENT_TIMEOUT`, `DSR_HOSTING_CONNECT_TIMEOUT`, `DSR_HOSTING_OPERATION_TIMEOUT`,
`DSR_HOSTING_POOL_SIZE`. Retries are Temporal's (one vocabulary for every connector).
"""

from connectors.hosting._connector import (
    BACKUP_LEGAL_BASIS,
    BACKUP_MONTHS,
    CONTRACT_LEGAL_BASIS,
    RECTIFIABLE_FIELDS,
    HostingConnector,
)
from connectors.hosting._engine import create_hosting_engine
from connectors.hosting._settings import HostingSettings

__all__ = [
    "BACKUP_LEGAL_BASIS",
    "BACKUP_MONTHS",
    "CONTRACT_LEGAL_BASIS",
    "RECTIFIABLE_FIELDS",
    "HostingConnector",
    "HostingSettings",
    "create_hosting_engine",
]
