"""DsrWorkflow's package step on the time-skipping server (activities mocked under their real
names): access builds one package from the systems that exported and records its reference and
expiry; it starts the expiry timer, which outlives the request; portability's build names what
the plan left out; an erasure builds none."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from orchestrator.worker import WORKFLOW_RUNNER
from schemas.connectors import ConnectorInfo, Operation
from schemas.identifiers import IdentifierType
from schemas.package import ExpiryCall, ExpiryOutcome, PackageBuild, PackageRef
from schemas.results import EraseResult, ExportResult, LocateResult
from schemas.status import ExportArtifact
from schemas.workflow import ConnectorCall
from tests.workflows.conftest import Harness
from workflows.activities import start_expiry_timer
from workflows.dsr import DsrWorkflow
from workflows.packaging import PackageExpiryWorkflow, expiry_workflow_id

TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"


class Packaging:
    """The packaging activities, mocked: what the workflow asked for."""

    def __init__(self) -> None:
        self.builds: list[PackageBuild] = []
        self.expiries: list[ExpiryCall] = []
        self.fired_at: list[datetime] = []  # the (skipped) server time each expiry ran at

    def activities(self) -> list[Callable[..., Awaitable[Any]]]:
        @activity.defn(name="orchestrator.build_package")
        async def build_package(call: PackageBuild) -> PackageRef:
            self.builds.append(call)
            ref = PackageRef(
                request_id=call.request_id,
                location=f"requests/{call.request_id}/package.zip.enc",
                created_at=call.created_at,
                expires_at=call.created_at + timedelta(days=30),
                size_bytes=1234,
                sha256="0" * 64,
                files=5,
            )
            # The activity's contract: the package's timer runs before its reference returns
            # (the real activity calls the same helper).
            await start_expiry_timer(activity.client(), ref, activity.info().task_queue)
            return ref

        @activity.defn(name="orchestrator.expire_package")
        async def expire_package(call: ExpiryCall) -> ExpiryOutcome:
            self.expiries.append(call)
            self.fired_at.append(activity.info().scheduled_time)
            return ExpiryOutcome(package_deleted=True, key_destroyed=True)

        return [build_package, expire_package]


def _system(
    name: str, categories: tuple[str, ...], queue: str
) -> tuple[ConnectorInfo, list[Callable[..., Awaitable[Any]]]]:
    erased: set[str] = set()

    @activity.defn(name="connector.locate")
    async def locate(call: ConnectorCall) -> LocateResult:
        held = 0 if call.request_id in erased else 1
        return LocateResult(system=name, counts=dict.fromkeys(categories, held))

    @activity.defn(name="connector.export")
    async def export(call: ConnectorCall) -> ExportResult:
        # As the real activity reports it: what the plan skips is neither written nor counted.
        skipped = call.plan.skipped if call.plan is not None else ()
        counts = {c: 1 for c in categories if c not in skipped}
        artifact = ExportArtifact(
            uri=f"dsr-parts:requests/{call.request_id}/parts/{name}",
            sha256="1" * 64,
            size_bytes=10,
            records=len(counts),
        )
        return ExportResult(system=name, counts=counts, artifact=artifact)

    @activity.defn(name="connector.erase")
    async def erase(call: ConnectorCall) -> EraseResult:
        erased.add(call.request_id)
        return EraseResult(system=name, deleted=dict.fromkeys(categories, 1))

    info = ConnectorInfo(
        name=name,
        task_queue=queue,
        search_identifiers=[IdentifierType.EMAIL],
        operations=[Operation.LOCATE, Operation.EXPORT, Operation.ERASE],
    )
    return info, [locate, export, erase]


@pytest.fixture
async def running() -> AsyncIterator[tuple[Harness, Packaging]]:
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER), data_converter=pydantic_data_converter
    ) as env:
        client = Client(**{**env.client.config(), "data_converter": pydantic_data_converter})
        queue = f"dsr-pkg-{uuid.uuid4().hex[:8]}"
        harness = Harness(env, client, queue, systems=[])
        packaging = Packaging()
        systems = [
            _system(name, categories, f"{queue}-{name}")
            for name, categories in (
                ("billing", ("contact", "login_sessions")),
                ("newsletter", ("subscriber",)),
            )
        ]
        base = harness.activities()

        @activity.defn(name="orchestrator.list_connectors")
        async def list_connectors(only: list[str]) -> list[ConnectorInfo]:
            return [info for info, _ in systems]

        orchestrator = [a for a in base if getattr(a, "__name__", "") != "list_connectors"]
        workers = [
            Worker(
                client,
                task_queue=queue,
                workflows=[DsrWorkflow, PackageExpiryWorkflow],
                activities=[*orchestrator, list_connectors, *packaging.activities()],
                workflow_runner=WORKFLOW_RUNNER,
            ),
            *(Worker(client, task_queue=i.task_queue, activities=acts) for i, acts in systems),
        ]
        for worker in workers:
            await worker.__aenter__()
        try:
            yield harness, packaging
        finally:
            for worker in workers:
                await worker.__aexit__(None, None, None)


async def test_access_builds_one_package_and_its_timer_fires_on_the_expiry(
    running: tuple[Harness, Packaging],
) -> None:
    harness, packaging = running
    handle = await harness.start("access")
    record = await handle.result()
    request_id = handle.id.removeprefix("dsr-")

    assert [b.request_id for b in packaging.builds] == [request_id]
    (build,) = packaging.builds
    assert build.kind == "access" and build.locale == "sv"
    assert sorted(s.system for s in build.systems) == ["billing", "newsletter"]
    assert record.package is not None and record.package.request_id == request_id
    published = harness.updates[-1].summary
    assert published.package == record.package  # the status event carries reference + expiry

    # The request no longer starts the timer as a child (EXPIRY_BY_PACKAGE_PATCH): one round
    # trip less before it completes.
    events = (await handle.fetch_history()).events
    assert not [
        e for e in events if e.HasField("start_child_workflow_execution_initiated_event_attributes")
    ]

    # The expiry timer outlives the request and waits for this package's expiry;
    # tests/package/test_expiry.py lets it fire against the real activity. The time-skipping
    # server may already have skipped the 30 days while `result()` was awaited (it skips
    # whenever nothing else runs): then it must have fired no earlier than the expiry.
    timer = harness.client.get_workflow_handle(expiry_workflow_id(request_id))
    status = (await timer.describe()).status
    assert status in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED)
    history = await timer.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    (call,) = await pydantic_data_converter.decode(started.input.payloads, [ExpiryCall])
    assert call == ExpiryCall(request_id=request_id, expires_at=record.package.expires_at)
    if status is WorkflowExecutionStatus.RUNNING:
        try:
            await timer.terminate("test over")
        except RPCError as error:  # it fired between describe and terminate: nothing else
            if error.status is not RPCStatusCode.NOT_FOUND:
                raise
    if packaging.expiries:  # it fired: for this package, and not before its expiry
        (fired,) = packaging.expiries
        assert (fired.request_id, fired.expires_at) == (request_id, record.package.expires_at)
        assert fired.now is not None and fired.now >= record.package.expires_at
        assert packaging.fired_at[0] >= record.package.expires_at


async def test_portability_build_names_what_the_plan_left_out(
    running: tuple[Harness, Packaging],
) -> None:
    """The export activity drops what the plan skips (billing's login sessions: legitimate
    interest, not portable), counts and all, so the build would know nothing of them: the
    workflow sends the plan's skipped categories with each system, or the manifest's
    `excluded` ("held but left out") stays empty."""
    harness, packaging = running
    record = await (await harness.start("portability")).result()
    assert record.package is not None
    (build,) = packaging.builds
    assert build.kind == "portability"
    assert {s.system: (s.counts, s.excluded) for s in build.systems} == {
        "billing": ({"contact": 1}, ["login_sessions"]),
        "newsletter": ({"subscriber": 1}, []),
    }
    access = await (await harness.start("access")).result()
    assert access.package is not None
    assert [s.excluded for s in packaging.builds[1].systems] == [[], []]  # access skips nothing


async def test_erasure_builds_no_package(running: tuple[Harness, Packaging]) -> None:
    harness, packaging = running
    record = await (await harness.start("erasure")).result()
    assert record.package is None and packaging.builds == []
