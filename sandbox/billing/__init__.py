"""The billing system's sandbox: its schema and a seeder with realistic Swedish customers."""

from sandbox.billing.records import CustomerActivity, customer_activity, financial_year_end
from sandbox.billing.schema import (
    card_tokens,
    customers,
    invoice_lines,
    invoices,
    login_sessions,
    metadata,
    payments,
)
from sandbox.billing.seed import (
    CATEGORIES,
    SeededCustomer,
    SeedExample,
    SeedExamples,
    SeedSummary,
    async_database_url,
    category_counts,
    seed_billing,
    seeded_customer,
)

__all__ = [
    "CATEGORIES",
    "CustomerActivity",
    "SeedExample",
    "SeedExamples",
    "SeedSummary",
    "SeededCustomer",
    "async_database_url",
    "card_tokens",
    "category_counts",
    "customer_activity",
    "customers",
    "financial_year_end",
    "invoice_lines",
    "invoices",
    "login_sessions",
    "metadata",
    "payments",
    "seed_billing",
    "seeded_customer",
]
