"""The contract kit itself: it must fail connectors that break the contract.

Each test runs one contract test directly against a deliberately broken billing connector.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import insert, select

from connectors.base import SystemUnavailable
from connectors.billing import BillingConnector
from connectors.billing._matching import Match as _Match
from connectors.billing._tables import login_sessions
from connectors.testing import ConnectorContract, KnownSubject, RecordingSink
from sandbox.billing import seed_billing, seeded_customer
from sandbox.people import generate_customers
from schemas.identifiers import IdentifierType
from schemas.plan import SystemPlan
from schemas.results import EraseResult, LocateResult
from schemas.subject import Identifier, SubjectRef

SEED = 11
CUSTOMERS = 120
TODAY = date(2026, 11, 25)


@pytest.fixture(scope="module")
async def kit_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('kit') / 'billing.db'}"
    await seed_billing(url, CUSTOMERS, SEED)
    return url


_plain = (
    seeded_customer(c.index, SEED)
    for c in generate_customers(CUSTOMERS, SEED)
    if c.kind == "person" and c.status == "active" and c.special is None
)


def _known() -> KnownSubject:
    seeded = next(_plain)
    email = Identifier(type=IdentifierType.EMAIL, value=seeded.customer.email)
    return KnownSubject(SubjectRef(identifiers=(email,), name=seeded.customer.name), seeded.counts)


def _shared_email() -> SubjectRef:
    customer = next(c for c in generate_customers(CUSTOMERS, SEED) if c.special == "shared_email")
    email = Identifier(type=IdentifierType.EMAIL, value=customer.email)
    return SubjectRef(identifiers=(email,), name=customer.name)


class _ErasesAmbiguous(BillingConnector):
    def _refuse_if_ambiguous(self, match: _Match, operation: str) -> None:
        return None


class _IgnoresThePlan(BillingConnector):
    """Keeps the invoices the plan says to delete (it grades retention by itself)."""

    async def erase(self, subject: SubjectRef, plan: SystemPlan) -> EraseResult:
        kept = tuple(
            a for a in plan.actions if not (a.category == "invoices" and a.action == "delete")
        )
        return await super().erase(subject, plan.model_copy(update={"actions": kept}))


class _KeepsLogins(BillingConnector):
    """Erases, then puts the subject's login sessions back."""

    async def erase(self, subject: SubjectRef, plan: SystemPlan) -> EraseResult:
        async with self._engine.connect() as conn:
            match = await self._match(conn, subject)
            rows = (
                await conn.execute(
                    select(login_sessions).where(login_sessions.c.customer_id.in_(match.ids))
                )
            ).mappings()
            saved = [dict(row) for row in rows]
        result = await super().erase(subject, plan)
        async with self._engine.begin() as conn:
            await conn.execute(insert(login_sessions), saved)
        return result


class _LeakyOutage(BillingConnector):
    async def locate(self, subject: SubjectRef) -> LocateResult:
        raise SystemUnavailable(f"cannot reach billing for {subject.identifiers[0].value}")


class _CountsWrong(BillingConnector):
    async def locate(self, subject: SubjectRef) -> LocateResult:
        result = await super().locate(subject)
        counts = {**result.counts, "invoices": result.counts.get("invoices", 0) + 1}
        return result.model_copy(update={"counts": counts})


@pytest.fixture
async def make(kit_url: str) -> AsyncIterator[Any]:
    made: list[BillingConnector] = []

    def factory(cls: type[BillingConnector]) -> BillingConnector:
        connector = cls(kit_url)
        made.append(connector)
        return connector

    yield factory
    for connector in made:
        await connector.aclose()


async def test_kit_fails_a_connector_that_erases_an_ambiguous_subject(make: Any) -> None:
    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
        await ConnectorContract().test_ambiguous_subject_is_reported_and_refused(
            make(_ErasesAmbiguous), _shared_email(), TODAY
        )


async def test_kit_fails_a_connector_that_keeps_data_past_retention(make: Any) -> None:
    # Asked to erase in 2040, when every voucher's retention has ended, it keeps the invoices.
    with pytest.raises(AssertionError, match=r"invoices: .* remain, the plan retains 0"):
        await ConnectorContract().test_erase_leaves_only_retained_data(
            make(_IgnoresThePlan), _known(), date(2040, 1, 1)
        )


async def test_kit_fails_a_connector_that_leaves_unretained_data(make: Any) -> None:
    known = _known()
    while not known.expected_counts["login_sessions"]:
        known = _known()
    with pytest.raises(AssertionError, match=r"login_sessions: .* remain, the plan retains 0"):
        await ConnectorContract().test_erase_leaves_only_retained_data(
            make(_KeepsLogins), known, TODAY
        )


async def test_kit_fails_personal_data_in_an_error(make: Any) -> None:
    with pytest.raises(AssertionError, match="personal values") as error:
        await ConnectorContract().test_outage_is_a_retryable_typed_error(
            make(_LeakyOutage), _known(), TODAY
        )
    assert "@" not in str(error.value)  # the kit reports how many leaked, not what


async def test_kit_fails_wrong_counts(make: Any) -> None:
    with pytest.raises(AssertionError, match="count of 'invoices'"):
        await ConnectorContract().test_locate_finds_known_subject(make(_CountsWrong), _known())


async def test_kit_fails_export_that_disagrees_with_locate(make: Any) -> None:
    with pytest.raises(AssertionError, match="every located record"):
        await ConnectorContract().test_export_is_complete(make(_CountsWrong), _known())


async def test_recording_sink() -> None:
    sink = RecordingSink()
    await sink.write("contact", {"name": "Åsa", "n": 1, "nested": [{"a": None}]})
    await sink.write("contact", {"name": "Örjan"})
    assert sink.counts == {"contact": 2}
    assert sink.total == 2
    assert json.dumps(sink.records["contact"])
    with pytest.raises(TypeError, match="'invoices' is not JSON-serialisable") as error:
        await sink.write("invoices", {"issued_on": date(2024, 1, 1)})
    assert "2024" not in str(error.value)
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        await sink.write("payments", {"amount": float("nan")})
    counting = RecordingSink(keep=False)
    await counting.write("contact", {"a": 1})
    assert counting.counts == {"contact": 1}
    assert counting.records == {}
