"""The audit trail: append-only in the database, idempotent per dedupe key, one hash chain that
verifies, detects tampering, and stays single under concurrent appends from several stores."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from orchestrator.store import GENESIS_HASH, AuditChainBroken, Store
from schemas.records import AuditAction, AuditEvent

Make = Callable[..., AuditEvent]
Disable = Callable[[Store], Awaitable[None]]


def auditor_hash(event: AuditEvent) -> str:
    """The chain as documented, recomputed with nothing but hashlib and json."""
    assert event.prev_hash is not None
    entry = {
        "request_id": event.request_id,
        "action": str(event.action),
        "actor": event.actor,
        "at": event.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "details": event.details,
        "dedupe_key": event.dedupe_key,
    }
    canonical = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(event.prev_hash.encode() + canonical.encode()).hexdigest()


def assert_single_chain(events: list[AuditEvent]) -> None:
    ordered = sorted(events, key=lambda e: e.sequence or 0)
    prev = GENESIS_HASH
    for event in ordered:
        assert event.prev_hash == prev
        assert event.hash == auditor_hash(event)
        prev = event.hash


async def test_append_sets_sequence_and_links_hashes(store: Store, make_event: Make) -> None:
    first = await store.append_audit(make_event())
    second = await store.append_audit(make_event(action=AuditAction.DECISION, actor="dpo@x.se"))
    assert first.sequence is not None
    assert second.sequence is not None
    assert second.sequence > first.sequence
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert first.hash == auditor_hash(first)
    assert second.hash == auditor_hash(second)
    assert await store.verify_audit_chain() == 2


async def test_append_is_idempotent_on_dedupe_key(store: Store, make_event: Make) -> None:
    stored = await store.append_audit(make_event(dedupe_key="req-0001:accepted"))
    again = await store.append_audit(
        make_event(dedupe_key="req-0001:accepted", actor="someone else", details={"x": 1})
    )
    assert again == stored
    assert await store.audit_trail("req-0001") == [stored]
    assert await store.verify_audit_chain() == 1


async def test_trail_is_per_request_in_sequence_order(store: Store, make_event: Make) -> None:
    appended = [
        await store.append_audit(make_event(request_id))
        for request_id in ["req-a", "req-b", "req-a", "req-a", "req-b"]
    ]
    trail = await store.audit_trail("req-a")
    assert trail == [e for e in appended if e.request_id == "req-a"]
    assert [e.sequence for e in trail] == sorted(e.sequence or 0 for e in trail)
    assert await store.audit_trail("req-none") == []
    assert_single_chain(appended)


async def test_datetimes_and_details_come_back_normalised(store: Store, make_event: Make) -> None:
    at = datetime(2025, 6, 1, 12, 0, 0, 654321, tzinfo=timezone(timedelta(hours=2)))
    details: dict[str, object] = {"when": at, "counts": {"a": 1, "b": [1.5, None, True]}}
    appended = await store.append_audit(make_event(at=at, details=details))
    [loaded] = await store.audit_trail(appended.request_id)
    assert loaded == appended
    assert loaded.at.tzinfo is UTC
    assert loaded.at == at
    assert loaded.details == {
        "when": "2025-06-01T12:00:00.654321+02:00",
        "counts": details["counts"],
    }
    assert await store.verify_audit_chain() == 1


async def test_naive_or_unhashable_entries_are_refused(store: Store, make_event: Make) -> None:
    # A naive time cannot even be expressed: the model refuses it at the boundary.
    with pytest.raises(ValueError, match="timezone"):
        await store.append_audit(make_event(at=datetime(2025, 1, 1, 12, 0)))
    with pytest.raises(ValueError, match="serialize"):
        await store.append_audit(make_event(details={"x": object()}))
    assert await store.verify_audit_chain() == 0
    # Details are normalised the way pydantic writes JSON: NaN becomes null, sets become lists.
    stored = await store.append_audit(make_event(details={"x": math.nan, "s": {3}}))
    assert stored.details == {"x": None, "s": [3]}
    assert await store.verify_audit_chain() == 1


async def test_update_delete_truncate_rejected_by_database(store: Store, make_event: Make) -> None:
    await store.append_audit(make_event())
    statements = [
        "UPDATE audit_events SET actor = 'mallory'",
        "DELETE FROM audit_events WHERE sequence = 1",
        "DELETE FROM audit_events",
    ]
    if store.engine.dialect.name == "postgresql":
        statements.append("TRUNCATE audit_events")  # skips row triggers: has its own
    for statement in statements:
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            async with store.engine.begin() as conn:
                await conn.exec_driver_sql(statement)
    assert await store.verify_audit_chain() == 1


async def _three_entries(store: Store, make_event: Make) -> list[AuditEvent]:
    return [await store.append_audit(make_event()) for _ in range(3)]


async def test_tampered_content_is_detected(
    store: Store, make_event: Make, disable_append_only: Disable
) -> None:
    entries = await _three_entries(store, make_event)
    assert await store.verify_audit_chain() == 3
    await disable_append_only(store)
    async with store.engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE audit_events SET details = :d WHERE sequence = :s"),
            {"d": json.dumps({"n": 999}), "s": entries[1].sequence},
        )
    with pytest.raises(AuditChainBroken) as caught:
        await store.verify_audit_chain()
    assert caught.value.sequence == entries[1].sequence


async def test_rehashed_entry_breaks_the_next_link(
    store: Store, make_event: Make, disable_append_only: Disable
) -> None:
    entries = await _three_entries(store, make_event)
    forged = entries[1].model_copy(update={"actor": "mallory"})
    forged_hash = auditor_hash(forged)
    await disable_append_only(store)
    async with store.engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE audit_events SET actor = 'mallory', hash = :h WHERE sequence = :s"),
            {"h": forged_hash, "s": entries[1].sequence},
        )
    with pytest.raises(AuditChainBroken) as caught:
        await store.verify_audit_chain()
    assert caught.value.sequence == entries[2].sequence


async def test_deleted_entry_is_detected(
    store: Store, make_event: Make, disable_append_only: Disable
) -> None:
    entries = await _three_entries(store, make_event)
    await disable_append_only(store)
    async with store.engine.begin() as conn:
        await conn.execute(
            sa.text("DELETE FROM audit_events WHERE sequence = :s"), {"s": entries[0].sequence}
        )
    with pytest.raises(AuditChainBroken) as caught:
        await store.verify_audit_chain()
    assert caught.value.sequence == entries[1].sequence


async def test_concurrent_appends_from_two_stores_keep_one_chain(
    store: Store, database_url: str, make_event: Make
) -> None:
    async with await Store.open(database_url) as other:
        events = [make_event(f"req-{i % 4}") for i in range(20)]
        # Two of them race with the same dedupe key from different stores.
        events.append(events[0].model_copy())
        stores = [store, other] * 10 + [other]
        results = await asyncio.gather(
            *(s.append_audit(e) for s, e in zip(stores, events, strict=True))
        )
        assert results[0] == results[-1]
        unique = {r.sequence: r for r in results}
        assert len(unique) == 20
        assert_single_chain(list(unique.values()))
        assert await other.verify_audit_chain() == 20
        trail = await store.audit_trail("req-0")
        assert [e.sequence for e in trail] == sorted(
            r.sequence or 0 for r in unique.values() if r.request_id == "req-0"
        )
