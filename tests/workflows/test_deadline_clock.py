"""The legal clock inside the workflow, on the time-skipping server: the statutory due date,
durable reminders at 7 days and 1 day left and when overdue, and an extension moving them."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from policy.deadlines import deadline
from schemas.status import RequestStatus
from schemas.workflow import Cancel, Extend
from tests.workflows.conftest import Harness
from workflows.dsr import DsrWorkflow

DPO = "dpo@company.se"


async def _reminders(harness: Harness, count: int, timeout: float = 20) -> list[str]:
    """The reminder keys published so far, once there are `count` of them."""
    async with asyncio.timeout(timeout):
        while len(harness.audit("deadline_reminder")) < count:  # noqa: ASYNC110 - a mock's list, polled with a deadline
            await asyncio.sleep(0.02)
    return [u.details["reminder"] for u in harness.audit("deadline_reminder")]  # type: ignore[misc]


async def test_due_date_follows_the_statute_not_the_clock_time(harness: Harness) -> None:
    received = datetime(2026, 12, 1, 14, 57, tzinfo=UTC)
    handle = await harness.start("access", received_at=received)
    record = await handle.result()
    assert record.due_date == date(2027, 1, 4)  # not 2027-01-01 (New Year's Day) at 14:57
    assert record.due_at.isoformat() == "2027-01-04T23:59:59.999999+01:00"
    first = harness.updates[0].summary
    assert (first.due_date, first.due_at) == (record.due_date, record.due_at)


async def test_eves_as_days_off_is_the_policys_setting(harness: Harness) -> None:
    harness.policy = harness.policy.model_copy(update={"eves_are_holidays": True})
    handle = await harness.start("access", received_at=datetime(2026, 11, 24, 9, tzinfo=UTC))
    record = await handle.result()
    assert record.due_date == date(2026, 12, 28)  # Christmas Eve is a day off under this policy


async def test_reminders_at_seven_days_one_day_and_overdue(harness: Harness) -> None:
    harness.systems[0].fail_export = 99  # the request waits for the DPO meanwhile
    handle = await harness.start("access")
    waiting = await harness.reaches(handle, RequestStatus.NEEDS_ATTENTION)
    due_at = waiting.due_at
    assert harness.audit("deadline_reminder") == []

    await harness.env.sleep(due_at - timedelta(days=7, minutes=1) - await harness.now())
    assert harness.audit("deadline_reminder") == [], "not a minute early"
    await harness.env.sleep(timedelta(minutes=2))
    assert await _reminders(harness, 1) == ["7_days_left"]
    await harness.env.sleep(due_at - timedelta(days=1) + timedelta(minutes=1) - await harness.now())
    assert await _reminders(harness, 2) == ["7_days_left", "1_day_left"]
    await harness.env.sleep(due_at + timedelta(minutes=1) - await harness.now())
    assert await _reminders(harness, 3) == ["7_days_left", "1_day_left", "overdue"]

    summary = await harness.status(handle)
    assert [r.key for r in summary.reminders] == ["7_days_left", "1_day_left", "overdue"]
    assert all(r.due_date == waiting.due_date for r in summary.reminders)
    overdue = harness.audit("deadline_reminder")[-1]
    assert overdue.summary.status is RequestStatus.NEEDS_ATTENTION  # a reminder changes no status
    assert abs(overdue.summary.updated_at - due_at) < timedelta(minutes=2)
    await handle.execute_update(DsrWorkflow.cancel, Cancel(actor=DPO, reason="end of test"))
    await handle.result()


async def test_an_extension_moves_the_reminders_to_the_new_deadline(harness: Harness) -> None:
    harness.systems[0].fail_export = 99
    handle = await harness.start("access")
    waiting = await harness.reaches(handle, RequestStatus.NEEDS_ATTENTION)
    await handle.execute_update(
        DsrWorkflow.extend, Extend(actor=DPO, months=1, reason="many systems")
    )
    new_day, new_at = deadline(waiting.received_at, 2)
    # past the original deadline: no reminder for it any more
    await harness.env.sleep(waiting.due_at + timedelta(hours=1) - await harness.now())
    assert harness.audit("deadline_reminder") == []
    await harness.env.sleep(new_at - timedelta(days=7) + timedelta(minutes=1) - await harness.now())
    assert await _reminders(harness, 1) == ["7_days_left"]
    assert harness.audit("deadline_reminder")[0].details["due_date"] == new_day.isoformat()
    await handle.execute_update(DsrWorkflow.cancel, Cancel(actor=DPO, reason="end of test"))
    await handle.result()
