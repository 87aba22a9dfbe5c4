"""Completion records are written once: a retried save returns what was stored first; deferred
erasures add one entry per date, a later attempt replacing that date's entry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

from orchestrator.store import Store
from schemas.records import CompletionRecord, FollowUpEntry
from schemas.status import RequestStatus

Make = Callable[..., CompletionRecord]


async def test_save_and_get(store: Store, make_record: Make) -> None:
    record = make_record()
    assert await store.save_completion_record(record) == record
    assert await store.get_completion_record(record.request_id) == record
    assert await store.get_completion_record("nope") is None


async def test_second_save_is_a_no_op_returning_the_first(store: Store, make_record: Make) -> None:
    first = make_record()
    await store.save_completion_record(first)
    different = make_record(status=RequestStatus.DENIED, reason="changed", workflow_run_id="run-2")
    assert await store.save_completion_record(different) == first
    assert await store.get_completion_record(first.request_id) == first


async def test_concurrent_saves_store_exactly_one(store: Store, make_record: Make) -> None:
    versions = [make_record("req-race", workflow_run_id=f"run-{i}") for i in range(8)]
    results = await asyncio.gather(*(store.save_completion_record(v) for v in versions))
    assert len({r.workflow_run_id for r in results}) == 1
    assert await store.get_completion_record("req-race") == results[0]


async def test_datetimes_come_back_aware_utc(store: Store, make_record: Make) -> None:
    plus_two = timezone(timedelta(hours=2))
    record = make_record(completed_at=make_record().completed_at.astimezone(plus_two))
    saved = await store.save_completion_record(record)
    loaded = await store.get_completion_record(record.request_id)
    assert loaded == saved
    for name in ("received_at", "due_at", "completed_at"):
        assert getattr(loaded, name).tzinfo is UTC
        assert getattr(loaded, name) == getattr(record, name)


# ── deferred erasures: one entry per date, ending as the date's last attempt left it ──────────
def _follow_up(attempt: int, outcome: str, erased: dict[str, dict[str, int]]) -> FollowUpEntry:
    ran_at = datetime(2033, 1, 1, tzinfo=UTC) + timedelta(hours=attempt)
    return FollowUpEntry(
        due_on=date(2033, 1, 1),
        ran_at=ran_at,
        erased=erased,
        outcome=outcome,
        note="billing: AuthenticationError" if outcome == "failed" else "erased",
        attempt=attempt,
        retry_at=ran_at + timedelta(hours=1) if outcome == "failed" else None,
    )


async def test_a_later_attempt_replaces_its_dates_entry_and_keeps_earlier_counts(
    store: Store, make_record: Make
) -> None:
    record = await store.save_completion_record(make_record())
    other_day = _follow_up(1, "done", {"hosting": {"backups": 2}}).model_copy(
        update={"due_on": date(2030, 1, 1)}
    )
    await store.append_follow_up(record.request_id, other_day)
    failed = _follow_up(1, "failed", {"newsletter": {"subscriber": 1}})
    await store.append_follow_up(record.request_id, failed)
    # The same attempt again (a retried activity), and an older one: nothing changes.
    assert await store.append_follow_up(
        record.request_id, failed
    ) == await store.get_completion_record(record.request_id)
    done = _follow_up(2, "done", {"billing": {"invoices": 1}})
    stored = await store.append_follow_up(record.request_id, done)
    assert stored is not None
    assert [e.due_on for e in stored.follow_ups] == [date(2030, 1, 1), date(2033, 1, 1)]
    entry = stored.follow_ups[1]
    assert (entry.outcome, entry.attempt, entry.retry_at) == ("done", 2, None)
    assert entry.erased == {"newsletter": {"subscriber": 1}, "billing": {"invoices": 1}}
    assert stored.follow_ups[0] == other_day, "other dates' entries are kept"
    # A late re-send of the superseded failed attempt does not bring it back.
    again = await store.append_follow_up(record.request_id, failed)
    assert again == stored == await store.get_completion_record(record.request_id)


async def test_a_follow_up_for_no_record_is_none(store: Store) -> None:
    assert await store.append_follow_up("req-none", _follow_up(1, "done", {})) is None
