"""The per-system outcomes behind the desk's outcome filter (migration 0005): kept in step with
the request row by every write, in its transaction; back-filled from stored requests by the
migration, and turned back into 0003's tokens by its downgrade. Both stores."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection

from orchestrator.store import Store, upgrade
from orchestrator.store._engine import create_engine, normalise_url
from orchestrator.store._migrate import alembic_config, head_revision
from orchestrator.store._queries import RequestQuery
from orchestrator.store._tables import request_system_outcomes
from schemas.records import AuditAction, AuditEvent, RequestSummary
from schemas.status import SystemOutcome, SystemStatus


async def _outcomes(store: Store, request_id: str) -> dict[str, str]:
    table = request_system_outcomes
    async with store.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(table.c.system, table.c.outcome).where(table.c.request_id == request_id)
        )
        return {str(system): str(outcome) for system, outcome in rows.all()}


async def _ids(store: Store, outcome: str) -> list[str]:
    page, _ = await store.query_requests(RequestQuery(system_outcome=outcome, limit=100))
    return sorted(s.request_id for s in page)


async def test_outcomes_follow_every_write_and_ignore_stale_ones(
    store: Store, make_summary: Callable[..., RequestSummary]
) -> None:
    summary = make_summary("t-1")  # billing running, newsletter done
    await store.upsert_request(summary)
    assert await _outcomes(store, "t-1") == {"billing": "running", "newsletter": "done"}

    later = summary.model_copy(
        update={
            "updated_at": summary.updated_at + timedelta(minutes=1),
            "systems": [SystemStatus(system="billing", outcome=SystemOutcome.FAILED)],
        }
    )
    event = AuditEvent(
        request_id="t-1",
        action=AuditAction.STATUS_CHANGED,
        actor="workflow",
        at=later.updated_at,
        details={"to": "needs_attention"},
        dedupe_key="t-1:failed",
    )
    await store.record_status(later, event)  # the other write path
    assert await _outcomes(store, "t-1") == {"billing": "failed"}  # newsletter's row is gone
    assert await _ids(store, "billing:failed") == ["t-1"]
    assert await _ids(store, "failed") == ["t-1"]
    assert await _ids(store, "newsletter:done") == []

    # A delayed retry of the older state changes neither the row nor its outcomes.
    await store.upsert_request(summary)
    assert await _outcomes(store, "t-1") == {"billing": "failed"}
    assert await store.get_request("t-1") == later

    # Two requests, one filter on a system, one on any system.
    other = make_summary(
        "t-2", systems=[SystemStatus(system="hosting", outcome=SystemOutcome.FAILED)]
    )
    await store.upsert_request(other)
    assert await _ids(store, "failed") == ["t-1", "t-2"]
    assert await _ids(store, "hosting:failed") == ["t-2"]


async def _migrate_to(url: str, revision: str, *, down: bool = False) -> None:
    engine = create_engine(normalise_url(url))

    def run(conn: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)

    try:
        async with engine.begin() as conn:
            await conn.run_sync(run)
    finally:
        await engine.dispose()


async def test_migration_backfills_and_downgrades(
    empty_database_url: str, make_summary: Callable[..., RequestSummary]
) -> None:
    url = empty_database_url
    await _migrate_to(url, "0004")
    stored = [
        make_summary(
            f"m-{i}",
            systems=[
                SystemStatus(system="billing", outcome=SystemOutcome.RETAINED),
                SystemStatus(
                    system="hosting",
                    outcome=SystemOutcome.FAILED if i % 2 else SystemOutcome.DONE,
                ),
            ],
        )
        for i in range(7)
    ]
    requests_0004 = sa.table(
        "requests",
        *(
            sa.column(name, type_)
            for name, type_ in (
                ("request_id", sa.Text()),
                ("kind", sa.Text()),
                ("channel", sa.Text()),
                ("status", sa.Text()),
                ("received_at", sa.DateTime(timezone=True)),
                ("due_at", sa.DateTime(timezone=True)),
                ("updated_at", sa.DateTime(timezone=True)),
                ("systems", sa.JSON()),
                ("system_outcomes", sa.Text()),
            )
        ),
    )
    engine = create_engine(normalise_url(url))
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.insert(requests_0004),
                [
                    {
                        "request_id": s.request_id,
                        "kind": s.kind.value,
                        "channel": s.channel.value,
                        "status": s.status.value,
                        "received_at": s.received_at,
                        "due_at": s.due_at,
                        "updated_at": s.updated_at,
                        "systems": [x.model_dump(mode="json") for x in s.systems],
                        "system_outcomes": "stale",
                    }
                    for s in stored
                ],
            )
    finally:
        await engine.dispose()

    await upgrade(url)
    async with await Store.open(url) as store:
        assert await _outcomes(store, "m-3") == {"billing": "retained", "hosting": "failed"}
        assert await _ids(store, "hosting:failed") == ["m-1", "m-3", "m-5"]
        assert len(await _ids(store, "billing:retained")) == 7
        assert await store.get_request("m-0") is not None  # the rows survived the column drop

    await _migrate_to(url, "0004", down=True)
    engine = create_engine(normalise_url(url))
    try:
        async with engine.connect() as conn:
            tokens = (
                await conn.execute(
                    sa.select(requests_0004.c.system_outcomes).where(
                        requests_0004.c.request_id == "m-1"
                    )
                )
            ).scalar_one()
            tables = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    assert tokens == " billing:retained hosting:failed "
    assert "request_system_outcomes" not in tables
    await upgrade(url)
    async with await Store.open(url) as store:
        assert len(await _ids(store, "billing:retained")) == 7
    assert head_revision() == "0007"


async def test_both_outcome_plans_give_the_same_pages(
    store: Store, make_summary: Callable[..., RequestSummary]
) -> None:
    """LOOKUP (IN) and SCAN (EXISTS) are two forms of one filter: same rows, order and pages,
    with a request that has two failed systems counted once; and the desk picks by the probe."""
    from orchestrator.dpo import Desk
    from orchestrator.store._queries import (
        OutcomePlan,
        SortField,
        build_outcome_probe,
        build_walk_probe,
    )

    for i in range(12):
        failed = SystemStatus(system="billing", outcome=SystemOutcome.FAILED)
        also = SystemStatus(
            system="hosting", outcome=SystemOutcome.FAILED if i % 3 == 0 else SystemOutcome.DONE
        )
        await store.upsert_request(
            make_summary(
                f"p-{i:02d}",
                received_at=make_summary().received_at + timedelta(hours=i),
                systems=[failed, also] if i % 2 == 0 else [also],
            )
        )
    for outcome in ("failed", "billing:failed", "hosting:done", "support:failed"):
        for sort in (SortField.RECEIVED_AT, SortField.COMPLETED_AT, SortField.REQUEST_ID):
            pages: dict[OutcomePlan, list[list[str]]] = {}
            for plan in OutcomePlan:
                query = RequestQuery(system_outcome=outcome, sort=sort, limit=2, outcome_plan=plan)
                pages[plan] = []
                while True:
                    rows, cursor = await store.query_requests(query)
                    pages[plan].append([r.request_id for r in rows])
                    if cursor is None:
                        break
                    query = query.model_copy(update={"cursor": cursor})
                assert await store.count_requests(query) == sum(map(len, pages[plan]))
            assert pages[OutcomePlan.LOOKUP] == pages[OutcomePlan.SCAN], (outcome, sort)
    everything = sum(map(len, pages[OutcomePlan.LOOKUP]))
    assert everything == 0  # support:failed, the last one asked: nothing
    async with store.engine.connect() as conn:
        probe = build_outcome_probe(RequestQuery(system_outcome="failed"), cap=3)
        assert (await conn.execute(probe)).scalar_one() == 4  # stops after cap + 1
        # The first 4 newest: p-11, p-10, p-09, p-08; billing failed in the even ones.
        walk = build_walk_probe(RequestQuery(system_outcome="billing:failed"), rows=4)
        assert (await conn.execute(walk)).scalar_one() == 2
        oldest_first = RequestQuery(system_outcome="hosting:failed", descending=False)
        walk = build_walk_probe(oldest_first, rows=4)  # p-00 and p-03 of p-00..p-03
        assert (await conn.execute(walk)).scalar_one() == 2
    listed = await Desk(store).list_requests(RequestQuery(system_outcome="billing:failed"))
    assert sorted(i.summary.request_id for i in listed.items) == [
        f"p-{i:02d}" for i in range(0, 12, 2)
    ]
