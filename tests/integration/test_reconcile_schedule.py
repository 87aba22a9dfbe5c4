"""The reconciler's schedule on the session's real Temporal dev server: a changed
DSR_RECONCILE_INTERVAL is applied to the existing schedule (0 pauses it, a later interval
resumes it, an operator's own pause is left alone), and a manual run (`dsr reconcile`) goes
through the schedule, so it never runs beside another run. The activity is a stand-in that
counts its runs; each test has a schedule id and task queue of its own."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

import orchestrator.reconcile as reconcile
from orchestrator.reconcile import ensure_reconcile_schedule, reconcile_now
from orchestrator.schedules import PAUSED_BY_SETTING
from orchestrator.settings import Settings
from orchestrator.temporal_client import connect_temporal
from schemas.reconcile import ReconcileInput, ReconcileReport
from tests.conftest import Infra
from workflows.reconcile import RECONCILE_ACTIVITY, ReconcileWorkflow

pytestmark = pytest.mark.integration


def _settings(infra: Infra, tag: str, **extra: object) -> Settings:
    return Settings(
        temporal_address=infra.temporal_address,
        kafka_bootstrap_servers=infra.kafka,
        signing_keys=infra.signing_keys,
        payload_keys=infra.payload_keys,
        orchestrator_task_queue=f"reconcile-schedule-{tag}",
        requests_topic=f"dsr.requests.v1-schedule-{tag}",
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture
async def schedule_id(
    infra: Infra, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[tuple[str, Client]]:
    """A schedule id of this test's own (the session's worker owns the real one)."""
    schedule = f"dsr-reconcile-requests-test-{secrets.token_hex(4)}"
    monkeypatch.setattr(reconcile, "SCHEDULE_ID", schedule)
    # the codec's store, if it ever needs one: never the working tree's default dsr.db
    store = f"sqlite+aiosqlite:///{tmp_path}/store.db"
    client = await connect_temporal(_settings(infra, "client", database_url=store))
    yield schedule, client
    with contextlib.suppress(RPCError):
        await client.get_schedule_handle(schedule).delete()


async def _interval(client: Client, schedule: str) -> tuple[list[timedelta], bool, str]:
    described = await client.get_schedule_handle(schedule).describe()
    state = described.schedule.state
    return [i.every for i in described.schedule.spec.intervals], state.paused, state.note or ""


async def test_a_changed_interval_is_applied_to_the_existing_schedule(
    infra: Infra, schedule_id: tuple[str, Client]
) -> None:
    schedule, client = schedule_id
    tag = secrets.token_hex(4)

    def every(seconds: float) -> Settings:
        return _settings(infra, tag, reconcile_interval=seconds)

    assert await ensure_reconcile_schedule(client, every(900)) is True
    assert await _interval(client, schedule) == ([timedelta(seconds=900)], False, "")

    assert await ensure_reconcile_schedule(client, every(60)) is False
    assert (await _interval(client, schedule))[:2] == ([timedelta(seconds=60)], False)

    await ensure_reconcile_schedule(client, every(0))  # off: paused, saying why
    assert await _interval(client, schedule) == ([timedelta(seconds=60)], True, PAUSED_BY_SETTING)

    await ensure_reconcile_schedule(client, every(120))  # on again
    assert (await _interval(client, schedule))[:2] == ([timedelta(seconds=120)], False)

    # An operator's own pause is theirs to lift; the interval is still applied.
    await client.get_schedule_handle(schedule).pause(note="maintenance window")
    await ensure_reconcile_schedule(client, every(300))
    assert await _interval(client, schedule) == (
        [timedelta(seconds=300)],
        True,
        "maintenance window",
    )


async def test_manual_runs_go_through_the_schedule_and_never_overlap(
    infra: Infra, schedule_id: tuple[str, Client]
) -> None:
    _schedule, client = schedule_id
    tag = secrets.token_hex(4)
    settings = _settings(infra, tag, reconcile_interval=3600)
    runs: list[int] = []
    running = 0
    overlapped = False

    @activity.defn(name=RECONCILE_ACTIVITY)
    async def reconcile_requests(params: ReconcileInput) -> ReconcileReport:
        nonlocal running, overlapped
        running += 1
        overlapped |= running > 1
        runs.append(params.max_records)
        try:
            await asyncio.sleep(2)
            return ReconcileReport(examined=len(runs), accounted=len(runs))
        finally:
            running -= 1

    async with Worker(
        client,
        task_queue=settings.orchestrator_task_queue,
        workflows=[ReconcileWorkflow],
        activities=[reconcile_requests],
    ):
        # Without a schedule (interval 0 from the start): one run under the fixed id.
        (a, _), (b, _) = await asyncio.gather(
            reconcile_now(client, settings, max_records=7),
            reconcile_now(client, settings, max_records=7),
        )
        assert runs == [7] and a == b and a.examined == 1

        assert await ensure_reconcile_schedule(client, settings)
        (first, _), (second, _) = await asyncio.gather(
            reconcile_now(client, settings), reconcile_now(client, settings)
        )
        assert len(runs) == 2, "two manual runs at once: one run"
        assert first == second and first.examined == 2

        # A paused schedule (interval 0) still runs when asked to.
        await ensure_reconcile_schedule(client, _settings(infra, tag, reconcile_interval=0))
        third, joined = await reconcile_now(client, settings)
        assert third.examined == 3 and joined is False and len(runs) == 3
    assert not overlapped
