"""Export: the subject's billing records as the sink receives them, streamed row by row."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import ExportSink
from connectors.billing._errors import SinkFailure
from connectors.billing._tables import (
    card_tokens,
    customers,
    invoice_lines,
    invoices,
    login_sessions,
    payments,
)

_YIELD_PER = 500  # rows per fetch when streaming an export


def _iso(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # SQLite returns naive UTC
    return value.isoformat()


def _sek(ore: int) -> str:
    sign = "-" if ore < 0 else ""
    return f"{sign}{abs(ore) // 100}.{abs(ore) % 100:02d}"


def contact_record(row: Row[Any]) -> dict[str, object]:
    return {
        "customer_number": row.customer_number,
        "kind": row.kind,
        "name": row.name,
        "contact_name": row.contact_name,
        "email": row.email,
        "phone": row.phone,
        "personal_identity_number": row.personal_identity_number,
        "organisation_number": row.organisation_number,
        "street": row.street,
        "postcode": row.postcode,
        "city": row.city,
        "status": row.status,
        "created_at": _iso(row.created_at),
        "closed_at": _iso(row.closed_at),
        "restricted": bool(row.restricted),
    }


async def write(sink: ExportSink, category: str, record: dict[str, object]) -> None:
    try:
        await sink.write(category, record)
    except Exception as exc:
        raise SinkFailure(exc) from exc


async def _stream_to_sink(
    conn: AsyncConnection,
    statement: Any,
    sink: ExportSink,
    category: str,
    record: Callable[[Any], dict[str, object]],
) -> int:
    """Stream rows server-side (the statement sets yield_per) into the sink, one record at a
    time, so a subject with many rows never sits in memory; returns how many were written."""
    written = 0
    result = await conn.stream(statement)
    async for row in result:
        await write(sink, category, record(row))
        written += 1
    return written


async def export_invoices(conn: AsyncConnection, ids: Sequence[int], sink: ExportSink) -> int:
    statement = (
        select(
            invoices.c.id,
            invoices.c.invoice_number,
            customers.c.customer_number,
            invoices.c.issued_on,
            invoices.c.due_on,
            invoices.c.financial_year_end,
            invoices.c.buyer_name,
            invoices.c.buyer_address,
            invoices.c.total_ore,
            invoices.c.vat_ore,
            invoice_lines.c.description,
            invoice_lines.c.quantity,
            invoice_lines.c.unit_price_ore,
        )
        .select_from(
            invoices.join(customers, invoices.c.customer_id == customers.c.id).outerjoin(
                invoice_lines, invoice_lines.c.invoice_id == invoices.c.id
            )
        )
        .where(invoices.c.customer_id.in_(ids))
        .order_by(invoices.c.id, invoice_lines.c.id)
        .execution_options(yield_per=_YIELD_PER)
    )
    written = 0
    current_id: int | None = None
    record: dict[str, object] = {}
    lines: list[dict[str, object]] = []
    result = await conn.stream(statement)
    async for row in result:
        if row.id != current_id:
            if current_id is not None:
                await write(sink, "invoices", record)
                written += 1
            current_id = row.id
            lines = []
            record = {
                "invoice_number": row.invoice_number,
                "customer_number": row.customer_number,
                "issued_on": _iso(row.issued_on),
                "due_on": _iso(row.due_on),
                "financial_year_end": _iso(row.financial_year_end),
                "buyer_name": row.buyer_name,
                "buyer_address": row.buyer_address,
                "currency": "SEK",
                "total": _sek(row.total_ore),
                "vat": _sek(row.vat_ore),
                "total_ore": row.total_ore,
                "lines": lines,
            }
        if row.description is not None:
            lines.append(
                {
                    "description": row.description,
                    "quantity": row.quantity,
                    "unit_price": _sek(row.unit_price_ore),
                    "amount": _sek(row.quantity * row.unit_price_ore),
                }
            )
    if current_id is not None:
        await write(sink, "invoices", record)
        written += 1
    return written


async def export_payments(conn: AsyncConnection, ids: Sequence[int], sink: ExportSink) -> int:
    statement = (
        select(
            customers.c.customer_number,
            invoices.c.invoice_number,
            payments.c.paid_on,
            payments.c.amount_ore,
            payments.c.method,
            payments.c.reference,
        )
        .select_from(
            payments.join(invoices, payments.c.invoice_id == invoices.c.id).join(
                customers, invoices.c.customer_id == customers.c.id
            )
        )
        .where(invoices.c.customer_id.in_(ids))
        .order_by(payments.c.id)
        .execution_options(yield_per=_YIELD_PER)
    )
    return await _stream_to_sink(
        conn,
        statement,
        sink,
        "payments",
        lambda row: {
            "customer_number": row.customer_number,
            "invoice_number": row.invoice_number,
            "paid_on": _iso(row.paid_on),
            "currency": "SEK",
            "amount": _sek(row.amount_ore),
            "amount_ore": row.amount_ore,
            "method": row.method,
            "reference": row.reference,
        },
    )


async def export_card_tokens(conn: AsyncConnection, ids: Sequence[int], sink: ExportSink) -> int:
    # The token itself is withheld: it is the payment provider's key to charge the card, not
    # information about the subject, and an archive holding it could be used to pay.
    statement = (
        select(
            customers.c.customer_number,
            card_tokens.c.brand,
            card_tokens.c.last4,
            card_tokens.c.expires,
            card_tokens.c.created_at,
        )
        .select_from(card_tokens.join(customers, card_tokens.c.customer_id == customers.c.id))
        .where(card_tokens.c.customer_id.in_(ids))
        .order_by(card_tokens.c.id)
        .execution_options(yield_per=_YIELD_PER)
    )
    return await _stream_to_sink(
        conn,
        statement,
        sink,
        "card_tokens",
        lambda row: {
            "customer_number": row.customer_number,
            "brand": row.brand,
            "last4": row.last4,
            "expires": row.expires,
            "stored_at": _iso(row.created_at),
            "token": "withheld",
        },
    )


async def export_logins(conn: AsyncConnection, ids: Sequence[int], sink: ExportSink) -> int:
    statement = (
        select(
            customers.c.customer_number,
            login_sessions.c.started_at,
            login_sessions.c.ip_address,
            login_sessions.c.user_agent,
        )
        .select_from(login_sessions.join(customers, login_sessions.c.customer_id == customers.c.id))
        .where(login_sessions.c.customer_id.in_(ids))
        .order_by(login_sessions.c.id)
        .execution_options(yield_per=_YIELD_PER)
    )
    return await _stream_to_sink(
        conn,
        statement,
        sink,
        "login_sessions",
        lambda row: {
            "customer_number": row.customer_number,
            "started_at": _iso(row.started_at),
            "ip_address": row.ip_address,
            "user_agent": row.user_agent,
        },
    )
