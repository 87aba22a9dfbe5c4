"""What Temporal says about a workflow's activities, for timing a fault and checking its effect:
which are running now (pending, started) and on which attempt, which finished on which attempt
(history), and waiting for the moment to inject a fault — by condition, never by sleep."""

from __future__ import annotations

import asyncio

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import WorkflowHandle


async def running_everywhere(
    handle: WorkflowHandle, activity_type: str, count: int, timeout: float = 120
) -> None:
    """Wait for the moment to kill: all `count` `activity_type` activities scheduled (one per
    system) and every one of them not finished yet running on a worker — not waiting for a
    retry. An erase that failed on a locked database is back within the retry interval, and
    one with nothing to write may finish at once: neither is waited for forever. After
    `timeout` it is enough that one is running (the test asserts on what was in flight)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        history = await handle.fetch_history()
        scheduled = sum(
            e.activity_task_scheduled_event_attributes.activity_type.name == activity_type
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
        )
        pending = [
            p
            for p in (await handle.describe()).raw_description.pending_activities
            if p.activity_type.name == activity_type
        ]
        started = [
            p for p in pending if p.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        ]
        if scheduled >= count and started and len(started) == len(pending):
            return
        if loop.time() > deadline and started:
            return
        if loop.time() > deadline + 60:
            raise TimeoutError(f"{activity_type}: {scheduled} scheduled, none running")
        await asyncio.sleep(0.1)


async def in_flight(handle: WorkflowHandle, activity_type: str) -> dict[str, int]:
    """The `activity_type` activities running right now — started by a worker, not finished
    (Temporal's pending activities) — by activity id, with the attempt they are on."""
    description = await handle.describe()
    return {
        pending.activity_id: pending.attempt
        for pending in description.raw_description.pending_activities
        if pending.activity_type.name == activity_type
        and pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
    }


async def finished_attempts(
    handle: WorkflowHandle, activity_type: str
) -> dict[str, tuple[str, int]]:
    """Each finished `activity_type` activity by id: its task queue and the attempt it
    finished on (history: a retried activity's started event carries its last attempt)."""
    history = await handle.fetch_history()
    scheduled = {
        e.event_id: e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == activity_type
    }
    started = {
        e.event_id: e.activity_task_started_event_attributes
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
        and e.activity_task_started_event_attributes.scheduled_event_id in scheduled
    }
    finished: dict[str, tuple[str, int]] = {}
    for event in history.events:
        for field in ("activity_task_completed_event_attributes",
                      "activity_task_failed_event_attributes"):  # fmt: skip
            if event.HasField(field):
                attempt = started.get(getattr(event, field).started_event_id)
                if attempt is not None:
                    origin = scheduled[attempt.scheduled_event_id]
                    finished[origin.activity_id] = (origin.task_queue.name, attempt.attempt)
    return finished


async def attempts_seen(
    handle: WorkflowHandle, activity_type: str, at_least: int, timeout: float = 120
) -> None:
    """Wait until a pending `activity_type` is on its `at_least`-th attempt: the system's
    failure has been met, and the activity is being retried."""
    async with asyncio.timeout(timeout):
        while True:
            description = await handle.describe()
            if any(
                p.activity_type.name == activity_type and p.attempt >= at_least
                for p in description.raw_description.pending_activities
            ):
                return
            await asyncio.sleep(0.2)
