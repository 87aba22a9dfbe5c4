"""The billing connector: customers, invoices, payments, card tokens and logins in the billing DB.

Rules it applies (the company's policy, see ARCHITECTURE.md):
- Invoices and payments are bookkeeping records (Bokföringslagen 7 kap. 2 §). They are kept
  unchanged until 31 December of the seventh year after the financial year they belong to, and
  only then deleted; an erasure before that anonymises the customer row and reports the
  invoices and payments as retained, with the reason and the latest end date.
- Card tokens and login sessions are deleted on erasure.
- One identifier that leads to two different people (a shared family e-mail address, a name that
  does not match) makes the subject ambiguous: the connector reports it and refuses to export,
  erase, rectify or restrict, because doing so would touch somebody else's data.

Nothing personal is logged or put into an error message; the evidence of an erasure names only
the company's own customer numbers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Self

from sqlalchemy import ColumnElement, Row, Select, delete, func, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from connectors.base import (
    AmbiguousSubject,
    ConfigurationError,
    Connector,
    DataCategory,
    ExportSink,
    Operation,
    Recipient,
    RetentionRule,
    load_settings,
)
from connectors.base.matching import (
    name_matches_any,
    normalise,
    normalise_email,
    normalise_phone,
    split_changes,
)
from connectors.base.sqlite import prepare_sqlite_engine
from connectors.billing._errors import SinkFailure, translate_errors
from connectors.billing._settings import BillingSettings
from connectors.billing._tables import (
    card_tokens,
    customers,
    invoice_lines,
    invoices,
    login_sessions,
    payments,
)
from schemas.events import FieldChange
from schemas.identifiers import IdentifierType
from schemas.results import EraseResult, ExportResult, LocateResult, RectifyResult, RestrictResult
from schemas.status import RetainedItem, RetentionReason
from schemas.subject import Identifier, SubjectRef

__all__ = [
    "BOOKKEEPING_LEGAL_BASIS",
    "BOOKKEEPING_YEARS",
    "RECTIFIABLE_FIELDS",
    "BillingConnector",
    "bookkeeping_until",
    "create_billing_engine",
]

log = logging.getLogger("connectors.billing")

BOOKKEEPING_LEGAL_BASIS = "Bokföringslagen (1999:1078) 7 kap. 2 §"
BOOKKEEPING_YEARS = 7
RECTIFIABLE_FIELDS = ("name", "email", "phone", "street", "postcode", "city")

_BOOKKEEPING = RetentionRule(
    reason=RetentionReason.BOOKKEEPING,
    legal_basis=BOOKKEEPING_LEGAL_BASIS,
    years_after_financial_year=BOOKKEEPING_YEARS,
)
_CATEGORY_NAMES = ("contact", "invoices", "payments", "card_tokens", "login_sessions")
_CHUNK = 500  # ids per IN (...) list
_YIELD_PER = 500  # rows per fetch when streaming an export
_EVIDENCE_CUSTOMERS = 20  # customer numbers named in the evidence; more are counted
_POSTCODE = re.compile(r"^[1-9][0-9]{2} ?[0-9]{2}$")  # rectified postcodes: NNN NN


def bookkeeping_until(financial_year_end: date, years: int = BOOKKEEPING_YEARS) -> date:
    """Last day a voucher must be kept: 31 December of the `years`-th year after its financial
    year ended (Bokföringslagen 7 kap. 2 §: "till och med det sjunde året efter utgången av det
    kalenderår då räkenskapsåret avslutades")."""
    return date(financial_year_end.year + years, 12, 31)


def _first_kept_financial_year_end(today: date) -> date:
    """Vouchers whose financial year ended before this date are past retention on `today`.

    until < today  <=>  31 Dec (year + 7) < today  <=>  year + 7 < today.year.
    """
    return date(today.year - BOOKKEEPING_YEARS, 1, 1)


def create_billing_engine(
    database_url: str | URL,
    *,
    statement_timeout: float = 30.0,
    connect_timeout: float = 10.0,
    pool_size: int = 5,
) -> AsyncEngine:
    """An async engine for the billing database (PostgreSQL via asyncpg, or SQLite)."""
    try:
        url = make_url(database_url)
    except (sa_exc.ArgumentError, ValueError):
        raise ConfigurationError("billing database URL is not a valid database URL") from None
    backend = url.get_backend_name()
    kwargs: dict[str, Any] = {}
    if backend == "postgresql":
        url = url.set(drivername="postgresql+asyncpg")
        connect_args: dict[str, Any] = {
            "timeout": connect_timeout,
            "command_timeout": statement_timeout + 5,  # the server's timeout should fire first
            "server_settings": {
                "statement_timeout": str(int(statement_timeout * 1000)),
                "application_name": "dsr-connector-billing",
            },
        }
        kwargs = {
            "pool_size": pool_size,
            "max_overflow": pool_size,
            "pool_timeout": connect_timeout,
        }
    elif backend == "sqlite":
        url = url.set(drivername="sqlite+aiosqlite")
        connect_args = {"timeout": statement_timeout}  # how long to wait for a lock
    else:
        raise ConfigurationError(f"billing supports postgresql and sqlite databases, not {backend}")
    try:
        engine = create_async_engine(
            url,
            hide_parameters=True,  # SQLAlchemy must never log or print parameter values
            pool_pre_ping=True,
            connect_args=connect_args,
            **kwargs,
        )
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, sa_exc.InvalidRequestError):
        raise ConfigurationError("billing database URL names an unusable driver") from None
    if backend == "sqlite":
        prepare_sqlite_engine(engine)
    return engine


# --- matching -----------------------------------------------------------------------------

_SEARCH_COLUMNS: dict[IdentifierType, ColumnElement[Any]] = {
    IdentifierType.EMAIL: func.lower(customers.c.email),
    IdentifierType.CUSTOMER_NUMBER: customers.c.customer_number,
    IdentifierType.PERSONAL_IDENTITY_NUMBER: customers.c.personal_identity_number,
    IdentifierType.ORGANISATION_NUMBER: customers.c.organisation_number,
    IdentifierType.PHONE: customers.c.phone,
}
_LEARNED_COLUMNS: tuple[tuple[IdentifierType, str], ...] = (
    (IdentifierType.CUSTOMER_NUMBER, "customer_number"),
    (IdentifierType.EMAIL, "email"),
    (IdentifierType.PERSONAL_IDENTITY_NUMBER, "personal_identity_number"),
    (IdentifierType.ORGANISATION_NUMBER, "organisation_number"),
    (IdentifierType.PHONE, "phone"),
)
# Identifiers several people may legitimately share: learned only when nobody else has them.
_SHAREABLE = frozenset({IdentifierType.EMAIL, IdentifierType.PHONE})


def _lookup(kind: IdentifierType, value: str) -> Select[Any]:
    """The indexed lookup of customer rows by one identifier."""
    return select(customers).where(_SEARCH_COLUMNS[kind] == value).order_by(customers.c.id)


def _identity(row: Row[Any]) -> str:
    """Who the row belongs to: personnummer, organisationsnummer, or (lacking both) the row."""
    if row.personal_identity_number:
        return f"pnr:{row.personal_identity_number}"
    if row.organisation_number:
        return f"org:{row.organisation_number}"
    return f"customer:{row.customer_number}"


def _is_live(row: Row[Any]) -> bool:
    return bool(row.status != "anonymised")


@dataclass
class _Match:
    rows: dict[int, Row[Any]] = field(default_factory=dict)
    hits: list[tuple[IdentifierType, list[int]]] = field(default_factory=list)
    ambiguity: str | None = None

    @property
    def ids(self) -> list[int]:
        return sorted(self.rows)

    @property
    def live(self) -> list[Row[Any]]:
        return [self.rows[i] for i in self.ids if _is_live(self.rows[i])]


def _ambiguity(subject: SubjectRef, match: _Match) -> str | None:
    """Why the identifiers do not lead to exactly one person, in words without personal data."""
    for kind, ids in match.hits:
        people = {_identity(match.rows[i]) for i in ids if _is_live(match.rows[i])}
        if len(people) > 1:
            return f"{kind.value} matches {len(people)} customers with different identity numbers"
    people = {_identity(row) for row in match.live}
    if len(people) > 1:
        return (
            f"the identifiers given match {len(people)} customers with different identity numbers"
        )
    if subject.name:
        for kind, ids in match.hits:
            for i in ids:
                row = match.rows[i]
                if _is_live(row) and not name_matches_any(subject.name, row.name, row.contact_name):
                    return f"{kind.value} matches a customer whose name differs from the name given"
    return None


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


# --- records ------------------------------------------------------------------------------


def _iso(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # SQLite returns naive UTC
    return value.isoformat()


def _sek(ore: int) -> str:
    sign = "-" if ore < 0 else ""
    return f"{sign}{abs(ore) // 100}.{abs(ore) % 100:02d}"


def _contact_record(row: Row[Any]) -> dict[str, object]:
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


async def _write(sink: ExportSink, category: str, record: dict[str, object]) -> None:
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
        await _write(sink, category, record(row))
        written += 1
    return written


# --- the connector ------------------------------------------------------------------------


class BillingConnector(Connector):
    """Billing: customer records, invoices, payments, stored card tokens and portal logins."""

    name = "billing"
    search_identifiers = frozenset(
        {
            IdentifierType.EMAIL,
            IdentifierType.CUSTOMER_NUMBER,
            IdentifierType.PERSONAL_IDENTITY_NUMBER,
            IdentifierType.ORGANISATION_NUMBER,
            IdentifierType.PHONE,
        }
    )
    categories = (
        DataCategory(
            name="contact",
            description=(
                "Customer record: name (for companies the contact person), postal address, "
                "e-mail, phone, personnummer or organisationsnummer, account status"
            ),
            purpose="Deliver the services bought and invoice them (contract)",
        ),
        DataCategory(
            name="invoices",
            description=(
                "Invoices with their lines, amounts and the buyer's name and address as printed"
            ),
            purpose="Bookkeeping (legal obligation)",
            retention=_BOOKKEEPING,
        ),
        DataCategory(
            name="payments",
            description=(
                "Payments of invoices: date, amount, method (card, bankgiro, Swish), reference"
            ),
            purpose="Bookkeeping (legal obligation)",
            retention=_BOOKKEEPING,
        ),
        DataCategory(
            name="card_tokens",
            description=(
                "Stored payment cards: the payment provider's token, brand, last four digits, "
                "expiry"
            ),
            purpose="Recurring card payments (contract)",
        ),
        DataCategory(
            name="login_sessions",
            description="Logins to Min Sida: time, IP address, browser",
            purpose="Security of the customer portal (legitimate interest)",
        ),
    )
    operations = frozenset(
        {
            Operation.LOCATE,
            Operation.EXPORT,
            Operation.ERASE,
            Operation.RECTIFY,
            Operation.RESTRICT,
            Operation.LIFT_RESTRICTION,
        }
    )
    recipients = (
        Recipient(
            name="Card payment provider",
            description="Processes card payments and holds the cards behind the stored tokens",
        ),
    )

    def __init__(
        self,
        database_url: str | URL | None = None,
        *,
        engine: AsyncEngine | None = None,
        statement_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        pool_size: int = 5,
    ) -> None:
        """Either a database URL (the connector owns and disposes its engine) or an engine."""
        if engine is None:
            if database_url is None:
                raise ConfigurationError("billing needs a database URL or an engine")
            engine = create_billing_engine(
                database_url,
                statement_timeout=statement_timeout,
                connect_timeout=connect_timeout,
                pool_size=pool_size,
            )
            self._owns_engine = True
        else:
            self._owns_engine = False
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"

    def __repr__(self) -> str:
        return f"BillingConnector({self._engine.dialect.name})"

    @classmethod
    def from_settings(cls) -> Self:
        settings = load_settings(BillingSettings, "billing")
        if settings.database_url is None or not settings.database_url.get_secret_value():
            raise ConfigurationError("DSR_BILLING_DATABASE_URL is not set")
        return cls(
            settings.database_url.get_secret_value(),
            statement_timeout=settings.statement_timeout,
            connect_timeout=settings.connect_timeout,
            pool_size=settings.pool_size,
        )

    async def aclose(self) -> None:
        if self._owns_engine:
            await self._engine.dispose()

    # --- locate ---------------------------------------------------------------------------

    async def locate(self, subject: SubjectRef) -> LocateResult:
        with translate_errors("locate"):
            async with self._engine.connect() as conn:
                match = await self._match(conn, subject)
                counts = await self._counts(conn, match)
                learned = [] if match.ambiguity else await self._learned(conn, subject, match)
        log.info(
            "billing locate: %d customer rows, ambiguous=%s",
            len(match.rows),
            match.ambiguity is not None,
        )
        return LocateResult(
            system=self.name,
            counts=counts,
            learned=learned,
            ambiguous=match.ambiguity is not None,
            ambiguity_reason=match.ambiguity,
        )

    async def _match(self, conn: AsyncConnection, subject: SubjectRef) -> _Match:
        match = _Match()
        for identifier in subject.identifiers:
            if identifier.type not in _SEARCH_COLUMNS:
                continue
            value = normalise(identifier.type, identifier.value)
            if value is None:
                continue
            rows = (await conn.execute(_lookup(identifier.type, value))).all()
            for row in rows:
                match.rows[row.id] = row
            match.hits.append((identifier.type, [row.id for row in rows]))
        match.ambiguity = _ambiguity(subject, match)
        return match

    async def _counts(self, conn: AsyncConnection, match: _Match) -> dict[str, int]:
        counts = dict.fromkeys(_CATEGORY_NAMES, 0)
        counts["contact"] = len(match.live)
        for ids in _chunks(match.ids):
            # One round trip for all four categories: locate runs in every discovery round.
            row = (
                await conn.execute(
                    select(
                        select(func.count())
                        .where(invoices.c.customer_id.in_(ids))
                        .scalar_subquery()
                        .label("invoices"),
                        select(func.count())
                        .select_from(
                            payments.join(invoices, payments.c.invoice_id == invoices.c.id)
                        )
                        .where(invoices.c.customer_id.in_(ids))
                        .scalar_subquery()
                        .label("payments"),
                        select(func.count())
                        .where(card_tokens.c.customer_id.in_(ids))
                        .scalar_subquery()
                        .label("card_tokens"),
                        select(func.count())
                        .where(login_sessions.c.customer_id.in_(ids))
                        .scalar_subquery()
                        .label("login_sessions"),
                    )
                )
            ).one()
            for category in ("invoices", "payments", "card_tokens", "login_sessions"):
                counts[category] += int(getattr(row, category) or 0)
        return counts

    async def _learned(
        self, conn: AsyncConnection, subject: SubjectRef, match: _Match
    ) -> list[Identifier]:
        """Identifiers on the matched rows the subject did not bring, that lead only to them."""
        known = set(subject.identifiers)
        people = {_identity(row) for row in match.live}
        learned: list[Identifier] = []
        for row in (match.rows[i] for i in match.ids):
            for kind, column in _LEARNED_COLUMNS:
                value = getattr(row, column)
                if not value or (kind is not IdentifierType.CUSTOMER_NUMBER and not _is_live(row)):
                    continue
                identifier = Identifier(
                    type=kind, value=value.lower() if kind is IdentifierType.EMAIL else value
                )
                if identifier in known or identifier in learned:
                    continue
                if kind in _SHAREABLE and not await self._only_theirs(conn, kind, value, people):
                    continue
                learned.append(identifier)
        return learned

    async def _only_theirs(
        self, conn: AsyncConnection, kind: IdentifierType, value: str, people: set[str]
    ) -> bool:
        normalised = normalise(kind, value)
        if normalised is None:
            return False
        rows = (await conn.execute(_lookup(kind, normalised))).all()
        return all(_identity(row) in people for row in rows if _is_live(row))

    def _refuse_if_ambiguous(self, match: _Match, operation: str) -> None:
        if match.ambiguity:
            raise AmbiguousSubject(f"billing refuses to {operation}: {match.ambiguity}")

    # --- export ---------------------------------------------------------------------------

    async def export(self, subject: SubjectRef, sink: ExportSink) -> ExportResult:
        counts = dict.fromkeys(_CATEGORY_NAMES, 0)
        with translate_errors("export"):
            async with self._snapshot() as conn:
                match = await self._match(conn, subject)
                self._refuse_if_ambiguous(match, "export")
                for row in match.live:
                    await _write(sink, "contact", _contact_record(row))
                    counts["contact"] += 1
                for ids in _chunks(match.ids):
                    counts["invoices"] += await self._export_invoices(conn, ids, sink)
                    counts["payments"] += await self._export_payments(conn, ids, sink)
                    counts["card_tokens"] += await self._export_card_tokens(conn, ids, sink)
                    counts["login_sessions"] += await self._export_logins(conn, ids, sink)
        log.info("billing export: %d records", sum(counts.values()))
        return ExportResult(system=self.name, counts=counts)

    @asynccontextmanager
    async def _snapshot(self) -> AsyncIterator[AsyncConnection]:
        """One connection and one consistent view for a whole export."""
        async with self._engine.connect() as conn:
            if self._postgres:
                await conn.execution_options(isolation_level="REPEATABLE READ")
            yield conn

    async def _export_invoices(
        self, conn: AsyncConnection, ids: Sequence[int], sink: ExportSink
    ) -> int:
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
                    await _write(sink, "invoices", record)
                    written += 1
                current_id = row.id
                lines = []
                record = {
                    "invoice_number": row.invoice_number,
                    "customer_number": row.customer_number,
                    "issued_on": _iso(row.issued_on),
                    "due_on": _iso(row.due_on),
                    "financial_year_end": _iso(row.financial_year_end),
                    "kept_until": _iso(bookkeeping_until(row.financial_year_end)),
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
            await _write(sink, "invoices", record)
            written += 1
        return written

    async def _export_payments(
        self, conn: AsyncConnection, ids: Sequence[int], sink: ExportSink
    ) -> int:
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

    async def _export_card_tokens(
        self, conn: AsyncConnection, ids: Sequence[int], sink: ExportSink
    ) -> int:
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

    async def _export_logins(
        self, conn: AsyncConnection, ids: Sequence[int], sink: ExportSink
    ) -> int:
        statement = (
            select(
                customers.c.customer_number,
                login_sessions.c.started_at,
                login_sessions.c.ip_address,
                login_sessions.c.user_agent,
            )
            .select_from(
                login_sessions.join(customers, login_sessions.c.customer_id == customers.c.id)
            )
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

    # --- erase ----------------------------------------------------------------------------

    async def erase(self, subject: SubjectRef, today: date) -> EraseResult:
        deleted = dict.fromkeys(("invoices", "payments", "card_tokens", "login_sessions"), 0)
        anonymised = {"contact": 0}
        retained_invoices = retained_payments = 0
        latest_invoices: date | None = None
        latest_payments: date | None = None
        processed: list[str] = []
        with translate_errors("erase"):
            async with self._engine.connect() as conn:
                match = await self._match(conn, subject)
            self._refuse_if_ambiguous(match, "erase")
            for customer_id in match.ids:
                outcome = await self._erase_customer(customer_id, today)
                if outcome is None:  # gone since the lookup
                    continue
                processed.append(match.rows[customer_id].customer_number)
                for category, count in outcome.deleted.items():
                    deleted[category] += count
                anonymised["contact"] += outcome.anonymised
                retained_invoices += outcome.invoices_kept
                retained_payments += outcome.payments_kept
                latest_invoices = _later(latest_invoices, outcome.invoices_until)
                latest_payments = _later(latest_payments, outcome.payments_until)
        retained: list[RetainedItem] = []
        for category, count, until in (
            ("invoices", retained_invoices, latest_invoices),
            ("payments", retained_payments, latest_payments),
        ):
            if count:
                retained.append(
                    RetainedItem(
                        category=category,
                        count=count,
                        reason=RetentionReason.BOOKKEEPING,
                        until=until,
                        legal_basis=BOOKKEEPING_LEGAL_BASIS,
                    )
                )
        log.info(
            "billing erase: %d customer rows, %d anonymised, %d records deleted, %d retained",
            len(processed),
            anonymised["contact"],
            sum(deleted.values()),
            retained_invoices + retained_payments,
        )
        return EraseResult(
            system=self.name,
            deleted=deleted,
            anonymised=anonymised,
            retained=retained,
            evidence=_evidence(processed, deleted, anonymised["contact"], retained, today),
        )

    async def _erase_customer(self, customer_id: int, today: date) -> _CustomerErasure | None:
        """One customer, one transaction: delete, anonymise, and report what stays."""
        kept_from = _first_kept_financial_year_end(today)
        async with self._engine.begin() as conn:
            status = (
                await conn.execute(
                    select(customers.c.status)
                    .where(customers.c.id == customer_id)
                    .with_for_update()  # two erasures of one customer run one after the other
                )
            ).scalar_one_or_none()
            if status is None:
                return None
            outcome = _CustomerErasure()
            outcome.deleted["login_sessions"] = (
                await conn.execute(
                    delete(login_sessions).where(login_sessions.c.customer_id == customer_id)
                )
            ).rowcount
            outcome.deleted["card_tokens"] = (
                await conn.execute(
                    delete(card_tokens).where(card_tokens.c.customer_id == customer_id)
                )
            ).rowcount
            expired = (
                select(invoices.c.id)
                .where(invoices.c.customer_id == customer_id)
                .where(invoices.c.financial_year_end < kept_from)
            )
            await conn.execute(delete(invoice_lines).where(invoice_lines.c.invoice_id.in_(expired)))
            outcome.deleted["payments"] = (
                await conn.execute(delete(payments).where(payments.c.invoice_id.in_(expired)))
            ).rowcount
            outcome.deleted["invoices"] = (
                await conn.execute(
                    delete(invoices)
                    .where(invoices.c.customer_id == customer_id)
                    .where(invoices.c.financial_year_end < kept_from)
                )
            ).rowcount
            if status != "anonymised":
                await conn.execute(
                    update(customers)
                    .where(customers.c.id == customer_id)
                    .values(
                        name=None,
                        contact_name=None,
                        email=None,
                        phone=None,
                        personal_identity_number=None,
                        organisation_number=None,
                        street=None,
                        postcode=None,
                        city=None,
                        status="anonymised",
                        closed_at=func.coalesce(customers.c.closed_at, datetime.now(UTC)),
                        anonymised_at=datetime.now(UTC),
                    )
                )
                outcome.anonymised = 1
            kept = (
                await conn.execute(
                    select(func.count(), func.max(invoices.c.financial_year_end)).where(
                        invoices.c.customer_id == customer_id
                    )
                )
            ).one()
            outcome.invoices_kept = int(kept[0] or 0)
            outcome.invoices_until = _until(kept[1])
            kept = (
                await conn.execute(
                    select(func.count(), func.max(invoices.c.financial_year_end))
                    .select_from(payments.join(invoices, payments.c.invoice_id == invoices.c.id))
                    .where(invoices.c.customer_id == customer_id)
                )
            ).one()
            outcome.payments_kept = int(kept[0] or 0)
            outcome.payments_until = _until(kept[1])
        return outcome

    # --- rectify and restrict -------------------------------------------------------------

    async def rectify(self, subject: SubjectRef, changes: list[FieldChange]) -> RectifyResult:
        values, rejected = split_changes(changes, _clean)
        changed: dict[str, int] = {}
        with translate_errors("rectify"):
            async with self._engine.begin() as conn:
                match = await self._match(conn, subject)
                self._refuse_if_ambiguous(match, "rectify")
                live = match.live
                if values and live:
                    rows = 0
                    for kind in ("person", "company"):
                        ids = [row.id for row in live if row.kind == kind]
                        if not ids:
                            continue
                        update_values = dict(values)
                        if kind == "company" and "name" in update_values:
                            # the data subject of a company customer is its contact person
                            update_values["contact_name"] = update_values.pop("name")
                        for chunk in _chunks(ids):
                            rows += (
                                await conn.execute(
                                    update(customers)
                                    .where(customers.c.id.in_(chunk))
                                    .values(**update_values)
                                )
                            ).rowcount
                    changed["contact"] = rows
        log.info("billing rectify: %d fields, %d rejected", len(values), len(rejected))
        return RectifyResult(system=self.name, changed=changed, rejected_fields=rejected)

    async def restrict(self, subject: SubjectRef) -> RestrictResult:
        return await self._set_restricted(subject, restricted=True, operation="restrict")

    async def lift_restriction(self, subject: SubjectRef) -> RestrictResult:
        return await self._set_restricted(subject, restricted=False, operation="lift_restriction")

    async def _set_restricted(
        self, subject: SubjectRef, *, restricted: bool, operation: str
    ) -> RestrictResult:
        with translate_errors(operation):
            async with self._engine.begin() as conn:
                match = await self._match(conn, subject)
                self._refuse_if_ambiguous(match, operation.replace("_", " "))
                for chunk in _chunks(match.ids):
                    await conn.execute(
                        update(customers)
                        .where(customers.c.id.in_(chunk))
                        .values(restricted=restricted)
                    )
        log.info("billing %s: %d customer rows", operation, len(match.rows))
        return RestrictResult(
            system=self.name, restricted={"contact": len(match.rows)} if match.rows else {}
        )


@dataclass
class _CustomerErasure:
    deleted: dict[str, int] = field(default_factory=dict)
    anonymised: int = 0
    invoices_kept: int = 0
    payments_kept: int = 0
    invoices_until: date | None = None
    payments_until: date | None = None


def _until(latest_financial_year_end: date | None) -> date | None:
    if latest_financial_year_end is None:
        return None
    return bookkeeping_until(latest_financial_year_end)


def _later(a: date | None, b: date | None) -> date | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _evidence(
    customer_numbers: list[str],
    deleted: dict[str, int],
    anonymised: int,
    retained: list[RetainedItem],
    today: date,
) -> str:
    if not customer_numbers:
        return f"billing erase on {today.isoformat()}: no customer matched"
    named = ", ".join(customer_numbers[:_EVIDENCE_CUSTOMERS])
    if len(customer_numbers) > _EVIDENCE_CUSTOMERS:
        named += f" and {len(customer_numbers) - _EVIDENCE_CUSTOMERS} more"
    parts = [
        f"billing erase on {today.isoformat()}: customers {named}",
        f"customer rows anonymised: {anonymised}",
        "deleted: " + ", ".join(f"{k} {v}" for k, v in deleted.items()),
    ]
    for item in retained:
        until = item.until.isoformat() if item.until else "while the reason lasts"
        parts.append(f"retained: {item.category} {item.count} until {until} ({item.legal_basis})")
    return "; ".join(parts)


def _clean(field_name: str, value: str) -> str | None:
    """A rectified value as the billing database stores it, or None if it is not acceptable."""
    value = value.strip()
    if field_name not in RECTIFIABLE_FIELDS or not value:
        return None
    if field_name == "email":
        return normalise_email(value)
    if field_name == "phone":
        return normalise_phone(value)
    if field_name == "postcode":
        if not _POSTCODE.match(value):
            return None
        digits = value.replace(" ", "")
        return f"{digits[:3]} {digits[3:]}"
    limit = 100 if field_name == "city" else 200
    return " ".join(value.split()) if len(value) <= limit else None
