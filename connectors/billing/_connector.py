"""The billing connector: customers, invoices, payments, card tokens and logins in the billing DB.

What it reports and does (the decisions are the policy's, see policy/default.yaml):
- `locate` reports facts: each customer row and its stored cards, with whether the row's
  contract runs (an active person's row: its services are invoiced to it, see `_customers`),
  and each customer's invoices and payments grouped by financial year (the date the
  bookkeeping rule needs: an invoice's own, a payment's the year it was made in, see
  `_vouchers`), with an opaque ref per group.
- `erase` carries out billing's slice of the plan (`_erasure`): the voucher groups, customer
  rows and cards it names are deleted or anonymised, the retained ones left untouched (an
  active customer's row and cards, while the contract runs); login sessions deleted.
- One identifier that leads to two different people (a shared family e-mail address, a name that
  does not match) makes the subject ambiguous: the connector reports it and refuses to export,
  erase, rectify or restrict, because doing so would touch somebody else's data.

Nothing personal is logged or put into an error message; the evidence of an erasure names only
the company's own customer numbers.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Self

from sqlalchemy import func, select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from connectors.base import (
    AmbiguousSubject,
    ConfigurationError,
    Connector,
    DataCategory,
    ExportSink,
    Operation,
    Recipient,
    load_settings,
)
from connectors.base.matching import (
    normalise,
)
from connectors.billing._changes import RECTIFIABLE_FIELDS, ChangesMixin
from connectors.billing._customers import customer_facts, customer_of
from connectors.billing._engine import create_billing_engine
from connectors.billing._erasure import Erasure, erase_customer, erase_refs
from connectors.billing._errors import translate_errors
from connectors.billing._export import (
    contact_record,
    export_card_tokens,
    export_invoices,
    export_logins,
    export_payments,
    write,
)
from connectors.billing._matching import (
    COMPANY_IDENTIFIERS,
    LEARNED_COLUMNS,
    SEARCH_COLUMNS,
    SHAREABLE,
    Match,
    ambiguity,
    chunks,
    holds_contact_person,
    identity,
    is_company,
    is_live,
    lookup,
)
from connectors.billing._settings import BillingSettings
from connectors.billing._tables import card_tokens, invoices, login_sessions, payments
from connectors.billing._vouchers import voucher_facts
from schemas.identifiers import IdentifierType
from schemas.plan import REMOVING_ACTIONS, PlanAction, SystemPlan
from schemas.results import (
    EraseResult,
    ExportResult,
    LocateResult,
    RecordFacts,
)
from schemas.subject import Identifier, SubjectRef

__all__ = ["RECTIFIABLE_FIELDS", "BillingConnector", "create_billing_engine"]

log = logging.getLogger("connectors.billing")


_CATEGORY_NAMES = ("contact", "invoices", "payments", "card_tokens", "login_sessions")


# --- the connector ------------------------------------------------------------------------


class BillingConnector(ChangesMixin, Connector):
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
        ),
        DataCategory(
            name="payments",
            description=(
                "Payments of invoices: date, amount, method (card, bankgiro, Swish), reference"
            ),
            purpose="Bookkeeping (legal obligation)",
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
        pool_size: int = 4,
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
                facts = await self._facts(conn, match)
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
            facts=facts,
        )

    async def _facts(self, conn: AsyncConnection, match: Match) -> list[RecordFacts]:
        """Each customer row and its stored cards, with whether the row's contract runs (the
        services invoiced to it: `_customers`), and invoices and payments per customer and
        financial year: the date the bookkeeping rule needs, one group (and one ref) per year,
        so the plan can keep each year until its own end date. A payment's year is the one it
        was made in, not its invoice's; an invoice paid in a later year is reported with that
        year, as it stays with its payment."""
        facts = await customer_facts(conn, match)
        for ids in chunks(match.ids):
            facts.extend(await voucher_facts(conn, ids))
        return facts

    async def _match(self, conn: AsyncConnection, subject: SubjectRef) -> Match:
        match = Match()
        for identifier in subject.identifiers:
            if identifier.type not in SEARCH_COLUMNS:
                continue
            value = normalise(identifier.type, identifier.value)
            if value is None:
                continue
            rows = (await conn.execute(lookup(identifier.type, value))).all()
            for row in rows:
                match.rows[row.id] = row
            match.hits.append((identifier.type, [row.id for row in rows]))
        match.ambiguity = ambiguity(subject, match)
        return match

    async def _counts(self, conn: AsyncConnection, match: Match) -> dict[str, int]:
        counts = dict.fromkeys(_CATEGORY_NAMES, 0)
        # A company's row counts while it names its contact person (the subject); its cards
        # are the company's and not counted (so never planned for the subject's erasure).
        counts["contact"] = sum(holds_contact_person(row) for row in match.live)
        personal = set(match.personal_ids)
        for ids in chunks(match.ids):
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
                        .where(card_tokens.c.customer_id.in_([i for i in ids if i in personal]))
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
        self, conn: AsyncConnection, subject: SubjectRef, match: Match
    ) -> list[Identifier]:
        """Identifiers on the matched rows the subject did not bring, that lead only to them."""
        known = set(subject.identifiers)
        people = {identity(row) for row in match.live}
        learned: list[Identifier] = []
        for row in (match.rows[i] for i in match.ids):
            for kind, column in LEARNED_COLUMNS:
                if is_company(row) and kind in COMPANY_IDENTIFIERS:
                    continue  # the company's own numbers lead to the company, not its contact
                value = getattr(row, column)
                if not value or (kind is not IdentifierType.CUSTOMER_NUMBER and not is_live(row)):
                    continue
                identifier = Identifier(
                    type=kind, value=value.lower() if kind is IdentifierType.EMAIL else value
                )
                if identifier in known or identifier in learned:
                    continue
                if kind in SHAREABLE and not await self._only_theirs(conn, kind, value, people):
                    continue
                learned.append(identifier)
        return learned

    async def _only_theirs(
        self, conn: AsyncConnection, kind: IdentifierType, value: str, people: set[str]
    ) -> bool:
        normalised = normalise(kind, value)
        if normalised is None:
            return False
        rows = (await conn.execute(lookup(kind, normalised))).all()
        return all(identity(row) in people for row in rows if is_live(row))

    def _refuse_if_ambiguous(self, match: Match, operation: str) -> None:
        if match.ambiguity:
            raise AmbiguousSubject(f"billing refuses to {operation}: {match.ambiguity}")

    # --- export ---------------------------------------------------------------------------

    async def export(self, subject: SubjectRef, sink: ExportSink) -> ExportResult:
        counts = dict.fromkeys(_CATEGORY_NAMES, 0)
        with translate_errors("export"):
            async with self._snapshot() as conn:
                match = await self._match(conn, subject)
                self._refuse_if_ambiguous(match, "export")
                # As locate counts them: a company's row while it names its contact person,
                # and never the company's stored cards (they are not its contact's data).
                for row in match.live:
                    if holds_contact_person(row):
                        await write(sink, "contact", contact_record(row))
                        counts["contact"] += 1
                for ids in chunks(match.ids):
                    counts["invoices"] += await export_invoices(conn, ids, sink)
                    counts["payments"] += await export_payments(conn, ids, sink)
                    counts["login_sessions"] += await export_logins(conn, ids, sink)
                for ids in chunks(match.personal_ids):
                    counts["card_tokens"] += await export_card_tokens(conn, ids, sink)
        log.info("billing export: %d records", sum(counts.values()))
        return ExportResult(system=self.name, counts=counts)

    @asynccontextmanager
    async def _snapshot(self) -> AsyncIterator[AsyncConnection]:
        """One connection and one consistent view for a whole export."""
        async with self._engine.connect() as conn:
            if self._postgres:
                await conn.execution_options(isolation_level="REPEATABLE READ")
            yield conn

    # --- erase ----------------------------------------------------------------------------

    async def erase(self, subject: SubjectRef, plan: SystemPlan) -> EraseResult:
        done = Erasure()
        with translate_errors("erase"):
            # The rows the plan names (their contact or cards to go, or kept: the evidence
            # names them), and every row of the subject when an action is category-wide (that
            # needs the match).
            customer_ids = {
                customer_id
                for category in ("contact", "card_tokens")
                for action in plan.for_category(category)
                if action.action in REMOVING_ACTIONS or action.action is PlanAction.RETAIN
                for customer_id in map(customer_of, action.refs)
                if customer_id is not None
            }
            if any(not a.refs for a in plan.actions):
                async with self._engine.connect() as conn:
                    match = await self._match(conn, subject)
                self._refuse_if_ambiguous(match, "erase")
                customer_ids.update(match.ids)
            for customer_id in sorted(customer_ids):
                await erase_customer(self._engine, customer_id, plan, done)
            await erase_refs(self._engine, plan, done)
        log.info(
            "billing erase: %d customer rows, %d anonymised, %d records deleted",
            len(done.customers),
            done.anonymised["contact"],
            sum(done.deleted.values()),
        )
        return EraseResult(
            system=self.name,
            deleted=done.deleted,
            anonymised=done.anonymised,
            retained=plan.retained_items(),
            evidence=done.evidence(plan),
        )
