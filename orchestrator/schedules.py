"""The orchestrator's own recurring work as Temporal Schedules (the reconciler, the shred sweep):
one way to create them, so each is created once however many workers start.

Why a Schedule, not a timer loop in a worker: it survives worker restarts and redeploys, runs
one sweep at a time (`SKIP` while the last is still running), and operators see, pause and
trigger it in Temporal's UI and CLI.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from orchestrator.logging import get_logger

__all__ = ["ensure_interval_schedule"]

log = get_logger(__name__)


async def ensure_interval_schedule(
    client: Client,
    schedule_id: str,
    run: Any,
    arg: Any,
    *,
    workflow_id: str,
    task_queue: str,
    every_seconds: float,
    update_existing: bool = False,
) -> bool:
    """Create the schedule that starts `run(arg)` every `every_seconds` if it does not exist
    (several workers may race: one wins). Returns whether this call created it; an interval of
    0 or less turns it off (nothing is created).

    `update_existing` (the reconciler's schedule): an existing schedule is brought to the
    setting too — a changed interval is applied, an interval of 0 pauses it (with a note
    saying so) and a later non-zero interval resumes it; a pause an operator set by hand (any
    other note) is left alone."""
    if every_seconds <= 0:
        if update_existing:
            await _pause_for_setting(client, schedule_id)
        return False
    try:
        await client.create_schedule(
            schedule_id,
            Schedule(
                action=ScheduleActionStartWorkflow(run, arg, id=workflow_id, task_queue=task_queue),
                spec=ScheduleSpec(
                    intervals=[ScheduleIntervalSpec(every=timedelta(seconds=every_seconds))]
                ),
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
            ),
        )
    except ScheduleAlreadyRunningError:
        if update_existing:
            await _apply_interval(client, schedule_id, timedelta(seconds=every_seconds))
        return False
    log.info("schedule created", schedule=schedule_id, every_seconds=every_seconds)
    return True


# The note of a pause this module set (interval 0): only such a pause is lifted again.
PAUSED_BY_SETTING = "paused: its interval setting is 0"


async def _pause_for_setting(client: Client, schedule_id: str) -> None:
    handle = client.get_schedule_handle(schedule_id)
    try:
        described = await handle.describe()
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return  # nothing to turn off
        raise
    if not described.schedule.state.paused:
        await handle.pause(note=PAUSED_BY_SETTING)
        log.info("schedule paused: interval 0", schedule=schedule_id)


async def _apply_interval(client: Client, schedule_id: str, every: timedelta) -> None:
    handle = client.get_schedule_handle(schedule_id)
    changed: list[bool] = []

    def updater(current: ScheduleUpdateInput) -> ScheduleUpdate | None:
        schedule = current.description.schedule
        current_intervals = schedule.spec.intervals
        if [i.every for i in current_intervals] == [every] and not any(
            i.offset for i in current_intervals
        ):
            return None  # already as set
        schedule.spec = dataclasses.replace(
            schedule.spec, intervals=[ScheduleIntervalSpec(every=every)]
        )
        changed.append(True)
        return ScheduleUpdate(schedule=schedule)

    await handle.update(updater)
    if changed:
        log.info(
            "schedule interval updated", schedule=schedule_id, every_seconds=every.total_seconds()
        )
    described = await handle.describe()
    state = described.schedule.state
    if state.paused and state.note == PAUSED_BY_SETTING:
        await handle.unpause(note="resumed: its interval setting is no longer 0")
        log.info("schedule resumed", schedule=schedule_id)
