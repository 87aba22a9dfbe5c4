"""The orchestrator's own recurring work as Temporal Schedules (the reconciler, the shred sweep):
one way to create them, so each is created once however many workers start.

Why a Schedule, not a timer loop in a worker: it survives worker restarts and redeploys, runs
one sweep at a time (`SKIP` while the last is still running), and operators see, pause and
trigger it in Temporal's UI and CLI.
"""

from __future__ import annotations

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
)

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
) -> bool:
    """Create the schedule that starts `run(arg)` every `every_seconds` if it does not exist
    (several workers may race: one wins). Returns whether this call created it; an interval of
    0 or less turns it off (nothing is created)."""
    if every_seconds <= 0:
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
        return False
    log.info("schedule created", schedule=schedule_id, every_seconds=every_seconds)
    return True
