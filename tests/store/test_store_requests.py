"""Request summaries: upsert, get, list (status filter, newest first), time zones."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, timedelta, timezone

import pytest

from orchestrator.store import Store
from schemas.records import AuditEvent, RequestSummary
from schemas.status import RequestStatus, SystemOutcome, SystemStatus

Make = Callable[..., RequestSummary]
CET = timezone(timedelta(hours=1))


async def test_upsert_and_get_round_trip(store: Store, make_summary: Make) -> None:
    summary = make_summary()
    await store.upsert_request(summary)
    assert await store.get_request(summary.request_id) == summary
    assert await store.get_request("nope") is None


async def test_datetimes_come_back_aware_utc(store: Store, make_summary: Make) -> None:
    received = make_summary().received_at.astimezone(CET)
    summary = make_summary(
        received_at=received,
        due_at=received + timedelta(days=30),
        updated_at=received + timedelta(hours=1),
        completed_at=received + timedelta(days=1, microseconds=123456),
    )
    await store.upsert_request(summary)
    loaded = await store.get_request(summary.request_id)
    assert loaded is not None
    for name in ("received_at", "due_at", "updated_at", "completed_at"):
        value = getattr(loaded, name)
        assert value.tzinfo is UTC, name
        assert value == getattr(summary, name), name  # the same instant, microseconds kept
    [listed] = await store.list_requests()
    assert listed.received_at.tzinfo is UTC


async def test_upsert_replaces_current_state(store: Store, make_summary: Make) -> None:
    first = make_summary()
    await store.upsert_request(first)
    done = make_summary(
        status=RequestStatus.COMPLETED,
        updated_at=first.updated_at + timedelta(hours=1),
        completed_at=first.updated_at + timedelta(hours=1),
        reason="all systems done",
        systems=[SystemStatus(system="billing", outcome=SystemOutcome.DONE, counts={"x": 1})],
    )
    await store.upsert_request(done)
    assert await store.get_request(first.request_id) == done
    await store.upsert_request(done)  # a retry writes the same state again
    assert await store.get_request(first.request_id) == done


async def test_stale_upsert_does_not_overwrite_newer_state(
    store: Store, make_summary: Make
) -> None:
    newer = make_summary(status=RequestStatus.COMPLETED, updated_at=make_summary().updated_at)
    older = make_summary(
        status=RequestStatus.IN_PROGRESS, updated_at=newer.updated_at - timedelta(seconds=1)
    )
    await store.upsert_request(newer)
    await store.upsert_request(older)
    assert await store.get_request(newer.request_id) == newer


async def test_list_filters_and_orders_newest_first(store: Store, make_summary: Make) -> None:
    base = make_summary().received_at
    statuses = [
        RequestStatus.IN_PROGRESS,
        RequestStatus.COMPLETED,
        RequestStatus.IN_PROGRESS,
        RequestStatus.AWAITING_DECISION,
        RequestStatus.IN_PROGRESS,
    ]
    for i, status in enumerate(statuses):
        # Inserted out of order, so the order must come from received_at.
        received = base + timedelta(hours=(i * 3) % len(statuses))
        await store.upsert_request(
            make_summary(
                f"req-{i:04d}",
                status=status,
                received_at=received,
                due_at=received + timedelta(days=30),
                updated_at=received,
            )
        )

    everything = await store.list_requests()
    assert len(everything) == 5
    newest_first = [s.received_at for s in everything]
    assert newest_first == sorted(newest_first, reverse=True)
    assert len(set(newest_first)) == 5

    in_progress = await store.list_requests(RequestStatus.IN_PROGRESS)
    assert {s.request_id for s in in_progress} == {"req-0000", "req-0002", "req-0004"}
    assert [s.received_at for s in in_progress] == sorted(
        (s.received_at for s in in_progress), reverse=True
    )
    assert await store.list_requests(RequestStatus.DENIED) == []

    newest_two = await store.list_requests(limit=2)
    assert newest_two == everything[:2]
    with pytest.raises(ValueError, match="limit"):
        await store.list_requests(limit=0)


async def test_record_status_stores_state_and_audit_entry_together(
    store: Store, make_summary: Make, make_event: Callable[..., AuditEvent]
) -> None:
    summary = make_summary("req-atomic-1", status=RequestStatus.COMPLETED)
    event = make_event("req-atomic-1", dedupe_key="wf/run/7")
    entry = await store.record_status(summary, event)
    assert entry.sequence is not None and entry.hash is not None
    assert (await store.get_request("req-atomic-1")) == summary
    # A retried activity: same state, same dedupe key — no second audit entry.
    again = await store.record_status(summary, event)
    assert again.sequence == entry.sequence
    assert [e.dedupe_key for e in await store.audit_trail("req-atomic-1")] == ["wf/run/7"]
    assert await store.verify_audit_chain() == 1


async def test_record_status_is_all_or_nothing(
    store: Store, make_summary: Make, make_event: Callable[..., AuditEvent]
) -> None:
    """An audit entry that cannot be stored takes the state change down with it."""
    summary = make_summary("req-atomic-2")
    bad = make_event("req-atomic-2", details={"x": object()})
    with pytest.raises(ValueError, match="serialize"):
        await store.record_status(summary, bad)
    assert await store.get_request("req-atomic-2") is None
