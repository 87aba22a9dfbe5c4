"""DsrWorkflowV2 on the time-skipping test server (samples-python style): the real workflow in
the production sandbox configuration, its activities mocked under their real names.

One test server per module; each test gets its own task queues and workers (`harness`).
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from orchestrator.worker import WORKFLOW_RUNNER
from policy.loader import load_policy
from policy.model import Policy
from schemas.connectors import ConnectorInfo, Operation
from schemas.events import DsrRequestedData
from schemas.identifiers import IdentifierType
from schemas.records import CompletionRecord, RequestSummary
from schemas.results import EraseResult, ExportResult, LocateResult
from schemas.status import RequestStatus
from schemas.subject import Identifier
from schemas.workflow import (
    ConnectorCall,
    DsrWorkflowInput,
    RepeatCheck,
    RepeatCheckResult,
    StatusUpdate,
    WorkflowTuning,
)
from workflows.dsr import DsrWorkflow

TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"
# Fast retries: a failing mocked connector gives up within the test's patience.
TUNING = WorkflowTuning(
    activity_start_to_close=timedelta(seconds=10),
    activity_schedule_to_close=timedelta(seconds=20),
    retry_initial_interval=timedelta(milliseconds=100),
    retry_maximum_interval=timedelta(milliseconds=200),
    discovery_rounds=2,
)


# One test server per module: time skipping is server-wide, and a workflow another module left
# waiting (its workers gone) would hold the clock still for everyone after it.
@pytest.fixture(scope="module")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER), data_converter=pydantic_data_converter
    )
    try:
        yield env
    finally:
        await env.shutdown()


@dataclass
class FakeSystem:
    """One mocked connector on its own task queue: what it finds, and how it behaves."""

    name: str
    counts: dict[str, int] = field(default_factory=lambda: {"contact": 1})
    ambiguous: bool = False
    # Ambiguity (two people behind the shared e-mail) resolves once the subject is narrowed to a
    # personnummer, and the e-mail is not searched again.
    unambiguous_by: IdentifierType | None = IdentifierType.PERSONAL_IDENTITY_NUMBER
    fail_export: int = 0  # fail this many export attempts permanently (one per activity run)
    calls: list[tuple[str, list[str]]] = field(default_factory=list)
    search_identifiers: tuple[IdentifierType, ...] = (
        IdentifierType.EMAIL,
        IdentifierType.PERSONAL_IDENTITY_NUMBER,
    )
    # Identifiers its records give away, by the identifier type that finds them.
    learns: dict[IdentifierType, list[Identifier]] = field(default_factory=dict)

    def info(self, queue: str) -> ConnectorInfo:
        return ConnectorInfo(
            name=self.name,
            task_queue=queue,
            search_identifiers=list(self.search_identifiers),
            operations=[Operation.LOCATE, Operation.EXPORT, Operation.ERASE],
        )

    def activities(self) -> list[Callable[..., Awaitable[Any]]]:
        def seen(op: str, call: ConnectorCall) -> None:
            self.calls.append((op, sorted(i.type.value for i in call.subject.identifiers)))

        @activity.defn(name="connector.locate")
        async def locate(call: ConnectorCall) -> LocateResult:
            seen("locate", call)
            types = {i.type for i in call.subject.identifiers}
            narrowed = self.unambiguous_by in types and IdentifierType.EMAIL not in types
            ambiguous = self.ambiguous and not narrowed
            searchable = [i for i in call.subject.identifiers if i.type in self.search_identifiers]
            return LocateResult(
                system=self.name,
                counts=self.counts if searchable else {},
                learned=[learned for i in searchable for learned in self.learns.get(i.type, [])],
                ambiguous=ambiguous and bool(searchable),
                ambiguity_reason="two customers share the address" if ambiguous else None,
            )

        @activity.defn(name="connector.export")
        async def export(call: ConnectorCall) -> ExportResult:
            seen("export", call)
            if self.fail_export > 0:
                self.fail_export -= 1
                raise ApplicationError("system is down", type="PermanentError", non_retryable=True)
            return ExportResult(system=self.name, counts=self.counts)

        @activity.defn(name="connector.erase")
        async def erase(call: ConnectorCall) -> EraseResult:
            seen("erase", call)
            self.counts = {k: 0 for k in self.counts}
            return EraseResult(system=self.name, deleted=dict.fromkeys(self.counts, 1))

        return [locate, export, erase]


def request_input(
    kind: str,
    received: datetime,
    *,
    verified: bool = True,
    scope: dict[str, list[str]] | None = None,
    tuning: WorkflowTuning = TUNING,
    subject: dict[str, str] | None = None,
) -> DsrWorkflowInput:
    """A new request (its own id) by e-mail for anna@example.se (or by `subject`), as the
    workflow's input."""
    data = DsrRequestedData.model_validate(
        {
            "request_id": f"req-{uuid.uuid4().hex[:12]}",
            "kind": kind,
            "received_at": received,
            "channel": "email",
            "subject": subject or {"email": "anna@example.se"},
            "verification": {
                "method": "bankid" if verified else "none",
                "verified_at": received if verified else None,
            },
            **({"scope": scope} if scope is not None else {}),
        }
    )
    return DsrWorkflowInput(event_id="ev-1", event_source="test", request=data, tuning=tuning)


@dataclass
class Harness:
    """The orchestrator's activities, mocked, and what the workflow told them."""

    env: WorkflowEnvironment
    client: Client
    queue: str
    systems: list[FakeSystem]
    policy: Policy = field(default_factory=lambda: load_policy(None))
    earlier_requests: list[str] = field(default_factory=list)
    updates: list[StatusUpdate] = field(default_factory=list)
    records: list[CompletionRecord] = field(default_factory=list)
    repeat_checks: list[RepeatCheck] = field(default_factory=list)

    def activities(self) -> list[Callable[..., Awaitable[Any]]]:
        @activity.defn(name="orchestrator.load_policy")
        async def load_policy_() -> Policy:
            return self.policy

        @activity.defn(name="orchestrator.list_connectors")
        async def list_connectors(only: list[str]) -> list[ConnectorInfo]:
            return [s.info(f"{self.queue}-{s.name}") for s in self.systems]

        @activity.defn(name="orchestrator.publish_status")
        async def publish_status(update: StatusUpdate) -> None:
            self.updates.append(update)

        @activity.defn(name="orchestrator.record_completion")
        async def record_completion(record: CompletionRecord) -> None:
            self.records.append(record)

        @activity.defn(name="orchestrator.check_repeat")
        async def check_repeat(check: RepeatCheck) -> RepeatCheckResult:
            self.repeat_checks.append(check)
            return RepeatCheckResult(earlier_request_ids=self.earlier_requests)

        return [load_policy_, list_connectors, publish_status, record_completion, check_repeat]

    # ── helpers for tests ──────────────────────────────────────────────────────────────────
    async def start(
        self,
        kind: str = "access",
        *,
        verified: bool = True,
        received_at: datetime | None = None,
        scope: dict[str, list[str]] | None = None,
        subject: dict[str, str] | None = None,
    ) -> WorkflowHandle[DsrWorkflow, CompletionRecord]:
        params = request_input(
            kind,
            received_at or await self.now(),
            verified=verified,
            scope=scope,
            tuning=TUNING,
            subject=subject,
        )
        return await self.client.start_workflow(
            DsrWorkflow.run,
            params,
            id=f"dsr-{params.request.request_id}",
            task_queue=self.queue,
        )

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def status(self, handle: WorkflowHandle[Any, Any]) -> RequestSummary:
        summary = await handle.query(DsrWorkflow.status)
        assert summary is not None
        return summary

    async def reaches(
        self, handle: WorkflowHandle[Any, Any], status: RequestStatus, timeout: float = 20
    ) -> RequestSummary:
        """Wait (without skipping time) until the workflow reports `status`."""
        deadline = datetime.now(UTC) + timedelta(seconds=timeout)
        while True:
            summary = await handle.query(DsrWorkflow.status)
            if summary is not None and summary.status is status:
                return summary
            if datetime.now(UTC) > deadline:
                raise AssertionError(f"never reached {status}: {summary and summary.status}")
            await asyncio.sleep(0.02)  # real time only: the test server skips none here

    def audit(self, action: str) -> list[StatusUpdate]:
        return [u for u in self.updates if u.action.value == action]


@asynccontextmanager
async def running_harness(
    ts_env: WorkflowEnvironment, systems: list[FakeSystem], prefix: str = "dsr-ts"
) -> AsyncIterator[Harness]:
    """A Harness over `systems` with its workers running: DsrWorkflow and the orchestrator's
    mocked activities on the harness's queue, each system on its own."""
    client = Client(**{**ts_env.client.config(), "data_converter": pydantic_data_converter})
    queue = f"{prefix}-{uuid.uuid4().hex[:8]}"
    h = Harness(ts_env, client, queue, systems)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(
            Worker(
                client,
                task_queue=queue,
                workflows=[DsrWorkflow],
                activities=h.activities(),
                workflow_runner=WORKFLOW_RUNNER,
            )
        )
        for system in h.systems:
            await stack.enter_async_context(
                Worker(client, task_queue=f"{queue}-{system.name}", activities=system.activities())
            )
        yield h


@pytest.fixture
async def harness(ts_env: WorkflowEnvironment) -> AsyncIterator[Harness]:
    systems = [FakeSystem("billing"), FakeSystem("newsletter", counts={"subscriber": 1})]
    async with running_harness(ts_env, systems) as h:
        yield h


async def replay(history: Path | WorkflowHistory, workflow: type) -> None:
    """Replay one history (a committed JSON file, or one just fetched) with the production
    sandbox and converter: a non-determinism against the current code fails the test."""
    if isinstance(history, Path):
        history = WorkflowHistory.from_json(f"replay-{history.stem}", history.read_text())
    replayer = Replayer(
        workflows=[workflow],
        data_converter=pydantic_data_converter,
        workflow_runner=WORKFLOW_RUNNER,
    )
    await replayer.replay_workflow(history)
