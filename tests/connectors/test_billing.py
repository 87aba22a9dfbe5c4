"""The billing connector: the contract suite on SQLite and PostgreSQL, plus billing's own rules.

Each contract class seeds its own database once (200 customers) and hands every test a different
seeded subject, so tests never see each other's erasures. PostgreSQL tests create a uniquely named
database and drop it afterwards, so parallel runs never collide.

Bad credentials on PostgreSQL: the local server trusts every connection from 127.0.0.1, so a wrong
password cannot be tested. A role that does not exist is refused at login with SQLSTATE 28000
(invalid authorization specification, the same class as a wrong password, 28P01), and the
connector maps class 28 to AuthenticationError. A database that does not exist (3D000) is a
ConfigurationError.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import create_async_engine

from connectors.base import (
    AmbiguousSubject,
    AuthenticationError,
    ConfigurationError,
    PermanentError,
    SystemUnavailable,
)
from connectors.billing import BillingConnector
from connectors.billing._errors import classify
from connectors.billing._matching import lookup as _lookup
from connectors.testing import (
    ConnectorContract,
    KnownSubject,
    RecordingSink,
    dead_tcp_address,
    discover,
    erase_planned,
    leaked_values,
    personal_values,
    planned_erasure,
)
from policy.loader import load_policy
from policy.model import Policy
from policy.planner import plan_request
from policy.retention import bookkeeping_until
from policy.verification import leftovers
from sandbox.billing import (
    SeededCustomer,
    financial_year_end,
    seed_billing,
    seeded_customer,
)
from sandbox.billing import customers as customers_table
from sandbox.billing import invoice_lines as invoice_lines_table
from sandbox.billing import invoices as invoices_table
from sandbox.billing.records import Invoice
from sandbox.people import Customer, generate_customers
from schemas.events import FieldChange, RequestKind
from schemas.identifiers import IdentifierType
from schemas.plan import Plan, PlanAction, PlannedAction, RetainedGroup, SystemPlan
from schemas.status import RetentionReason
from schemas.subject import Identifier, SubjectRef

SEED = 7
CUSTOMERS = 200
TODAY = date(2026, 11, 25)  # billing's own tests fix "today" so retention outcomes are stable

PG_HOST, PG_PORT, PG_ADMIN_USER = "127.0.0.1", 5432, "postgres"


def _ref(*pairs: tuple[IdentifierType, str], name: str | None = None) -> SubjectRef:
    return SubjectRef(
        identifiers=tuple(Identifier(type=kind, value=value) for kind, value in pairs), name=name
    )


def _by_email(customer: Customer, *, name: bool = True) -> SubjectRef:
    return _ref((IdentifierType.EMAIL, customer.email), name=customer.name if name else None)


def _customers(predicate: Callable[[Customer], bool]) -> Iterator[SeededCustomer]:
    for customer in generate_customers(CUSTOMERS, SEED):
        if predicate(customer):
            yield seeded_customer(customer.index, SEED)


def _plain_person(customer: Customer) -> bool:
    return customer.kind == "person" and customer.status == "active" and customer.special is None


def _closed_person(customer: Customer) -> bool:
    return customer.kind == "person" and customer.status == "closed" and customer.special is None


# --- the contract, on both databases ------------------------------------------------------


class _BillingContract(ConnectorContract):
    """Billing's fixtures for the contract suite; subclasses provide `billing_url`."""

    @pytest.fixture(scope="class")
    @classmethod
    def subject_pool(cls) -> Iterator[SeededCustomer]:
        """Plain active persons, one per test that asks: tests never share a subject."""
        return _customers(_plain_person)

    @pytest.fixture
    async def connector(self, billing_url: str) -> AsyncIterator[BillingConnector]:
        connector = BillingConnector(billing_url, statement_timeout=10, connect_timeout=5)
        yield connector
        await connector.aclose()

    @pytest.fixture
    def known_subject(
        self, billing_url: str, subject_pool: Iterator[SeededCustomer]
    ) -> KnownSubject:
        seeded = next(subject_pool)
        return KnownSubject(_by_email(seeded.customer), seeded.counts)

    @pytest.fixture
    def unknown_subject(self) -> SubjectRef:
        return _ref(
            (IdentifierType.EMAIL, f"nobody.{uuid.uuid4().hex[:10]}@example.invalid"),
            (IdentifierType.CUSTOMER_NUMBER, "K999999999"),
            (IdentifierType.PHONE, "+46700000000"),
            name="Ingen Alls",
        )

    @pytest.fixture
    def ambiguous_subject(self) -> SubjectRef:
        shared = next(_customers(lambda c: c.special == "shared_email")).customer
        return _by_email(shared)


class TestBillingConnectorSqlite(_BillingContract):
    @pytest.fixture(scope="class")
    @classmethod
    async def billing_url(cls, tmp_path_factory: pytest.TempPathFactory) -> str:
        path = tmp_path_factory.mktemp("billing-contract") / "billing.db"
        url = f"sqlite+aiosqlite:///{path}"
        await seed_billing(url, CUSTOMERS, SEED)
        return url

    @pytest.fixture
    async def unreachable_connector(self, tmp_path: Path) -> AsyncIterator[BillingConnector]:
        # SQLite has no address: a database file that cannot be opened is its outage.
        connector = BillingConnector(f"sqlite+aiosqlite:///{tmp_path}/no-such-dir/billing.db")
        yield connector
        await connector.aclose()


async def _postgres_admin() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(
            host=PG_HOST, port=PG_PORT, user=PG_ADMIN_USER, database="postgres", timeout=5
        )
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL on {PG_HOST}:{PG_PORT} is not available ({type(exc).__name__})")


@pytest.fixture(scope="module")
async def postgres_database() -> AsyncIterator[Callable[[], Any]]:
    """Creates uniquely named databases on the local PostgreSQL and drops them at the end."""
    created: list[str] = []

    async def create() -> str:
        admin = await _postgres_admin()
        name = f"dsr_test_billing_{uuid.uuid4().hex[:12]}"
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        created.append(name)
        return f"postgresql+asyncpg://{PG_ADMIN_USER}@{PG_HOST}:{PG_PORT}/{name}"

    yield create
    if created:
        admin = await _postgres_admin()
        try:
            for name in created:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.mark.postgres
class TestBillingConnectorPostgres(_BillingContract):
    @pytest.fixture(scope="class")
    @classmethod
    async def billing_url(cls, postgres_database: Callable[[], Any]) -> str:
        url: str = await postgres_database()
        await seed_billing(url, CUSTOMERS, SEED)
        return url

    @pytest.fixture
    async def unreachable_connector(self) -> AsyncIterator[BillingConnector]:
        host, port = dead_tcp_address()
        connector = BillingConnector(
            f"postgresql+asyncpg://{PG_ADMIN_USER}@{host}:{port}/billing", connect_timeout=2
        )
        yield connector
        await connector.aclose()

    @pytest.fixture
    async def bad_credentials_connector(self, billing_url: str) -> AsyncIterator[BillingConnector]:
        role = f"dsr_no_such_role_{uuid.uuid4().hex[:8]}"
        database = billing_url.rsplit("/", 1)[1]
        connector = BillingConnector(
            f"postgresql+asyncpg://{role}:wrong-password@{PG_HOST}:{PG_PORT}/{database}",
            connect_timeout=5,
        )
        yield connector
        await connector.aclose()


@pytest.mark.postgres
async def test_postgres_missing_database_is_a_configuration_error(
    postgres_database: Callable[[], Any],
) -> None:
    await _postgres_admin()  # skips when PostgreSQL is not there
    missing = f"dsr_test_missing_{uuid.uuid4().hex[:8]}"
    connector = BillingConnector(
        f"postgresql+asyncpg://{PG_ADMIN_USER}@{PG_HOST}:{PG_PORT}/{missing}"
    )
    try:
        with pytest.raises(ConfigurationError) as error:
            await connector.locate(_ref((IdentifierType.CUSTOMER_NUMBER, "K100001")))
        assert missing not in str(error.value)
    finally:
        await connector.aclose()


# --- billing's own rules (one SQLite database for the module) -----------------------------


@pytest.fixture(scope="module")
async def billing_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("billing-rules") / "billing.db"
    url = f"sqlite+aiosqlite:///{path}"
    await seed_billing(url, CUSTOMERS, SEED)
    return url


@pytest.fixture
async def billing(billing_url: str) -> AsyncIterator[BillingConnector]:
    connector = BillingConnector(billing_url)
    yield connector
    await connector.aclose()


def _db_path(url: str) -> str:
    return url.split("///", 1)[1]


def _query(url: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(_db_path(url)) as conn:
        return list(conn.execute(sql, params))


# A separate pool per rule so that no two tests touch the same customer.
_persons = _customers(_plain_person)
_closed_persons = _customers(_closed_person)


def _kept_year(invoice: Invoice) -> date:
    """The financial year an invoice is kept for: its own, or a later one a payment of it was
    made in (the sandbox company's financial year is the calendar year)."""
    return max(
        [invoice.financial_year_end, *(financial_year_end(p.paid_on) for p in invoice.payments)]
    )


async def test_erase_deletes_invoices_past_retention_and_keeps_the_rest(
    billing: BillingConnector, billing_url: str
) -> None:
    kept_from = date(TODAY.year - 7, 1, 1)  # FY 2018 and older ended its retention in 2025
    seeded = next(
        s
        for s in _persons
        if any(i.financial_year_end < kept_from for i in s.activity.invoices)
        and any(i.financial_year_end >= kept_from for i in s.activity.invoices)
    )
    expired = [i for i in seeded.activity.invoices if _kept_year(i) < kept_from]
    kept = [i for i in seeded.activity.invoices if _kept_year(i) >= kept_from]
    paid = [p for i in seeded.activity.invoices for p in i.payments]
    kept_payments = [p for p in paid if financial_year_end(p.paid_on) >= kept_from]
    customer_id = seeded.customer.index + 1

    subject = await discover(billing, _by_email(seeded.customer))
    result = await erase_planned(billing, subject, TODAY)

    assert result.deleted["invoices"] == len(expired)
    assert result.deleted["payments"] == len(paid) - len(kept_payments)
    # An active customer: its row and cards serve the running services (kept for the contract,
    # test_an_active_customer_keeps_its_row_and_cards_while_its_services_run).
    assert result.deleted["card_tokens"] == 0
    assert result.deleted["login_sessions"] == len(seeded.activity.login_sessions)
    assert result.anonymised == {"contact": 0}
    # Per record: each financial year's vouchers are kept until that year's own end date.
    invoices = [item for item in result.retained if item.category == "invoices"]
    assert sum(item.count for item in invoices) == len(kept)
    assert {item.until for item in invoices} == {bookkeeping_until(_kept_year(i), 7) for i in kept}
    assert all(item.reason is RetentionReason.BOOKKEEPING for item in invoices)
    assert all(item.legal_basis == "Bokföringslagen (1999:1078) 7 kap. 2 §" for item in invoices)
    payments = [item for item in result.retained if item.category == "payments"]
    assert sum(item.count for item in payments) == len(kept_payments)
    assert {item.until for item in payments} == {
        bookkeeping_until(financial_year_end(p.paid_on), 7) for p in kept_payments
    }
    assert seeded.customer.customer_number in result.evidence

    # The database: old vouchers gone with their lines, kept ones untouched, the row kept.
    rows = _query(
        billing_url,
        "SELECT buyer_name, financial_year_end FROM invoices WHERE customer_id = ?",
        customer_id,
    )
    assert len(rows) == len(kept)
    assert all(name == kept[0].buyer_name for name, _ in rows)  # the invoice snapshot is kept
    lines = _query(
        billing_url,
        "SELECT count(*) FROM invoice_lines JOIN invoices ON invoices.id = invoice_lines.invoice_id"
        " WHERE invoices.customer_id = ?",
        customer_id,
    )
    assert lines[0][0] == sum(len(i.lines) for i in kept)
    orphans = _query(
        billing_url,
        "SELECT count(*) FROM invoice_lines WHERE invoice_id NOT IN (SELECT id FROM invoices)",
    )
    assert orphans[0][0] == 0
    customer = _query(
        billing_url,
        "SELECT name, email, status, anonymised_at, customer_number FROM customers WHERE id = ?",
        customer_id,
    )[0]
    assert customer == (
        seeded.customer.name,
        seeded.customer.email,
        "active",
        None,
        seeded.customer.customer_number,
    )


# A payment is a voucher of the financial year it was made in (Bokföringslagen 7 kap. 2 §), not
# of its invoice's: the December invoice paid in January is kept a year longer, and so is that
# invoice, which the payment refers to. Erased on 1 June of the 8th year after, the invoice's
# year is past its retention and the payment's is not.


def _paid_next_year(invoice: Invoice) -> bool:
    return bool(invoice.payments) and all(
        financial_year_end(p.paid_on) > invoice.financial_year_end for p in invoice.payments
    )


def _late_payer(year: int, *, with_others: bool) -> tuple[SeededCustomer, Invoice]:
    """The first customer (not ambiguous, not anonymised) with exactly one invoice of FY `year`
    paid in the next year, and that invoice; `with_others`: and other FY `year` invoices paid
    in that year."""
    for seeded in _customers(lambda c: c.special is None and c.status != "anonymised"):
        of_year = [i for i in seeded.activity.invoices if i.financial_year_end.year == year]
        late = [i for i in of_year if _paid_next_year(i)]
        others = [i for i in of_year if i.payments and not _paid_next_year(i)]
        if len(late) == 1 and bool(others) == with_others:
            return seeded, late[0]
    raise AssertionError(f"the seed has no customer paying an invoice of {year} in {year + 1}")


@pytest.fixture
async def own_billing(tmp_path: Path) -> AsyncIterator[tuple[BillingConnector, str]]:
    """A freshly seeded database of its own, for tests that erase one particular customer."""
    url = f"sqlite+aiosqlite:///{tmp_path}/billing.db"
    await seed_billing(url, CUSTOMERS, SEED)
    connector = BillingConnector(url)
    yield connector, url
    await connector.aclose()


def _retained_by_until(plan: SystemPlan) -> list[RetainedGroup]:
    """The deferred erasures the workflow sets for this system's plan, one per until-date."""
    assert plan.created_on is not None
    whole = Plan(
        kind=RequestKind.ERASURE, policy_version="test", created_on=plan.created_on, systems=(plan,)
    )
    return whole.retained_by_until()


def _vouchers_of(url: str, customer_id: int, year_end: date) -> tuple[list[str], list[str]]:
    """The customer's invoices of one financial year left (days issued), and their payments
    left (days paid)."""
    issued = _query(
        url,
        "SELECT issued_on FROM invoices WHERE customer_id = ? AND financial_year_end = ?"
        " ORDER BY issued_on",
        customer_id,
        year_end.isoformat(),
    )
    paid = _query(
        url,
        "SELECT paid_on FROM payments JOIN invoices ON invoices.id = payments.invoice_id"
        " WHERE customer_id = ? AND financial_year_end = ? ORDER BY paid_on",
        customer_id,
        year_end.isoformat(),
    )
    return [row[0] for row in issued], [row[0] for row in paid]


@pytest.mark.parametrize(
    ("year", "with_others"),
    [
        pytest.param(2017, False, id="invoice-2017-paid-2018-01-11"),  # K100053 in the seed
        pytest.param(2023, True, id="one-of-the-year-paid-next-year"),  # K100085: 3 paid in 2023
    ],
)
async def test_a_payment_is_kept_for_the_financial_year_it_was_made_in(
    own_billing: tuple[BillingConnector, str], year: int, with_others: bool
) -> None:
    billing, url = own_billing
    seeded, late = _late_payer(year, with_others=with_others)
    invoice_year, payment_year = date(year, 12, 31), date(year + 1, 12, 31)
    erased_on = date(year + 8, 6, 1)  # the invoice's year kept until 31 Dec year+7: past
    payment_until = date(year + 8, 12, 31)  # the payment's year: kept until 31 Dec year+8
    paid = [p for i in seeded.activity.invoices for p in i.payments]
    paid_next_year = [p for p in paid if financial_year_end(p.paid_on) == payment_year]
    expired = [i for i in seeded.activity.invoices if _kept_year(i) <= invoice_year]
    customer_id = seeded.customer.index + 1
    invoice_ref = f"customer:{customer_id}/fy:{year}-12-31"  # the invoices' ref, as ever
    payment_ref = f"customer:{customer_id}/payments/fy:{year + 1}-12-31"  # payments: their own

    subject = await discover(
        billing, _ref((IdentifierType.CUSTOMER_NUMBER, seeded.customer.customer_number))
    )
    plan = await planned_erasure(billing, subject, erased_on)
    result = await billing.erase(subject, plan)

    # The payment made in year+1 is kept until that year's date, with a ref of its own, and
    # the invoice it refers to stays with it (planned so); the rest of the invoice's year goes.
    kept = [a for a in plan.retained if a.until == payment_until]
    assert {a.category for a in kept} == {"invoices", "payments"}
    assert all(a.reason is RetentionReason.BOOKKEEPING for a in kept)
    kept_payments = next(a for a in kept if a.category == "payments")
    assert kept_payments.refs == (payment_ref,)
    assert kept_payments.count == len(paid_next_year)
    assert invoice_ref in next(a for a in kept if a.category == "invoices").refs
    assert (invoice_ref in plan.refs("invoices", PlanAction.DELETE)) is with_others
    assert any(
        item.category == "payments"
        and item.until == payment_until
        and item.count == len(paid_next_year)
        for item in result.retained
    )
    assert result.deleted["invoices"] == len(expired)
    assert result.deleted["payments"] == sum(
        financial_year_end(p.paid_on) <= invoice_year for p in paid
    )
    assert _vouchers_of(url, customer_id, invoice_year) == (
        [late.issued_on.isoformat()],
        [p.paid_on.isoformat() for p in late.payments],
    )
    # What remains is what the plan retains: the erasure verifies.
    assert leftovers(load_policy(None), plan, await billing.locate(subject)) == []

    # The deferred erasure of that date, by refs only: the payment goes, then its invoice, by
    # the invoices' ref of its own year.
    (group,) = [g for g in _retained_by_until(plan) if g.until == payment_until]
    (deferred,) = group.system_plans()
    assert invoice_ref in deferred.refs("invoices", PlanAction.DELETE)
    done = await billing.erase(SubjectRef(identifiers=()), deferred)
    assert done.deleted["payments"] == len(paid_next_year)
    # Dated the day it ran, the first day the law no longer required them, not the last.
    assert done.evidence.startswith(f"billing erase on {payment_until + timedelta(days=1)}:")
    assert _vouchers_of(url, customer_id, invoice_year) == ([], [])
    assert _vouchers_of(url, customer_id, payment_year)[1] == sorted(
        p.paid_on.isoformat()
        for i in seeded.activity.invoices
        if i.financial_year_end == payment_year
        for p in i.payments
        if financial_year_end(p.paid_on) > payment_year
    )


async def test_a_deferred_erasure_recorded_with_the_old_refs_keeps_the_later_payment(
    own_billing: tuple[BillingConnector, str],
) -> None:
    """Deferred-erasure inputs recorded before payments had refs of their own name both
    categories `customer:<id>/fy:<date>`. On the day after the year's date they still erase
    that year's invoices and the payments made in it, and leave a payment made in the next year
    (and the invoice it refers to) to that year."""
    billing, url = own_billing
    seeded, late = _late_payer(2023, with_others=True)
    of_year = [i for i in seeded.activity.invoices if i.financial_year_end.year == 2023]
    paid = [p for i in seeded.activity.invoices for p in i.payments]
    customer_id = seeded.customer.index + 1
    old_ref = f"customer:{customer_id}/fy:2023-12-31"
    until = bookkeeping_until(date(2023, 12, 31), 7)
    recorded = RetainedGroup(  # as today's code planned it: payments by their invoice's year
        until=until,
        actions=tuple(
            PlannedAction(
                system="billing",
                category=category,
                action=PlanAction.RETAIN,
                count=count,
                reason=RetentionReason.BOOKKEEPING,
                until=until,
                refs=(old_ref,),
            )
            for category, count in (
                ("invoices", len(of_year)),
                ("payments", sum(len(i.payments) for i in of_year)),
            )
        ),
    )
    (deferred,) = recorded.system_plans()

    done = await billing.erase(SubjectRef(identifiers=()), deferred)

    assert done.deleted["invoices"] == len(of_year) - 1
    assert done.deleted["payments"] == sum(p.paid_on.year == 2023 for p in paid)
    assert _vouchers_of(url, customer_id, date(2023, 12, 31)) == (
        [late.issued_on.isoformat()],
        [p.paid_on.isoformat() for p in late.payments],
    )
    again = await billing.erase(SubjectRef(identifiers=()), deferred)
    assert sum(again.deleted.values()) == 0


def test_a_payments_financial_year_is_the_one_it_was_made_in() -> None:
    from connectors.billing._vouchers import parse_group_ref, parse_payment_ref, payment_year_end

    fy_2017, fy_2018 = date(2017, 12, 31), date(2018, 12, 31)
    assert payment_year_end(date(2018, 1, 11), fy_2017) == fy_2018
    assert payment_year_end(date(2017, 12, 31), fy_2017) == fy_2017
    assert payment_year_end(date(2017, 3, 1), fy_2017) == fy_2017
    # A financial year other than the calendar year follows the invoice's recorded end.
    assert payment_year_end(date(2023, 8, 1), date(2023, 6, 30)) == date(2024, 6, 30)
    assert payment_year_end(date(2023, 6, 30), date(2023, 6, 30)) == date(2023, 6, 30)
    assert payment_year_end(date(2024, 2, 29), date(2023, 2, 28)) == date(2024, 2, 29)
    assert payment_year_end(date(2023, 3, 1), date(2024, 2, 29)) == date(2024, 2, 29)
    # Refs: the payments' form is their own; the invoices' form (and old inputs) still parse.
    assert parse_payment_ref("customer:53/payments/fy:2018-12-31") == (53, fy_2018)
    assert parse_payment_ref("customer:53/fy:2017-12-31") == (53, fy_2017)
    assert parse_group_ref("customer:53/fy:2017-12-31") == (53, fy_2017)
    assert parse_group_ref("customer:53/payments/fy:2018-12-31") is None  # never an invoice's


async def test_erase_after_all_retention_ended_keeps_nothing(billing: BillingConnector) -> None:
    # A closed customer: its contract has ended too (an active one's row and cards are kept
    # while its services run, test_an_active_customer_keeps_its_row_and_cards_...).
    seeded = next(_closed_persons)
    subject = await discover(billing, _by_email(seeded.customer))
    result = await erase_planned(billing, subject, date(2040, 1, 1))
    assert result.retained == []
    assert result.deleted["invoices"] == len(seeded.activity.invoices)
    assert result.deleted["payments"] == seeded.activity.payments
    after = await billing.locate(subject)
    assert not after.found


CONTRACT_BASIS = {
    "contact": "Avtal (GDPR art. 6.1 b): the customer's running services are invoiced",
    "card_tokens": "Avtal (GDPR art. 6.1 b): recurring card payments of the running services",
}


def _cards_of(url: str, customer_id: int) -> int:
    [(cards,)] = _query(url, "SELECT count(*) FROM card_tokens WHERE customer_id = ?", customer_id)
    return int(cards)


async def test_an_active_customer_keeps_its_row_and_cards_while_its_services_run(
    billing: BillingConnector, billing_url: str
) -> None:
    """The policy: contact details are needed "för att veta vem som äger vilken tjänst och vart
    vi skall skicka fakturor", kept "så länge som det är nödvändigt för att utföra våra
    åtaganden". An active customer's row (its services are invoiced to it) and stored cards
    (they pay them) are retained for the contract, with no until-date (a renewal moves the
    end) and a note that a new request erases them once the contract ends; the logins go.
    Once the customer's services have ended (the row closed), a new request erases both."""
    seeded = next(s for s in _persons if s.activity.card_tokens and s.activity.login_sessions)
    customer_id = seeded.customer.index + 1
    refs = {
        "contact": (f"customer:{customer_id}/contact",),
        "card_tokens": (f"customer:{customer_id}/cards",),
    }
    subject = await discover(billing, _by_email(seeded.customer))

    plan = await planned_erasure(billing, subject, TODAY)

    for category, count in (("contact", 1), ("card_tokens", len(seeded.activity.card_tokens))):
        (action,) = plan.for_category(category)
        assert action.action is PlanAction.RETAIN, category
        assert (action.count, action.refs) == (count, refs[category])
        assert action.reason is RetentionReason.CONTRACT
        assert action.legal_basis == CONTRACT_BASIS[category]
        assert action.until is None
        assert "a new erasure request erases it" in action.note
    assert {a.category for g in _retained_by_until(plan) for a in g.actions} <= {
        "invoices",
        "payments",
    }  # no timer for a contract

    result = await billing.erase(subject, plan)

    assert result.anonymised == {"contact": 0}
    assert result.deleted["card_tokens"] == 0
    assert result.deleted["login_sessions"] == len(seeded.activity.login_sessions)
    contract = {i.category: i for i in result.retained if i.reason is RetentionReason.CONTRACT}
    assert set(contract) == {"contact", "card_tokens"}
    assert all(i.until is None for i in contract.values())
    assert contract["contact"].legal_basis == CONTRACT_BASIS["contact"]
    assert f"{seeded.customer.customer_number} (kept per plan)" in result.evidence
    assert "retained per plan: contact 1 while the contract runs" in result.evidence
    row = _query(
        billing_url, "SELECT name, email, status FROM customers WHERE id = ?", customer_id
    )[0]
    assert row == (seeded.customer.name, seeded.customer.email, "active")
    assert _cards_of(billing_url, customer_id) == len(seeded.activity.card_tokens)
    # Verification: what remains is what the plan retains, by count and by ref.
    after = await billing.locate(subject)
    assert after.counts["contact"] == 1
    assert leftovers(load_policy(None), plan, after) == []

    # The services end; a new erasure request finds the contract ended and erases both.
    with sqlite3.connect(_db_path(billing_url)) as conn:
        conn.execute("UPDATE customers SET status = 'closed' WHERE id = ?", (customer_id,))
    later = await planned_erasure(billing, subject, TODAY + timedelta(days=30))
    assert later.refs("contact", PlanAction.ANONYMISE) == refs["contact"]
    assert later.refs("card_tokens", PlanAction.DELETE) == refs["card_tokens"]
    again = await billing.erase(subject, later)
    assert again.anonymised == {"contact": 1}
    assert again.deleted["card_tokens"] == len(seeded.activity.card_tokens)
    assert _cards_of(billing_url, customer_id) == 0
    assert leftovers(load_policy(None), later, await billing.locate(subject)) == []


async def test_a_closed_customer_s_row_and_cards_are_erased_by_their_refs(
    own_billing: tuple[BillingConnector, str],
) -> None:
    """A closed customer's services have ended: its row is anonymised and its cards deleted,
    as before. The refs alone find them (a plan naming only records), and the vouchers stay."""
    billing, url = own_billing
    seeded = next(_customers(lambda c: _closed_person(c) and bool(c.email)))
    customer_id = seeded.customer.index + 1
    with sqlite3.connect(_db_path(url)) as conn:  # a card kept after closing (none in the seed)
        conn.execute(
            "INSERT INTO card_tokens (customer_id, token, last4, brand, expires, created_at)"
            " VALUES (?, 'tok_closed', '4242', 'visa', '2029-01', '2024-01-01 00:00:00')",
            (customer_id,),
        )
    subject = await discover(billing, _by_email(seeded.customer))
    plan = await planned_erasure(billing, subject, TODAY)
    assert plan.refs("contact", PlanAction.ANONYMISE) == (f"customer:{customer_id}/contact",)
    assert plan.refs("card_tokens", PlanAction.DELETE) == (f"customer:{customer_id}/cards",)
    assert not plan.acts_on("contact", PlanAction.RETAIN)

    by_refs = plan.model_copy(update={"actions": tuple(a for a in plan.actions if a.refs)})
    result = await billing.erase(SubjectRef(identifiers=()), by_refs)
    assert result.anonymised == {"contact": 1}
    assert result.deleted["card_tokens"] == 1
    rest = await billing.erase(subject, plan)  # the category-wide rest: the logins
    assert rest.anonymised == {"contact": 0} and rest.deleted["card_tokens"] == 0

    row = _query(url, "SELECT name, email, status FROM customers WHERE id = ?", customer_id)[0]
    assert row == (None, None, "anonymised")
    assert _cards_of(url, customer_id) == 0
    [(invoices_left,)] = _query(
        url, "SELECT count(*) FROM invoices WHERE customer_id = ?", customer_id
    )
    assert invoices_left == sum(a.count for a in plan.retained if a.category == "invoices")
    assert leftovers(load_policy(None), plan, await billing.locate(subject)) == []


async def test_a_plan_without_refs_for_the_row_erases_it_category_wide(
    own_billing: tuple[BillingConnector, str],
) -> None:
    """A plan made before the row and cards had facts (the older policy, without a contract
    retention for them: a request in flight) names them without refs: it is carried out as it
    was, every row of the subject anonymised and its cards deleted, and it verifies."""
    billing, url = own_billing
    seeded = next(s for s in _customers(_plain_person) if s.activity.card_tokens)
    customer_id = seeded.customer.index + 1
    document = load_policy(None).model_dump(mode="json")
    for category in ("contact", "card_tokens"):
        del document["systems"]["billing"]["categories"][category]["retention"]
    older = Policy.model_validate(document)
    subject = await discover(billing, _by_email(seeded.customer))
    located = await billing.locate(subject)
    as_then = located.model_copy(
        update={"facts": [f for f in located.facts if f.category not in CONTRACT_BASIS]}
    )
    plan = plan_request(
        older, RequestKind.ERASURE, {"billing": as_then}, TODAY, {"billing": billing.operations}
    ).for_system("billing")
    (contact,) = plan.for_category("contact")
    (cards,) = plan.for_category("card_tokens")
    assert (contact.action, contact.refs) == (PlanAction.ANONYMISE, ())
    assert (cards.action, cards.refs) == (PlanAction.DELETE, ())

    result = await billing.erase(subject, plan)

    assert result.anonymised == {"contact": 1}
    assert result.deleted["card_tokens"] == len(seeded.activity.card_tokens)
    assert _query(url, "SELECT status FROM customers WHERE id = ?", customer_id) == [
        ("anonymised",)
    ]
    assert _cards_of(url, customer_id) == 0
    assert leftovers(load_policy(None), plan, await billing.locate(subject)) == []


async def test_same_person_with_two_emails_is_one_subject(billing: BillingConnector) -> None:
    first, second = _two_email_pair()
    by_first = await billing.locate(_by_email(first))
    assert not by_first.ambiguous
    assert by_first.counts["contact"] == 1
    learned = {(i.type, i.value) for i in by_first.learned}
    assert (IdentifierType.PERSONAL_IDENTITY_NUMBER, first.personal_identity_number) in learned
    assert (IdentifierType.CUSTOMER_NUMBER, first.customer_number) in learned

    subject = await discover(billing, _by_email(first))
    values = {(i.type, i.value) for i in subject.identifiers}
    assert (IdentifierType.EMAIL, second.email) in values  # found through the personnummer
    assert (IdentifierType.CUSTOMER_NUMBER, second.customer_number) in values
    located = await billing.locate(subject)
    assert not located.ambiguous
    one, two = seeded_customer(first.index, SEED), seeded_customer(second.index, SEED)
    expected = {k: one.counts[k] + two.counts[k] for k in located.counts}
    assert located.counts == expected

    # The older row is closed, the newer one active: the active row's contract runs (its
    # services are invoiced to it, its card pays them), the closed one's has ended.
    assert (first.status, second.status) == ("closed", "active")
    plan = await planned_erasure(billing, subject, TODAY)
    closed_ref, active_ref = f"customer:{first.index + 1}", f"customer:{second.index + 1}"
    assert plan.refs("contact", PlanAction.ANONYMISE) == (f"{closed_ref}/contact",)
    assert plan.refs("contact", PlanAction.RETAIN) == (f"{active_ref}/contact",)
    assert plan.refs("card_tokens", PlanAction.RETAIN) == (f"{active_ref}/cards",)
    result = await billing.erase(subject, plan)
    assert result.anonymised == {"contact": 1}
    assert result.deleted["card_tokens"] == 0  # the closed row had none left; the active's kept
    assert first.customer_number in result.evidence
    assert f"{second.customer_number} (kept per plan)" in result.evidence
    assert not (await billing.locate(_by_email(first))).found  # the closed row anonymised
    kept = await billing.locate(_by_email(second))
    assert kept.counts["contact"] == 1
    assert kept.counts["card_tokens"] == two.counts["card_tokens"] > 0
    assert leftovers(load_policy(None), plan, await billing.locate(subject)) == []


def _two_email_pair() -> tuple[Customer, Customer]:
    pair = [s.customer for s in _customers(lambda c: c.special == "two_emails" and c.index >= 50)]
    return pair[0], pair[1]


def _shared_email_pair() -> tuple[Customer, Customer]:
    pair = [s.customer for s in _customers(lambda c: c.special == "shared_email" and c.index >= 50)]
    return pair[0], pair[1]


async def test_shared_email_is_ambiguous_and_refused(
    billing: BillingConnector, billing_url: str
) -> None:
    first, second = _shared_email_pair()
    assert first.email == second.email
    subject = _by_email(first)

    located = await billing.locate(subject)
    assert located.ambiguous
    assert located.ambiguity_reason == "email matches 2 customers with different identity numbers"
    assert located.learned == []
    assert located.counts["contact"] == 2
    for operation in (
        erase_planned(billing, subject, TODAY),
        billing.export(subject, RecordingSink()),
        billing.rectify(subject, [FieldChange(field="city", value="Kiruna")]),
        billing.restrict(subject),
    ):
        with pytest.raises(AmbiguousSubject) as error:
            await operation
        leaks = len(leaked_values(str(error.value), personal_values(subject)))
        assert leaks == 0
    untouched = _query(
        billing_url,
        "SELECT count(*) FROM customers WHERE lower(email) = ? AND status = 'active'"
        " AND restricted = 0",
        first.email,
    )
    assert untouched[0][0] == 2

    # Either person, found by personnummer, is one subject; the shared address is not passed on.
    by_pnr = _ref((IdentifierType.PERSONAL_IDENTITY_NUMBER, str(first.personal_identity_number)))
    own = await billing.locate(by_pnr)
    assert not own.ambiguous
    assert IdentifierType.EMAIL not in {i.type for i in own.learned}
    plan = await planned_erasure(billing, await discover(billing, by_pnr), TODAY)
    # Both rows are active: hers is kept for the contract (its services run), by its ref only.
    assert plan.refs("contact", PlanAction.RETAIN) == (f"customer:{first.index + 1}/contact",)
    result = await billing.erase(await discover(billing, by_pnr), plan)
    assert result.anonymised == {"contact": 0}
    assert result.deleted["login_sessions"] == len(
        seeded_customer(first.index, SEED).activity.login_sessions
    )
    other = _ref((IdentifierType.PERSONAL_IDENTITY_NUMBER, str(second.personal_identity_number)))
    assert (await billing.locate(other)).counts["contact"] == 1


async def test_a_name_that_does_not_match_makes_the_subject_ambiguous(
    billing: BillingConnector,
) -> None:
    customer = next(_persons).customer
    wrong = _ref((IdentifierType.EMAIL, customer.email), name="Helt Annan Person")
    result = await billing.locate(wrong)
    assert result.ambiguous
    assert (
        result.ambiguity_reason == "email matches a customer whose name differs from the name given"
    )
    # Case, accents, extra given names and the order of names do not matter.
    for name in (customer.name.upper(), f"{customer.last_name} {customer.first_name}"):
        assert not (
            await billing.locate(_ref((IdentifierType.EMAIL, customer.email), name=name))
        ).ambiguous


async def test_identifiers_of_two_people_together_are_ambiguous(billing: BillingConnector) -> None:
    one, other = next(_persons).customer, next(_persons).customer
    mixed = _ref((IdentifierType.EMAIL, one.email), (IdentifierType.PHONE, other.phone))
    result = await billing.locate(mixed)
    assert result.ambiguous
    assert (
        result.ambiguity_reason
        == "the identifiers given match 2 customers with different identity numbers"
    )


async def test_anonymised_customer_keeps_only_invoices(billing: BillingConnector) -> None:
    seeded = next(_customers(lambda c: c.status == "anonymised"))
    by_number = _ref((IdentifierType.CUSTOMER_NUMBER, seeded.customer.customer_number))
    result = await billing.locate(by_number)
    assert result.counts == seeded.counts
    assert result.counts["contact"] == 0
    assert result.counts["invoices"] == len(seeded.activity.invoices) > 0
    assert not (await billing.locate(_by_email(seeded.customer, name=False))).found


async def test_company_contact(billing: BillingConnector, billing_url: str) -> None:
    seeded = next(_customers(lambda c: c.kind == "company" and c.status == "active"))
    company = seeded.customer
    assert company.organisation_number is not None
    by_orgnr = _ref(
        (IdentifierType.ORGANISATION_NUMBER, company.organisation_number.replace("-", ""))
    )
    # The company's stored cards are its own, never its contact person's.
    assert (await billing.locate(by_orgnr)).counts == {**seeded.counts, "card_tokens": 0}
    by_email = _ref((IdentifierType.EMAIL, company.email), name=company.contact_name)
    assert not (await billing.locate(by_email)).ambiguous  # the contact person's name matches
    sink = RecordingSink()
    exported = await billing.export(by_email, sink)
    assert exported.counts["card_tokens"] == 0  # the company's cards: not its contact's copy
    assert not sink.records.get("card_tokens")

    result = await billing.rectify(by_email, [FieldChange(field="name", value="Ny Kontaktperson")])
    assert result.changed == {"contact": 1}
    row = _query(
        billing_url,
        "SELECT name, contact_name FROM customers WHERE id = ?",
        company.index + 1,
    )[0]
    assert row == (company.name, "Ny Kontaktperson")  # the company's own name is not the subject's


async def test_a_company_contact_s_erasure_removes_the_person_and_keeps_the_company(
    billing: BillingConnector, billing_url: str
) -> None:
    """The contact person of an active company asks for erasure: their name, e-mail and phone
    leave the company's row; the company's name, organisation number, address, status, stored
    cards and logins' company stay (it is the contracting party, not the subject). The
    company's own numbers are not learned for the person, and the erasure verifies."""
    companies = _customers(lambda c: c.kind == "company" and c.status == "active")
    next(companies)  # the first is test_company_contact's
    seeded = next(c for c in companies if c.activity.card_tokens)
    company = seeded.customer
    customer_id = company.index + 1
    before = _query(
        billing_url,
        "SELECT name, organisation_number, street, city, status, closed_at FROM customers "
        "WHERE id = ?",
        customer_id,
    )[0]
    by_email = _ref((IdentifierType.EMAIL, company.email), name=company.contact_name)
    subject = await discover(billing, by_email)
    learned = {i.type for i in subject.identifiers}
    assert IdentifierType.ORGANISATION_NUMBER not in learned
    assert IdentifierType.CUSTOMER_NUMBER not in learned

    result = await erase_planned(billing, subject, TODAY)

    assert result.anonymised == {"contact": 1}
    assert result.deleted["card_tokens"] == 0
    after = _query(
        billing_url,
        "SELECT name, organisation_number, street, city, status, closed_at, contact_name, "
        "email, phone FROM customers WHERE id = ?",
        customer_id,
    )[0]
    assert after[:6] == before  # the company, as it was: active, named, addressed
    assert after[6:] == (None, None, None)  # its contact person gone
    [(cards,)] = _query(
        billing_url, "SELECT count(*) FROM card_tokens WHERE customer_id = ?", customer_id
    )
    assert cards == len(seeded.activity.card_tokens)
    assert not (await billing.locate(subject)).counts["contact"]
    # The company is still found by its own number, holding no contact person of the subject.
    by_number = _ref((IdentifierType.CUSTOMER_NUMBER, company.customer_number))
    assert (await billing.locate(by_number)).counts["contact"] == 0


async def test_rectify_validates_and_never_touches_invoices(
    billing: BillingConnector, billing_url: str
) -> None:
    seeded = next(_persons)
    customer = seeded.customer
    subject = _by_email(customer)
    result = await billing.rectify(
        subject,
        [
            FieldChange(field="postcode", value="41301"),
            FieldChange(field="phone", value="070-123 45 67"),
            FieldChange(field="email", value="not-an-address"),
            FieldChange(field="buyer_name", value="Someone"),
            FieldChange(field="personal_identity_number", value="199001011234"),
        ],
    )
    assert result.changed == {"contact": 1}
    assert result.rejected_fields == ["buyer_name"]  # not held: nothing to do
    assert result.refused_fields == ["email"]  # held, the value cannot be one
    assert result.unchanged_fields == ["personal_identity_number"]  # held, a person's to change
    row = _query(
        billing_url, "SELECT postcode, phone, email FROM customers WHERE id = ?", customer.index + 1
    )[0]
    assert row == ("413 01", "+46701234567", customer.email)
    buyers = _query(
        billing_url,
        "SELECT DISTINCT buyer_address FROM invoices WHERE customer_id = ?",
        customer.index + 1,
    )
    assert buyers == [(customer.address,)]


async def test_restrict_sets_and_clears_the_flag(
    billing: BillingConnector, billing_url: str
) -> None:
    customer = next(_persons).customer
    subject = _by_email(customer)

    def flag() -> int:
        return int(
            _query(
                billing_url, "SELECT restricted FROM customers WHERE id = ?", customer.index + 1
            )[0][0]
        )

    assert (await billing.restrict(subject)).restricted == {"contact": 1}
    assert flag() == 1
    assert (await billing.lift_restriction(subject)).restricted == {"contact": 1}
    assert flag() == 0
    assert (
        await billing.restrict(_ref((IdentifierType.EMAIL, "nobody@example.invalid")))
    ).restricted == {}


async def test_export_records(billing: BillingConnector) -> None:
    seeded = next(s for s in _persons if s.activity.card_tokens and s.activity.login_sessions)
    sink = RecordingSink()
    result = await billing.export(_by_email(seeded.customer), sink)
    assert result.artifact is None
    assert result.counts == seeded.counts
    (contact,) = sink.records["contact"]
    assert contact["email"] == seeded.customer.email
    assert contact["personal_identity_number"] == seeded.customer.personal_identity_number
    first = sink.records["invoices"][0]
    invoice = seeded.activity.invoices[0]
    assert first["issued_on"] == invoice.issued_on.isoformat()
    assert first["financial_year_end"] == invoice.financial_year_end.isoformat()
    assert first["total_ore"] == invoice.total_ore
    assert first["total"] == f"{invoice.total_ore // 100}.{invoice.total_ore % 100:02d}"
    assert isinstance(first["lines"], list)
    assert len(first["lines"]) == len(invoice.lines)
    for token in sink.records["card_tokens"]:
        assert token["token"] == "withheld"
        assert str(token["last4"]).isdigit()
    ips = {str(s["ip_address"]) for s in sink.records["login_sessions"]}
    assert ips == {s.ip_address for s in seeded.activity.login_sessions}


async def test_export_sink_errors_are_not_disguised(billing: BillingConnector) -> None:
    class FullDisk:
        async def write(self, category: str, record: dict[str, object]) -> None:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        await billing.export(_by_email(next(_persons).customer), FullDisk())


async def test_no_personal_data_in_logs(
    billing: BillingConnector, caplog: pytest.LogCaptureFixture
) -> None:
    seeded = next(_persons)
    subject = _by_email(seeded.customer)
    with caplog.at_level(logging.DEBUG):
        full = await discover(billing, subject)
        await billing.export(full, RecordingSink())
        await billing.rectify(full, [FieldChange(field="city", value="Visby")])
        await erase_planned(billing, full, TODAY)
    assert caplog.records, "the connector logs what it did"
    leaks = len(leaked_values(caplog.text, personal_values(full)))
    assert leaks == 0, "log lines hold personal data"


def test_locate_lookups_are_index_searches(billing_url: str) -> None:
    examples = {
        IdentifierType.EMAIL: "anna@example.se",
        IdentifierType.CUSTOMER_NUMBER: "K100001",
        IdentifierType.PERSONAL_IDENTITY_NUMBER: "199001011234",
        IdentifierType.ORGANISATION_NUMBER: "556677-8899",
        IdentifierType.PHONE: "+46701234567",
    }
    with sqlite3.connect(_db_path(billing_url)) as conn:
        for kind, value in examples.items():
            compiled = _lookup(kind, value).compile(dialect=sqlite_dialect.dialect())
            params = [compiled.params[name] for name in compiled.positiontup or []]
            plan = " ".join(
                row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {compiled}", params)
            )
            assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, (kind, plan)
            assert "SCAN customers" not in plan, (kind, plan)


# --- configuration and failures -----------------------------------------------------------


async def test_missing_schema_is_a_configuration_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    connector = BillingConnector(f"sqlite+aiosqlite:///{empty}")
    try:
        with pytest.raises(ConfigurationError) as error:
            await connector.locate(_ref((IdentifierType.EMAIL, "anna@example.se")))
        assert "anna@example.se" not in str(error.value)
        assert error.value.__cause__ is None
        assert error.value.__suppress_context__
    finally:
        await connector.aclose()


@pytest.mark.parametrize(
    "url", ["not a url", "mysql://user:pw@db/billing", "mssql+pyodbc://user:pw@db/billing"]
)
def test_bad_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        BillingConnector(url)
    assert "pw" not in str(error.value)


def test_from_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DSR_BILLING_DATABASE_URL", raising=False)
    with pytest.raises(ConfigurationError, match="DSR_BILLING_DATABASE_URL"):
        BillingConnector.from_settings()
    monkeypatch.setenv("DSR_BILLING_DATABASE_URL", f"sqlite:///{tmp_path}/billing.db")
    monkeypatch.setenv("DSR_BILLING_STATEMENT_TIMEOUT", "-1")
    with pytest.raises(ConfigurationError) as error:
        BillingConnector.from_settings()
    assert "statement_timeout" in str(error.value)
    assert "-1" not in str(error.value)
    monkeypatch.setenv("DSR_BILLING_STATEMENT_TIMEOUT", "5")
    connector = BillingConnector.from_settings()
    assert "aiosqlite" in str(connector._engine.url)  # a sync URL gets the asyncio driver


class _Orig(Exception):
    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "expected", "retryable"),
    [
        ("57014", SystemUnavailable, True),  # statement timeout
        ("57P01", SystemUnavailable, True),  # admin shutdown
        ("53300", SystemUnavailable, True),  # too many connections
        ("40001", SystemUnavailable, True),  # serialization failure
        ("08006", SystemUnavailable, True),  # connection failure
        ("28P01", AuthenticationError, False),  # wrong password
        ("28000", AuthenticationError, False),  # unknown role
        ("3D000", ConfigurationError, False),  # no such database
        ("42P01", ConfigurationError, False),  # no such table
        ("42501", ConfigurationError, False),  # insufficient privilege
        ("23505", PermanentError, False),  # unique violation
    ],
)
def test_sqlstates_map_to_typed_errors(sqlstate: str, expected: type, retryable: bool) -> None:
    secret = "anna.lind@example.se"
    orig = _Orig(f"Key (email)=({secret}) already exists", sqlstate)
    wrapped = sa_exc.DBAPIError("UPDATE customers SET email = $1", (secret,), orig)
    error = classify(wrapped, "erase")
    assert error is not None
    assert type(error) is expected
    assert error.retryable is retryable
    assert secret not in str(error)
    assert sqlstate in str(error)


def test_timeouts_and_refused_connections_are_outages() -> None:
    for exc in (TimeoutError(), ConnectionRefusedError(111, "refused 10.0.0.1:5432")):
        error = classify(exc, "locate")
        assert isinstance(error, SystemUnavailable)
        assert "10.0.0.1" not in str(error)
    assert classify(ValueError("a bug"), "locate") is None  # bugs are not disguised as outages


async def test_seeded_engine_has_the_connector_tables(billing_url: str) -> None:
    # The connector declares its own view of the schema; it must agree with the sandbox's.
    from connectors.billing import _tables

    engine = create_async_engine(billing_url)
    try:
        async with engine.connect() as conn:
            for table in (_tables.customers, _tables.invoices, _tables.invoice_lines):
                await conn.execute(select(*table.c).limit(1))
            for sandbox_table in (customers_table, invoices_table, invoice_lines_table):
                connector_table = getattr(_tables, sandbox_table.name)
                assert set(connector_table.c.keys()) <= set(sandbox_table.c.keys())
    finally:
        await engine.dispose()
