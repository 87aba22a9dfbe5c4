"""Other restrictions in force: what a lift must leave restricted (Art. 18).

Why: the systems keep one restriction flag per record (billing's and hosting's `restricted`, the
registrar's contact, the newsletter's one `dsr_restricted` mark), not one per request. Two
restriction requests of the same person — one pending an accuracy check (Art. 18(1)(a)), one an
objection's verification (18(1)(d)) — restrict the same flag; lifting the first would lift the
second's too, while its hold still waits and the desk shows it "restricted since". So before a
lift touches any system (workflows/lift_restriction.py), this activity names, per system, another
restriction request of the same subject still in force that restricted it; the lift leaves
those restricted (`retained`, naming the request), and that request's own lift lifts them.

Who is the same subject: keyed hashes only (`policy.fingerprints`, the worker's subject hash
key). The lift's request is fingerprinted here from the identifiers each of its systems was
restricted by (the activity's input, sealed in the lift's history); the other requests were
fingerprinted when their hold started (orchestrator/restriction_hold.py). In force: its hold
runs (`orchestrator.shredder.restriction_in_force`) and its lift has not been decided (no
restriction state stored yet: a lift being carried out lifts its systems itself). What it
restricted: the systems done in its completion record (the restrict call or a person).

The lift asks after storing its own `lifting`, and the other's lift checks the same way, so of
two lifts decided together at least one sees the other decided and lifts (never both leaving it
to the other).

Not seen: a restriction whose hold was started before fingerprints were kept at hold start (no
fingerprints of it in the store) — the check finds nothing for it, and the lift lifts as before
—, and a restriction request still running (its hold starts when it closes).
"""

from __future__ import annotations

from typing import Protocol

from temporalio import activity
from temporalio.client import Client

from orchestrator.shredder import restriction_in_force
from policy.fingerprints import subject_fingerprints
from schemas.events import RequestKind
from schemas.lift import OtherRestrictions, RestrictionCheck
from schemas.records import CompletionRecord, RequestSummary
from schemas.status import SystemOutcome
from workflows.lift_restriction import LiftOps

__all__ = ["OtherRestrictionsInForce", "OtherRestrictionsStore"]


class OtherRestrictionsStore(Protocol):
    async def requests_of_subject(
        self,
        fingerprints: list[str],
        *,
        kinds: list[RequestKind],
        exclude_request_id: str,
    ) -> list[str]: ...
    async def get_request(self, request_id: str) -> RequestSummary | None: ...
    async def get_completion_record(self, request_id: str) -> CompletionRecord | None: ...


class OtherRestrictionsInForce(LiftOps):
    """The activity, on the orchestrator's queue beside the lift's others."""

    def __init__(self, store: OtherRestrictionsStore, client: Client, subject_hash_key: bytes):
        if not subject_hash_key:
            raise ValueError("finding other restrictions needs the subject hash key")
        self._store = store
        self._client = client
        self._subject_hash_key = subject_hash_key

    @activity.defn(name="orchestrator.other_restrictions_in_force")
    async def other_restrictions_in_force(self, check: RestrictionCheck) -> OtherRestrictions:
        key = self._subject_hash_key
        fingerprints = sorted({f for s in check.subjects for f in subject_fingerprints(s, key)})
        # Any shared fingerprint is the same subject here (no identity rule): taking two people
        # for one keeps a system restricted (safe), the other way lifts another's restriction.
        others = await self._store.requests_of_subject(
            fingerprints, kinds=[RequestKind.RESTRICTION], exclude_request_id=check.request_id
        )
        kept: dict[str, str] = {}
        for other in others:  # oldest first: a system is named under the oldest in force
            if not await restriction_in_force(self._client, other):
                continue
            summary = await self._store.get_request(other)
            if summary is None or summary.restriction is not None:
                continue  # its lift was decided: it lifts its systems itself
            record = await self._store.get_completion_record(other)
            if record is None:
                continue
            for status in record.systems:
                if status.outcome is SystemOutcome.DONE:
                    kept.setdefault(status.system, other)
        return OtherRestrictions(by_system=kept)
