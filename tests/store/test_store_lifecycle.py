"""Migration 0002: the lifecycle columns round-trip, and subject fingerprints find a repeated
request of the same person without any identifier stored in clear."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from orchestrator.store import Store
from orchestrator.store._tables import subject_fingerprints as fingerprint_table
from policy.fingerprints import identity_fingerprints, subject_fingerprints
from schemas.events import RequestKind
from schemas.identifiers import IdentifierType
from schemas.records import RequestSummary
from schemas.status import (
    DecisionEntry,
    DecisionKind,
    Extension,
    ReminderEntry,
    RequestStatus,
)
from schemas.subject import Identifier, SubjectRef

Make = Callable[..., RequestSummary]
KEY = b"test-subject-hash-key"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _ref(**values: str) -> SubjectRef:
    return SubjectRef(
        identifiers=tuple(Identifier(type=IdentifierType(k), value=v) for k, v in values.items())
    )


async def test_lifecycle_fields_round_trip(store: Store, make_summary: Make) -> None:
    summary = make_summary(
        due_date=date(2026, 6, 1),
        extension=Extension(
            months=2,
            reason="complex request",
            extended_at=T0,
            original_due_date=date(2026, 4, 2),
            due_date=date(2026, 6, 2),
            due_at=T0 + timedelta(days=92),
        ),
        reminders=[ReminderEntry(key="7_days_left", at=T0, due_date=date(2026, 6, 2))],
        decisions=[
            DecisionEntry(decision=DecisionKind.EXTEND, actor="dpo", at=T0, reason="complex")
        ],
    )
    await store.upsert_request(summary)
    assert await store.get_request(summary.request_id) == summary
    plain = make_summary("req-plain")
    await store.upsert_request(plain)
    loaded = await store.get_request("req-plain")
    assert loaded is not None and loaded.extension is None and loaded.decisions == []


def test_fingerprints_normalise_and_depend_on_the_key() -> None:
    one = subject_fingerprints(
        _ref(email=" Anna@Example.SE", personal_identity_number="19811218-9876"), KEY
    )
    two = subject_fingerprints(
        _ref(email="anna@example.se", personal_identity_number="198112189876"), KEY
    )
    assert one == two and len(one) == 2
    assert subject_fingerprints(_ref(email="anna@example.se"), b"another key")[0] not in one
    assert subject_fingerprints(_ref(domain="example.se"), KEY) == []  # weak: not fingerprinted
    assert all("anna" not in f for f in one)


async def test_earlier_request_of_the_same_subject_is_found(
    store: Store, make_summary: Make
) -> None:
    first = subject_fingerprints(_ref(email="anna@example.se", customer_number="C-1"), KEY)
    again = subject_fingerprints(_ref(customer_number="C-1"), KEY)
    other = subject_fingerprints(_ref(email="bo@example.se"), KEY)
    await store.remember_subject("req-first", RequestKind.ACCESS, T0, first)
    await store.remember_subject("req-first", RequestKind.ACCESS, T0, first)  # idempotent
    await store.remember_subject("req-other", RequestKind.ACCESS, T0, other)
    await store.remember_subject("req-erase", RequestKind.ERASURE, T0, again)

    def find(fps: list[str], since: datetime) -> Awaitable[list[str]]:
        return store.earlier_requests_of_subject(
            fps,
            kinds=[RequestKind.ACCESS, RequestKind.PORTABILITY],
            since=since,
            before=T0 + timedelta(days=200),
            exclude_request_id="req-second",
        )

    assert await find(again, T0 - timedelta(days=1)) == ["req-first"]
    assert await find(again, T0 + timedelta(seconds=1)) == []  # outside the window
    # a denied first request gave no copy: the second one is not a repeat
    await store.upsert_request(make_summary("req-first", status=RequestStatus.DENIED))
    assert await find(again, T0 - timedelta(days=1)) == []

    async with store.engine.connect() as conn:
        stored = (await conn.execute(sa.select(fingerprint_table))).mappings().all()
    assert len(stored) == 4
    assert all("example" not in str(dict(row)) for row in stored)


async def test_a_household_sharing_an_address_is_two_subjects_when_each_names_a_pnr(
    store: Store,
) -> None:
    """Nour and Noah share obergs@…: Noah's access request does not make Nour's first one a
    repeat when each named their own personnummer; hers again (by the address alone, or with
    her number) is one; a request from before identity numbers were marked is kept as before."""
    noah = _ref(email="obergs@example.se", personal_identity_number="196405289262")
    nour = _ref(email="obergs@example.se", personal_identity_number="198112189876")
    for request_id, subject in (("req-noah", noah), ("req-nour-1", nour)):
        await store.remember_subject(
            request_id,
            RequestKind.ACCESS,
            T0,
            subject_fingerprints(subject, KEY),
            identity_fingerprints(subject, KEY),
        )
    legacy = _ref(email="obergs@example.se")
    await store.remember_subject(
        "req-before-0007", RequestKind.ACCESS, T0, subject_fingerprints(legacy, KEY)
    )

    def find(subject: SubjectRef) -> Awaitable[list[str]]:
        return store.earlier_requests_of_subject(
            subject_fingerprints(subject, KEY),
            kinds=[RequestKind.ACCESS],
            since=T0 - timedelta(days=1),
            before=T0 + timedelta(days=1),
            exclude_request_id="req-nour-2",
            identity=identity_fingerprints(subject, KEY),
        )

    assert await find(nour) == ["req-before-0007", "req-nour-1"]  # not Noah's
    assert await find(_ref(email="obergs@example.se")) == [
        "req-before-0007",
        "req-noah",
        "req-nour-1",
    ]  # the address alone cannot tell them apart
    # An organisation number names no person: Nour asking as her company's contact is Nour.
    as_contact = _ref(email="obergs@example.se", organisation_number="556036-0793")
    assert identity_fingerprints(as_contact, KEY) == []
    assert "req-nour-1" in await find(as_contact)


async def test_other_requests_of_the_same_subject_are_found_whenever_received(
    store: Store, make_summary: Make
) -> None:
    """The lift's check for other restrictions in force: any time, the kinds asked for, never
    the request itself, nor a denied or cancelled one."""
    mine = subject_fingerprints(_ref(email="anna@example.se", customer_number="C-1"), KEY)
    await store.remember_subject("req-a", RequestKind.RESTRICTION, T0, mine)
    later = T0 + timedelta(days=400)
    same = subject_fingerprints(_ref(customer_number="C-1"), KEY)
    bo = subject_fingerprints(_ref(email="bo@example.se"), KEY)
    await store.remember_subject("req-b", RequestKind.RESTRICTION, later, same)
    await store.remember_subject("req-access", RequestKind.ACCESS, T0, mine)
    await store.remember_subject("req-bo", RequestKind.RESTRICTION, T0, bo)

    def find() -> Awaitable[list[str]]:
        return store.requests_of_subject(
            mine, kinds=[RequestKind.RESTRICTION], exclude_request_id="req-a"
        )

    assert await find() == ["req-b"]
    await store.upsert_request(make_summary("req-b", status=RequestStatus.CANCELLED))
    assert await find() == []
    assert (
        await store.requests_of_subject(
            [], kinds=[RequestKind.RESTRICTION], exclude_request_id="req-a"
        )
        == []
    )
