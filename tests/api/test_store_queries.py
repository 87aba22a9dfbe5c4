"""The desk's list queries on both stores (SQLite and PostgreSQL, via tests/store's fixtures):
the same filters, order and pages (the outcome table behind `system_outcome`: tests/store/
test_store_outcomes.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.dpo import Desk, RequestQuery, SortField
from orchestrator.store import Store
from orchestrator.store._queries import InvalidCursor
from schemas.records import RequestSummary
from schemas.status import RequestStatus, SystemOutcome, SystemStatus
from tests.store.conftest import (  # noqa: F401 - fixtures register by import
    database_url,
    make_summary,
    postgres,
    store,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


async def _fill(store: Store, make: Callable[..., RequestSummary], n: int = 25) -> None:  # noqa: F811
    for i in range(n):
        outcome = SystemOutcome.FAILED if i % 5 == 0 else SystemOutcome.DONE
        await store.upsert_request(
            make(
                f"q-{i:03d}",
                status=RequestStatus.COMPLETED if i % 2 else RequestStatus.IN_PROGRESS,
                received_at=T0 + timedelta(hours=i),
                due_at=T0 + timedelta(days=30, hours=-i),  # later received, earlier due
                updated_at=T0 + timedelta(hours=i, minutes=1),
                completed_at=T0 + timedelta(hours=i + 3) if i % 2 else None,
                systems=[SystemStatus(system="billing", outcome=outcome)],
            )
        )


async def test_filters_order_and_pages_agree_on_both_stores(
    store: Store,  # noqa: F811
    make_summary: Callable[..., RequestSummary],  # noqa: F811
) -> None:
    await _fill(store, make_summary)
    desk = Desk(store)
    for sort in SortField:
        for descending in (True, False):
            seen: list[str] = []
            query = RequestQuery(sort=sort, descending=descending, limit=4)
            while True:
                page = await desk.list_requests(query)
                seen += [item.summary.request_id for item in page.items]
                if page.next_cursor is None:
                    break
                query = query.model_copy(update={"cursor": page.next_cursor})
            assert len(seen) == len(set(seen)) == 25, (sort, descending)
            everything = await desk.list_requests(
                RequestQuery(sort=sort, descending=descending, limit=100)
            )
            assert seen == [i.summary.request_id for i in everything.items], (sort, descending)
    by_due = await desk.list_requests(RequestQuery(sort=SortField.DUE_AT, descending=False))
    assert by_due.items[0].summary.request_id == "q-024"

    failed = await desk.list_requests(RequestQuery(system_outcome="billing:failed"))
    assert sorted(i.summary.request_id for i in failed.items) == [
        f"q-{i:03d}" for i in range(0, 25, 5)
    ]
    open_overdue = await desk.list_requests(RequestQuery(overdue=True, now=T0 + timedelta(days=30)))
    # In progress (even i) and due before T0+30d (every i > 0).
    assert sorted(i.summary.request_id for i in open_overdue.items) == [
        f"q-{i:03d}" for i in range(2, 25, 2)
    ]
    assert (await desk.list_requests(RequestQuery(request_id_prefix="q-01"))).total == 10
    with pytest.raises(InvalidCursor):
        await store.query_requests(RequestQuery(cursor="bm9wZQ"))
