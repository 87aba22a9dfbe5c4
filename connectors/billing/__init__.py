"""The billing connector (entry point `billing = "connectors.billing:BillingConnector"`).

Settings: `DSR_BILLING_DATABASE_URL` (PostgreSQL via asyncpg, or SQLite via aiosqlite),
`DSR_BILLING_STATEMENT_TIMEOUT`, `DSR_BILLING_CONNECT_TIMEOUT`, `DSR_BILLING_POOL_SIZE`.
"""

from connectors.billing._connector import RECTIFIABLE_FIELDS, BillingConnector
from connectors.billing._engine import create_billing_engine
from connectors.billing._settings import BillingSettings

__all__ = [
    "RECTIFIABLE_FIELDS",
    "BillingConnector",
    "BillingSettings",
    "create_billing_engine",
]
