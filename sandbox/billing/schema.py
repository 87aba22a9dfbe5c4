"""The billing system's database: customers, invoices, payments, card tokens, login sessions.

SQLAlchemy Core tables, portable between SQLite and PostgreSQL. Money is integer öre (no floats,
no driver-dependent decimals). Every column a DSR searches by is indexed, so locating a subject
is an index lookup even at a million customers; e-mail is indexed lower-cased because addresses
are compared case-insensitively.

Bookkeeping: an invoice is a voucher (verifikation). `financial_year_end` is the last day of the
financial year it belongs to (here the calendar year), and Bokföringslagen 7 kap. 2 § keeps it
until the end of the seventh calendar year after that. `buyer_name` and `buyer_address` are the
snapshot printed on the invoice: they stay as they were, even after the customer row is erased.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    func,
)

__all__ = [
    "CUSTOMER_KINDS",
    "CUSTOMER_STATUSES",
    "PAYMENT_METHODS",
    "card_tokens",
    "customers",
    "invoice_lines",
    "invoices",
    "login_sessions",
    "metadata",
    "payments",
]

CUSTOMER_KINDS = ("person", "company")
CUSTOMER_STATUSES = ("active", "closed", "anonymised")
PAYMENT_METHODS = ("card", "bankgiro", "swish")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

customers = Table(
    "customers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_number", String(32), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("name", String(200)),  # a person's name, or the company's name
    Column("contact_name", String(200)),  # companies: the contact person
    Column("email", String(254)),
    Column("phone", String(20)),  # E.164
    Column("personal_identity_number", String(12)),  # YYYYMMDDNNNC
    Column("organisation_number", String(11)),  # NNNNNN-NNNN
    Column("street", String(200)),
    Column("postcode", String(6)),  # NNN NN
    Column("city", String(100)),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    Column("anonymised_at", DateTime(timezone=True)),
    Column("restricted", Boolean, nullable=False, default=False),
    CheckConstraint("kind IN ('person', 'company')", name="kind"),
    CheckConstraint("status IN ('active', 'closed', 'anonymised')", name="status"),
)

invoices = Table(
    "invoices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("invoice_number", String(32), nullable=False, unique=True),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
    Column("issued_on", Date, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("financial_year_end", Date, nullable=False),
    Column("buyer_name", String(200), nullable=False),
    Column("buyer_address", String(400), nullable=False),
    Column("total_ore", Integer, nullable=False),  # incl. VAT, in öre
    Column("vat_ore", Integer, nullable=False),
)

invoice_lines = Table(
    "invoice_lines",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("invoice_id", Integer, ForeignKey("invoices.id"), nullable=False),
    Column("description", String(300), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_ore", Integer, nullable=False),  # excl. VAT, in öre
)

payments = Table(
    "payments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("invoice_id", Integer, ForeignKey("invoices.id"), nullable=False),
    Column("paid_on", Date, nullable=False),
    Column("amount_ore", Integer, nullable=False),
    Column("method", String(16), nullable=False),
    Column("reference", String(64), nullable=False),
    CheckConstraint("method IN ('card', 'bankgiro', 'swish')", name="method"),
)

card_tokens = Table(
    "card_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
    Column("token", String(64), nullable=False),  # the payment provider's token, not a card number
    Column("last4", String(4), nullable=False),
    Column("brand", String(16), nullable=False),
    Column("expires", String(7), nullable=False),  # YYYY-MM
    Column("created_at", DateTime(timezone=True), nullable=False),
)

login_sessions = Table(
    "login_sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ip_address", String(45), nullable=False),  # IPv4 or IPv6
    Column("user_agent", String(400), nullable=False),
)

# Lookup indexes: every identifier a DSR searches by, and every foreign key followed from there.
Index("ix_customers_email_lower", func.lower(customers.c.email))
Index("ix_customers_personal_identity_number", customers.c.personal_identity_number)
Index("ix_customers_organisation_number", customers.c.organisation_number)
Index("ix_customers_phone", customers.c.phone)
Index("ix_invoices_customer_id", invoices.c.customer_id)
Index("ix_invoices_financial_year_end", invoices.c.financial_year_end)
Index("ix_invoice_lines_invoice_id", invoice_lines.c.invoice_id)
Index("ix_payments_invoice_id", payments.c.invoice_id)
Index("ix_card_tokens_customer_id", card_tokens.c.customer_id)
Index("ix_login_sessions_customer_id", login_sessions.c.customer_id)
