"""ShredSweepWorkflow: on a Temporal Schedule, destroys the data keys of closed requests that
nothing needs any more (crypto-shredding, for every kind of request).

Why a sweep and not a timer per request: today only an access or portability request has a
timer that outlives it (PackageExpiry); an erasure, rectification, restriction, objection or
consent withdrawal has none, and what keeps its key alive (a deferred erasure years away, the
policy's readable-after-close period, which a deployment may change) is known only later. One
schedule re-decides every closed request on each run from the store and Temporal, so a policy
change or a missed run is simply caught up on the next one.

Small on purpose, like the reconciler: the workflow gives the work a schedule, retries and a
history; the I/O is in two activities (orchestrator/shredder.py): find the due requests, then
shred each one (it re-checks, destroys the key, audits). `now` is the workflow's clock, so the
decision is the same on the time-skipping test server as in production. Its workflow id
(`shred-sweep/...`) belongs to no request: its payloads (request ids, counts) use the master key.
Imports only pydantic and temporalio.
"""

# No `from __future__ import annotations`: see workflows/dsr.py.
from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from temporalio import activity, workflow
from temporalio.common import RetryPolicy

__all__ = [
    "SHRED_FIND_ACTIVITY",
    "SHRED_REQUEST_ACTIVITY",
    "ShredCall",
    "ShredCandidates",
    "ShredOutcome",
    "ShredScan",
    "ShredSweepInput",
    "ShredSweepReport",
    "ShredSweepWorkflow",
    "find_shreddable",
    "shred_request",
]

SHRED_FIND_ACTIVITY = "orchestrator.find_shreddable"
SHRED_REQUEST_ACTIVITY = "orchestrator.shred_request"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ShredSweepInput(_Model):
    max_requests: int = Field(default=1000, ge=1)  # keys destroyed per run at most


class ShredScan(_Model):
    now: AwareDatetime
    max_requests: int = Field(default=1000, ge=1)


class ShredCandidates(_Model):
    """Closed requests whose key may go now, and how many still wait, by what they wait for."""

    due: list[str]
    waiting: dict[str, int] = Field(default_factory=dict)
    orphans_deleted: int = 0  # keys made for dead letters of requests that never came


class ShredCall(_Model):
    request_id: str
    now: AwareDatetime


class ShredOutcome(_Model):
    request_id: str
    destroyed: bool
    waiting_for: str | None = None  # why not (it changed since the scan), else None


class ShredSweepReport(_Model):
    at: AwareDatetime
    destroyed: list[str] = Field(default_factory=list)
    waiting: dict[str, int] = Field(default_factory=dict)
    orphans_deleted: int = 0


@activity.defn(name=SHRED_FIND_ACTIVITY)
async def find_shreddable(scan: ShredScan) -> ShredCandidates:
    """Signature only; the worker registers the implementation (orchestrator.shredder)."""
    raise NotImplementedError


@activity.defn(name=SHRED_REQUEST_ACTIVITY)
async def shred_request(call: ShredCall) -> ShredOutcome:
    """Signature only; the worker registers the implementation (orchestrator.shredder)."""
    raise NotImplementedError


_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=5)


@workflow.defn(name="ShredSweep")
class ShredSweepWorkflow:
    @workflow.run
    async def run(self, params: ShredSweepInput) -> ShredSweepReport:
        now: datetime = workflow.now()
        candidates = await workflow.execute_activity(
            find_shreddable,
            ShredScan(now=now, max_requests=params.max_requests),
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=_RETRY,
        )
        waiting = dict(candidates.waiting)
        destroyed: list[str] = []
        for request_id in candidates.due:
            outcome = await workflow.execute_activity(
                shred_request,
                ShredCall(request_id=request_id, now=now),
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=_RETRY,
            )
            if outcome.destroyed:
                destroyed.append(request_id)
            elif outcome.waiting_for is not None:
                waiting[outcome.waiting_for] = waiting.get(outcome.waiting_for, 0) + 1
        return ShredSweepReport(
            at=now,
            destroyed=destroyed,
            waiting=waiting,
            orphans_deleted=candidates.orphans_deleted,
        )
