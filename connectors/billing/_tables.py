"""The billing database as the connector sees it: only the tables and columns it reads or writes.

The billing system owns its schema (its reference copy is `sandbox/billing/schema.py`); the
connector declares the subset it depends on, so a change elsewhere in that schema cannot break it
and production code never imports the sandbox.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, DateTime, ForeignKey, Integer, MetaData, String, Table

__all__ = ["card_tokens", "customers", "invoice_lines", "invoices", "login_sessions", "payments"]

_metadata = MetaData()

customers = Table(
    "customers",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_number", String(32), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("name", String(200)),
    Column("contact_name", String(200)),
    Column("email", String(254)),
    Column("phone", String(20)),
    Column("personal_identity_number", String(12)),
    Column("organisation_number", String(11)),
    Column("street", String(200)),
    Column("postcode", String(6)),
    Column("city", String(100)),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    Column("anonymised_at", DateTime(timezone=True)),
    Column("restricted", Boolean, nullable=False),
)

invoices = Table(
    "invoices",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("invoice_number", String(32), nullable=False),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
    Column("issued_on", Date, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("financial_year_end", Date, nullable=False),
    Column("buyer_name", String(200), nullable=False),
    Column("buyer_address", String(400), nullable=False),
    Column("total_ore", Integer, nullable=False),
    Column("vat_ore", Integer, nullable=False),
)

invoice_lines = Table(
    "invoice_lines",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("invoice_id", Integer, ForeignKey("invoices.id"), nullable=False),
    Column("description", String(300), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_ore", Integer, nullable=False),
)

payments = Table(
    "payments",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("invoice_id", Integer, ForeignKey("invoices.id"), nullable=False),
    Column("paid_on", Date, nullable=False),
    Column("amount_ore", Integer, nullable=False),
    Column("method", String(16), nullable=False),
    Column("reference", String(64), nullable=False),
)

card_tokens = Table(
    "card_tokens",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
    Column("token", String(64), nullable=False),
    Column("last4", String(4), nullable=False),
    Column("brand", String(16), nullable=False),
    Column("expires", String(7), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

login_sessions = Table(
    "login_sessions",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ip_address", String(45), nullable=False),
    Column("user_agent", String(400), nullable=False),
)
