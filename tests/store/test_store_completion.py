"""Completion records are written once: a retried save returns what was stored first."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, timedelta, timezone

from orchestrator.store import Store
from schemas.records import CompletionRecord
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
