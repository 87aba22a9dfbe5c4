"""Group commit of audit appends: concurrent appends of one store are written together, in one
transaction, and still form one chain; one bad append in a group fails only its own caller."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa

from orchestrator.store import Store
from schemas.records import AuditEvent, RequestSummary

Make = Callable[..., AuditEvent]
MakeSummary = Callable[..., RequestSummary]


def count_commits(store: Store) -> list[int]:
    commits = [0]

    def on_commit(_conn: object) -> None:
        commits[0] += 1

    sa.event.listen(store._engine.sync_engine, "commit", on_commit)
    return commits


async def test_a_burst_of_appends_is_a_few_commits_and_one_chain(
    store: Store, make_event: Make, make_summary: MakeSummary
) -> None:
    commits = count_commits(store)
    events = [make_event(f"req-{i % 5}") for i in range(40)]
    statuses = [make_summary(f"req-{i}") for i in range(5)]
    results = await asyncio.gather(
        *(store.append_audit(e) for e in events),
        *(store.record_status(s, make_event(s.request_id)) for s in statuses),
    )
    assert len({r.sequence for r in results}) == 45
    assert await store.verify_audit_chain() == 45
    assert commits[0] < 10, f"{commits[0]} commits for 45 concurrent appends"
    for summary in statuses:
        stored = await store.get_request(summary.request_id)
        assert stored is not None and stored.status is summary.status


async def test_one_bad_append_fails_alone(
    store: Store, make_event: Make, make_summary: MakeSummary
) -> None:
    # A naive datetime in the summary is refused inside the transaction, after grouping.
    bad = make_summary("req-bad").model_copy(update={"updated_at": datetime(2025, 3, 1, 10)})
    results = await asyncio.gather(
        *(store.append_audit(make_event(f"req-{i}")) for i in range(10)),
        store.record_status(bad, make_event("req-bad")),
        return_exceptions=True,
    )
    assert isinstance(results[-1], ValueError)
    assert all(isinstance(r, AuditEvent) for r in results[:-1])
    assert await store.verify_audit_chain() == 10
    assert await store.get_request("req-bad") is None


async def test_the_same_dedupe_key_twice_in_one_group_is_one_entry(
    store: Store, make_event: Make
) -> None:
    event = make_event()
    results = await asyncio.gather(*(store.append_audit(event) for _ in range(5)))
    assert len({r.sequence for r in results}) == 1
    assert await store.verify_audit_chain() == 1
