"""A restriction's lift in the store (migration 0006 and the completion record): the summary's
`restriction` round-trips, the lift's record lands in the completion record once (a retried
activity changes nothing, an older record never replaces a newer one), and no record: None."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from orchestrator.store import Store
from schemas.records import CompletionRecord, RequestSummary, RestrictionLiftRecord, SystemLift
from schemas.status import RestrictionNotice, RestrictionState, SystemOutcome


def _lift(record: CompletionRecord, **changes: Any) -> RestrictionLiftRecord:
    at = record.completed_at + timedelta(days=20)
    return RestrictionLiftRecord(
        requested_by="dpo@company.se",
        requested_at=at,
        note="accuracy verified",
        state=RestrictionState.PARTLY_LIFTED,
        announced_at=at,
        finished_at=at + timedelta(seconds=3),
        systems=[
            SystemLift(system="billing", outcome=SystemOutcome.DONE, counts={"contact": 1}),
            SystemLift(system="support", outcome=SystemOutcome.MANUAL, reason="manual: by hand"),
        ],
    ).model_copy(update=changes)


async def test_the_summary_keeps_the_restrictions_state(
    store: Store, make_summary: Callable[..., RequestSummary]
) -> None:
    summary = make_summary("req-lift-1")
    await store.upsert_request(summary)
    assert (await store.get_request("req-lift-1")).restriction is None  # type: ignore[union-attr]
    notice = RestrictionNotice(
        state=RestrictionState.LIFTING, changed_at=summary.updated_at, reason="accuracy verified"
    )
    later = summary.model_copy(
        update={"restriction": notice, "updated_at": summary.updated_at + timedelta(seconds=1)}
    )
    await store.upsert_request(later)
    stored = await store.get_request("req-lift-1")
    assert stored is not None and stored.restriction == notice


async def test_the_lift_goes_into_the_completion_record_once(
    store: Store, make_record: Callable[..., CompletionRecord]
) -> None:
    record = await store.save_completion_record(make_record("req-lift-2"))
    lift = _lift(record)
    saved = await store.record_restriction_lift("req-lift-2", lift)
    assert saved is not None and saved.restriction_lift == lift
    assert [s.system for s in lift.tasks] == ["support"]
    again = await store.record_restriction_lift("req-lift-2", lift)  # a retried activity
    older = _lift(record, note="older", finished_at=lift.finished_at - timedelta(seconds=1))
    assert (await store.record_restriction_lift("req-lift-2", older)) == again
    stored = await store.get_completion_record("req-lift-2")
    assert stored is not None and stored.restriction_lift == lift
    assert stored.model_copy(update={"restriction_lift": None}) == record
    assert await store.record_restriction_lift("req-none", lift) is None
