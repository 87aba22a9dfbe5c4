"""The crypto-shredding sweep on the time-skipping server: an erasure's data key is destroyed only
after its last deferred erasure has run and the policy's readable-after-close period has passed
— whichever comes last — and every kind of closed request is swept, never an open one.

Real parts: the ShredSweep and DeferredErasure workflows in the production sandbox, the real
sweep activities (orchestrator.shredder) over a real SQLite store and key ring; only the
connector's erase and the orchestrator's follow-up bookkeeping are mocked, under their names.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from orchestrator.datakeys import DataKeyDestroyed, DataKeyRing
from orchestrator.shredder import Shredder
from orchestrator.store import Store
from orchestrator.store._keys import KeyStore
from orchestrator.worker import WORKFLOW_RUNNER
from policy.loader import load_policy
from schemas.connectors import ConnectorInfo, Operation
from schemas.events import Channel, RequestKind
from schemas.identifiers import IdentifierType
from schemas.package import PackageRef
from schemas.plan import PlanAction, PlannedAction, RetainedGroup
from schemas.records import AuditAction, RequestSummary
from schemas.results import EraseResult
from schemas.status import RequestStatus, RetentionReason
from schemas.workflow import ConnectorCall, FollowUpAppend
from workflows.follow_up import (
    DeferredErasureInput,
    DeferredErasureWorkflow,
    follow_up_workflow_id,
)
from workflows.shredder import ShredSweepInput, ShredSweepReport, ShredSweepWorkflow

TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"
MASTER = {"m1": bytes(range(32))}
POLICY = load_policy(None)
READABLE = POLICY.readable_after_close("erasure")
ORPHAN_AFTER = timedelta(days=31)  # the DLQ's retention and a day


@pytest.fixture(scope="module")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER), data_converter=pydantic_data_converter
    )
    try:
        yield env
    finally:
        await env.shutdown()


def _group(until: date) -> RetainedGroup:
    """One retained billing record, erasable the day after `until`."""
    return RetainedGroup(
        until=until,
        actions=(
            PlannedAction(
                system="billing",
                category="invoices",
                action=PlanAction.RETAIN,
                count=1,
                reason=RetentionReason.BOOKKEEPING,
                until=until,
                refs=("customer:7/fy:2025-12-31",),
            ),
        ),
    )


@dataclass
class Sweep:
    env: WorkflowEnvironment
    client: Client
    queue: str
    store: Store
    key_store: KeyStore
    keys: DataKeyRing
    erased: list[tuple[datetime, str]] = field(default_factory=list)

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def closed_request(
        self,
        kind: RequestKind,
        status: RequestStatus = RequestStatus.COMPLETED,
        *,
        closed_at: datetime | None = None,
    ) -> str:
        """A request in the store, closed at `closed_at` (default: now), with a data key."""
        request_id = f"req-{uuid.uuid4().hex[:12]}"
        at = closed_at or await self.now()
        await self.store.upsert_request(
            RequestSummary(
                request_id=request_id,
                kind=kind,
                channel=Channel.PORTAL,
                status=status,
                received_at=at - timedelta(days=3),
                due_at=at + timedelta(days=27),
                updated_at=at,
                completed_at=at if status is RequestStatus.COMPLETED else None,
            )
        )
        await self.keys.keys_for(request_id, create=True)
        return request_id

    async def deferred_erasure(self, request_id: str, *until: date) -> Any:
        """The request's deferred-erasure chain: one date after the other (continue-as-new)."""
        return await self.client.start_workflow(
            DeferredErasureWorkflow.run,
            DeferredErasureInput(request_id=request_id, groups=tuple(_group(u) for u in until)),
            id=follow_up_workflow_id(request_id),
            task_queue=self.queue,
        )

    async def run(self) -> ShredSweepReport:
        """One sweep at the server's current time: no skipping while it runs (waiting for its
        result would otherwise let the server jump to the next timer, a deferred erasure's)."""
        with self.env.auto_time_skipping_disabled():
            return await self.client.execute_workflow(
                ShredSweepWorkflow.run,
                ShredSweepInput(),
                id=f"shred-sweep/test-{uuid.uuid4().hex[:8]}",
                task_queue=self.queue,
            )

    async def finished(self, chain: Any) -> None:
        """Wait for a deferred erasure whose day the clock has passed (no skipping: waiting
        for a result lets the server jump ahead to any timer, however far)."""
        with self.env.auto_time_skipping_disabled():
            await chain.result()

    async def erasures_ran(self, count: int, timeout: float = 20) -> None:
        """Wait (real time, no skipping) until the mocked connector has erased `count` times."""
        deadline = datetime.now(UTC) + timedelta(seconds=timeout)
        while len(self.erased) < count:
            assert datetime.now(UTC) < deadline, f"{len(self.erased)} of {count} erasures ran"
            await asyncio.sleep(0.05)

    async def destroyed(self, request_id: str) -> bool:
        stored = await self.key_store.get_data_key(request_id)
        assert stored is not None
        return stored.destroyed

    def activities(self, shredder: Shredder) -> list[Callable[..., Awaitable[Any]]]:
        @activity.defn(name="orchestrator.list_connectors")
        async def list_connectors(only: list[str]) -> list[ConnectorInfo]:
            return [
                ConnectorInfo(
                    name="billing",
                    task_queue=self.queue,
                    search_identifiers=[IdentifierType.EMAIL],
                    operations=[Operation.ERASE],
                )
            ]

        @activity.defn(name="connector.erase")
        async def erase(call: ConnectorCall) -> EraseResult:
            self.erased.append((activity.info().started_time, call.request_id))
            return EraseResult(system="billing", deleted={"invoices": 1})

        @activity.defn(name="orchestrator.append_follow_up")
        async def append_follow_up(append: FollowUpAppend) -> None:
            return None

        return [
            list_connectors,
            erase,
            append_follow_up,
            shredder.find_shreddable,
            shredder.shred_request,
        ]


@pytest.fixture
async def sweep(ts_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Sweep]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    client = Client(**{**ts_env.client.config(), "data_converter": pydantic_data_converter})
    queue = f"shred-ts-{uuid.uuid4().hex[:8]}"
    async with await Store.open(url) as store, await KeyStore.open(url) as key_store:
        keys = DataKeyRing(MASTER, store=key_store, cache_ttl=0)
        kit = Sweep(ts_env, client, queue, store, key_store, keys)
        shredder = Shredder(client, store, keys, key_store, POLICY, orphan_after=ORPHAN_AFTER)
        async with Worker(
            client,
            task_queue=queue,
            workflows=[ShredSweepWorkflow, DeferredErasureWorkflow],
            activities=kit.activities(shredder),
            workflow_runner=WORKFLOW_RUNNER,
        ):
            yield kit


async def test_an_erasure_is_shredded_only_after_its_last_deferred_erasure(sweep: Sweep) -> None:
    """Deferred erasures 100 and 200 days out, readable 30 days: the key waits for the last."""
    today = (await sweep.now()).date()
    request_id = await sweep.closed_request(RequestKind.ERASURE)
    chain = await sweep.deferred_erasure(
        request_id, today + timedelta(days=100), today + timedelta(days=200)
    )

    first = await sweep.run()
    assert request_id not in first.destroyed
    assert first.waiting.get("readable_after_close") == 1
    stored = await sweep.key_store.get_data_key(request_id)
    assert stored is not None and stored.retain_until is not None  # set from the policy
    assert stored.retain_until - (await sweep.now()) <= READABLE

    await sweep.env.sleep(READABLE + timedelta(days=1))  # readable period over: erasure pending
    second = await sweep.run()
    assert request_id not in second.destroyed
    assert second.waiting.get("deferred_erasure") == 1
    assert not await sweep.destroyed(request_id)
    assert sweep.erased == []

    await sweep.env.sleep(timedelta(days=70))  # past the first date: the chain goes on
    await sweep.erasures_ran(1)
    between = await sweep.run()
    assert request_id not in between.destroyed
    assert between.waiting.get("deferred_erasure") == 1

    await sweep.env.sleep(timedelta(days=100))  # past the last date
    await sweep.finished(chain)
    assert [rid for _, rid in sweep.erased] == [request_id, request_id]
    erased_at = sweep.erased[-1][0]
    third = await sweep.run()
    assert third.destroyed == [request_id]
    assert await sweep.destroyed(request_id)
    stored = await sweep.key_store.get_data_key(request_id)
    assert stored is not None and stored.destroyed_at is not None
    with pytest.raises(DataKeyDestroyed):
        await sweep.keys.keys_for(request_id)
    assert (await sweep.now()) >= erased_at
    trail = await sweep.store.audit_trail(request_id)
    destroyed = [e for e in trail if e.action is AuditAction.DATA_KEY_DESTROYED]
    assert len(destroyed) == 1 and destroyed[0].actor == "shredder"

    fourth = await sweep.run()  # idempotent: nothing left to do for it
    assert request_id not in fourth.destroyed


async def test_an_early_deferred_erasure_still_waits_for_the_readable_period(sweep: Sweep) -> None:
    """Deferred erasure in 2 days, readable 30 days: the key waits for the period."""
    today = (await sweep.now()).date()
    request_id = await sweep.closed_request(RequestKind.ERASURE)
    chain = await sweep.deferred_erasure(request_id, today + timedelta(days=2))
    await sweep.env.sleep(timedelta(days=3))
    await sweep.finished(chain)
    assert [rid for _, rid in sweep.erased] == [request_id]

    early = await sweep.run()
    assert request_id not in early.destroyed
    assert early.waiting.get("readable_after_close") == 1

    await sweep.env.sleep(READABLE - timedelta(days=3))
    later = await sweep.run()
    assert later.destroyed == [request_id]


async def test_every_kind_of_closed_request_is_swept_and_no_open_one(sweep: Sweep) -> None:
    now = await sweep.now()
    long_ago = now - READABLE - timedelta(days=1)
    swept = [
        await sweep.closed_request(kind, closed_at=long_ago)
        for kind in (
            RequestKind.RECTIFICATION,
            RequestKind.RESTRICTION,
            RequestKind.OBJECTION,
            RequestKind.CONSENT_WITHDRAWAL,
            RequestKind.ERASURE,
        )
    ]
    swept.append(
        await sweep.closed_request(RequestKind.ACCESS, RequestStatus.DENIED, closed_at=long_ago)
    )
    swept.append(
        await sweep.closed_request(
            RequestKind.RECTIFICATION, RequestStatus.CANCELLED, closed_at=long_ago
        )
    )
    still_open = await sweep.closed_request(
        RequestKind.ERASURE, RequestStatus.NEEDS_ATTENTION, closed_at=long_ago
    )
    # An access request whose package has not expired yet keeps its key for the package.
    with_package = await sweep.closed_request(RequestKind.ACCESS, closed_at=long_ago)
    await sweep.key_store.save_package(
        PackageRef(
            request_id=with_package,
            location=f"local:{with_package}",
            created_at=long_ago,
            expires_at=now + timedelta(days=5),
            size_bytes=1,
            sha256="0" * 64,
            files=1,
        )
    )

    report = await sweep.run()
    assert sorted(report.destroyed) == sorted(swept)
    assert report.waiting.get("package") == 1
    assert not await sweep.destroyed(still_open)
    assert not await sweep.destroyed(with_package)

    await sweep.env.sleep(timedelta(days=6))
    assert (await sweep.run()).destroyed == [with_package]


async def test_orphan_keys_of_dead_letters_go_after_the_dlq_retention(sweep: Sweep) -> None:
    """A key made for a dead letter naming a request that never came is deleted (not merely
    destroyed: a request with that id may still come) once the DLQ has let go of the copy;
    one whose request has a workflow but no stored row yet is left alone."""
    now = await sweep.now()
    orphan, starting = f"req-{uuid.uuid4().hex[:12]}", f"req-{uuid.uuid4().hex[:12]}"
    for request_id in (orphan, starting):
        wrapped = sweep.keys._wrap(request_id, os.urandom(32))  # as the DLQ sealer makes it
        await sweep.key_store.add_data_key(request_id, "m1", wrapped, now)
    far = (now + timedelta(days=3650)).date()
    await sweep.client.start_workflow(  # any workflow under the request's id will do
        DeferredErasureWorkflow.run,
        DeferredErasureInput(request_id=starting, groups=(_group(far),)),
        id=f"dsr-{starting}",
        task_queue=sweep.queue,
    )

    assert (await sweep.run()).orphans_deleted == 0  # the DLQ copy is still readable
    await sweep.env.sleep(ORPHAN_AFTER + timedelta(days=1))
    report = await sweep.run()
    assert report.orphans_deleted == 1
    assert await sweep.key_store.get_data_key(orphan) is None
    assert await sweep.key_store.get_data_key(starting) is not None
    # The request may still come: it simply gets a key of its own.
    assert (await sweep.keys.keys_for(orphan, create=True)).request_id == orphan
