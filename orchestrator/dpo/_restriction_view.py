"""How the desk shows a restriction's lift (Art. 18): on the request page, in the API's
document and in `dsr status`/`dsr show`. Counts, system names and error kinds only.

`state` is the portal's (`lifting`, `lifted`, `partly_lifted`); `tasks` are the systems a
person must still lift by hand (no lift operation there, restricted by hand, or it failed), so
`partly_lifted` is never read as done. While the lift runs, only the stored state is known
(`systems` empty); its record, once written, has every system's result.

Before anyone lifts it, a completed restriction request's restriction is in force and its hold
waits for the DPO (workflows/lift_restriction.py): `restricted_since` says since when, and the
desk says how to lift it. Read from the store, as the rest of the page: the hold is started
with the completion record, so a request that restricted something and is not being lifted
has one (one closed before holds existed is lifted from its history while Temporal has it;
the front door says so when it no longer does).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.events import RequestKind
from schemas.records import CompletionRecord, RequestSummary, SystemLift
from schemas.status import TERMINAL_STATUSES, RestrictionState, SystemOutcome

__all__ = ["RestrictionLiftView", "may_lift", "restricted_since", "restriction_lift_view"]


class RestrictionLiftView(BaseModel):
    model_config = ConfigDict(frozen=True)

    state: RestrictionState
    changed_at: AwareDatetime
    note: str | None = None
    requested_by: str | None = Field(default=None, description="the DPO who decided")
    requested_at: AwareDatetime | None = None
    finished_at: AwareDatetime | None = None
    systems: list[SystemLift] = Field(default_factory=list)
    tasks: list[str] = Field(
        default_factory=list, description="systems a person must still lift by hand"
    )


def restriction_lift_view(
    summary: RequestSummary, record: CompletionRecord | None
) -> RestrictionLiftView | None:
    """The lift's state (None: the restriction is in force, or the request is no restriction)."""
    lift = record.restriction_lift if record is not None else None
    if lift is not None:
        return RestrictionLiftView(
            state=lift.state,
            changed_at=lift.finished_at,
            note=lift.note or None,
            requested_by=lift.requested_by,
            requested_at=lift.requested_at,
            finished_at=lift.finished_at,
            systems=lift.systems,
            tasks=[s.system for s in lift.tasks],
        )
    notice = summary.restriction
    if notice is None:
        return None
    requested = next(
        (d for d in reversed(summary.decisions) if d.decision.value == "lift_restriction"), None
    )
    return RestrictionLiftView(
        state=notice.state,
        changed_at=notice.changed_at,
        note=notice.reason,
        requested_by=requested.actor if requested else None,
        requested_at=requested.at if requested else None,
    )


def may_lift(summary: RequestSummary) -> bool:
    """Whether the desk offers `lift_restriction`: a closed restriction request that restricted
    something and that nobody lifts yet. The front door (orchestrator/dpo/_lift.py) checks
    again in Temporal and stays the arbiter."""
    return (
        summary.kind is RequestKind.RESTRICTION
        and summary.status in TERMINAL_STATUSES
        and summary.restriction is None
        and any(s.outcome is SystemOutcome.DONE for s in summary.systems)
    )


def restricted_since(summary: RequestSummary) -> datetime | None:
    """When the restriction came into force (the request's close) while it is in force and
    nobody lifts it yet; None otherwise."""
    if not may_lift(summary):
        return None
    return summary.completed_at or summary.updated_at
