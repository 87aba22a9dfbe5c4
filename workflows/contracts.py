"""The activities the workflow calls, as typed references: names, argument and result types.

DsrWorkflow calls `workflow.execute_activity_method(OrchestratorOps.publish_status, ...)`, never a
string, so the argument and result are checked by mypy and converted by type. These stubs import
only `schemas` and `policy`, so the workflow (sandboxed, re-imported for every run) never loads
httpx or SQLAlchemy; the real implementations in `workflows.activities` subclass them and keep
the same names (mypy checks that their signatures still match).
"""

# No `from __future__ import annotations`: see workflows/dsr.py (the sandbox resolves
# annotations through its import proxies; real objects are cheaper).
from temporalio import activity, workflow

from policy.model import Policy
from schemas.connectors import ConnectorInfo
from schemas.records import CompletionRecord
from schemas.results import (
    EraseResult,
    ExportResult,
    LocateResult,
    RectifyResult,
    RestrictResult,
    UnsubscribeResult,
)
from schemas.status import RequestStatus
from schemas.workflow import (
    ConnectorCall,
    DsrWorkflowInput,
    FollowUpAppend,
    FollowUpDecision,
    RepeatCheck,
    RepeatCheckResult,
    StatusUpdate,
)

__all__ = ["ConnectorOps", "DsrWorkflowRef", "OrchestratorOps"]


class ConnectorOps:
    """One connector's operations, on that connector's task queue."""

    @activity.defn(name="connector.locate")
    async def locate(self, call: ConnectorCall) -> LocateResult:
        raise NotImplementedError

    @activity.defn(name="connector.export")
    async def export(self, call: ConnectorCall) -> ExportResult:
        raise NotImplementedError

    @activity.defn(name="connector.erase")
    async def erase(self, call: ConnectorCall) -> EraseResult:
        raise NotImplementedError

    @activity.defn(name="connector.rectify")
    async def rectify(self, call: ConnectorCall) -> RectifyResult:
        raise NotImplementedError

    @activity.defn(name="connector.restrict")
    async def restrict(self, call: ConnectorCall) -> RestrictResult:
        raise NotImplementedError

    @activity.defn(name="connector.lift_restriction")
    async def lift_restriction(self, call: ConnectorCall) -> RestrictResult:
        raise NotImplementedError

    @activity.defn(name="connector.unsubscribe")
    async def unsubscribe(self, call: ConnectorCall) -> UnsubscribeResult:
        raise NotImplementedError


class OrchestratorOps:
    """Store, audit trail, status topic and policy, on the orchestrator's task queue."""

    @activity.defn(name="orchestrator.load_policy")
    async def load_policy(self) -> Policy:
        raise NotImplementedError

    @activity.defn(name="orchestrator.list_connectors")
    async def list_connectors(self, only: list[str]) -> list[ConnectorInfo]:
        raise NotImplementedError

    @activity.defn(name="orchestrator.publish_status")
    async def publish_status(self, update: StatusUpdate) -> None:
        raise NotImplementedError

    @activity.defn(name="orchestrator.record_completion")
    async def record_completion(self, record: CompletionRecord) -> None:
        raise NotImplementedError

    @activity.defn(name="orchestrator.append_follow_up")
    async def append_follow_up(self, append: FollowUpAppend) -> None:
        """A deferred erasure's entry, appended to the completion record and the audit trail."""
        raise NotImplementedError

    @activity.defn(name="orchestrator.record_follow_up_decision")
    async def record_follow_up_decision(self, decision: FollowUpDecision) -> RequestStatus:
        """A DPO's decision on a deferred erasure, in the audit trail; returns the request's
        status as the store has it (for the decision's receipt)."""
        raise NotImplementedError

    @activity.defn(name="orchestrator.check_repeat")
    async def check_repeat(self, check: RepeatCheck) -> RepeatCheckResult:
        raise NotImplementedError


@workflow.defn(name="DsrWorkflowV2")
class DsrWorkflowRef:
    """The request workflow as the intake starts it: its registered type and its typed `run`,
    without its implementation. Importing `workflows.dsr` would load the policy package and the
    holiday tables of every country into the intake (~13 MiB of a 110 MiB process) for one name.
    Never registered on a worker; tests/unit/test_service_imports.py checks it still matches
    `workflows.dsr.DsrWorkflow` (name, argument and result types)."""

    @workflow.run
    async def run(self, params: DsrWorkflowInput) -> CompletionRecord:
        raise NotImplementedError
