"""The package's expiry on the time-skipping server: the durable timer fires at the policy's
expiry (30 days), the real packaging activity deletes the package and audits it, and — the
request being closed and its retention over — destroys the request's data key (audited)."""

from __future__ import annotations

import dataclasses
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from orchestrator.datakeys import DataKeyDestroyed
from orchestrator.store import Store
from schemas.events import Channel, RequestKind, VerificationMethod
from schemas.package import ExpiryCall, ExpiryOutcome, PackageBuild, PackagedSystem, PackageRef
from schemas.records import AuditAction, CompletionRecord, RequestSummary
from schemas.status import RequestStatus, SystemOutcome, SystemStatus
from tests.package.conftest import PackageKit
from workflows.activities import OrchestratorActivities, PackagingActivities
from workflows.packaging import PackageExpiryWorkflow, expiry_workflow_id

TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"


async def test_expiry_timer_deletes_the_package_and_shreds_the_key(kit: PackageKit) -> None:
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    async with (
        await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(TEST_SERVER), data_converter=pydantic_data_converter
        ) as env,
        await Store.open(kit.database_url) as store,
    ):
        created = await env.get_current_time()
        sink = await kit.exports.open(request_id, "billing")
        await sink.write("contact", {"email": "anna@example.se"})
        await sink.finish()
        acts = PackagingActivities(kit.service, store)
        # The real activity, as the worker runs it: it builds the package and starts its
        # expiry timer on its own queue (EXPIRY_BY_PACKAGE_PATCH), twice as a retry would.
        on_queue = ActivityEnvironment(env.client)
        on_queue.info = dataclasses.replace(on_queue.info, task_queue="expiry-test")
        build = PackageBuild(
            request_id=request_id,
            kind="access",
            locale="sv",
            created_at=created,
            systems=[PackagedSystem(system="billing", counts={"contact": 1})],
        )
        ref = await on_queue.run(acts.build_package, build)
        assert ref.expires_at == created + timedelta(days=30)
        handle = env.client.get_workflow_handle(expiry_workflow_id(request_id))
        first_run = (await handle.describe()).run_id
        sink = await kit.exports.open(request_id, "billing")  # the retry builds from new parts
        await sink.write("contact", {"email": "anna@example.se"})
        await sink.finish()
        await on_queue.run(acts.build_package, build)
        assert (await handle.describe()).run_id == first_run  # one timer, however many builds
        (call,) = await pydantic_data_converter.decode(
            (await handle.fetch_history())
            .events[0]
            .workflow_execution_started_event_attributes.input.payloads,
            [ExpiryCall],
        )
        assert call == ExpiryCall(request_id=request_id, expires_at=ref.expires_at)
        await store.upsert_request(
            RequestSummary(
                request_id=request_id,
                kind=RequestKind.ACCESS,
                channel=Channel.PORTAL,
                status=RequestStatus.COMPLETED,
                received_at=created,
                due_at=created + timedelta(days=30),
                updated_at=created,
                completed_at=created,
            )
        )

        async with Worker(
            env.client,
            task_queue="expiry-test",
            workflows=[PackageExpiryWorkflow],
            activities=[acts.expire_package],
        ):
            # Not early: a day before the expiry the package and the key are still there.
            await env.sleep(timedelta(days=29))
            before = await kit.key_store.get_package(request_id)
            assert before is not None and before.deleted_at is None
            # A handle the activity's client started skips no time by itself (only the test
            # environment's own starts do): skip past the expiry, then wait for the outcome.
            await env.sleep(timedelta(days=2))
            outcome = await env.client.get_workflow_handle(
                handle.id, run_id=first_run, result_type=ExpiryOutcome
            ).result()

        assert outcome.package_deleted and outcome.key_destroyed
        assert await kit.storage.list(f"requests/{request_id}") == []
        stored = await kit.key_store.get_package(request_id)
        assert stored is not None and stored.deleted_at is not None
        assert stored.deleted_at >= ref.expires_at
        kit.keys.forget(request_id)
        try:
            await kit.keys.keys_for(request_id)
            raise AssertionError("the data key must be destroyed")
        except DataKeyDestroyed:
            pass
        actions = [e.action for e in await store.audit_trail(request_id)]
        assert actions == [
            AuditAction.PACKAGE_CREATED,
            AuditAction.PACKAGE_DELETED,
            AuditAction.DATA_KEY_DESTROYED,
        ]


async def test_an_open_request_keeps_its_key_past_the_expiry(kit: PackageKit) -> None:
    """The package goes at its expiry; the key stays while the request is still open."""
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    async with await Store.open(kit.database_url) as store:
        acts = PackagingActivities(kit.service, store)
        await kit.keys.keys_for(request_id, create=True)
        now = datetime.now(UTC)
        outcome = await acts.expire_package(ExpiryCall(request_id=request_id, expires_at=now))
        assert not outcome.key_destroyed
        assert outcome.retry_at is not None and outcome.retry_at > now
        key = await kit.key_store.get_data_key(request_id)
        assert key is not None and not key.destroyed


async def test_the_completion_starts_a_timer_for_a_package_left_without_one(
    tmp_path: Path,
) -> None:
    """A rolling deploy: a worker older than EXPIRY_BY_PACKAGE_PATCH built the package and left
    its timer to the request, which (patched) no longer starts the child; recording the
    completion starts it, once however often the local activity is retried."""
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    at = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    package = PackageRef(
        request_id=request_id,
        location=f"requests/{request_id}/package.zip.enc",
        created_at=at,
        expires_at=at + timedelta(days=30),
        size_bytes=1234,
        sha256="0" * 64,
        files=3,
    )
    record = CompletionRecord(
        request_id=request_id,
        kind=RequestKind.ACCESS,
        channel=Channel.PORTAL,
        status=RequestStatus.COMPLETED,
        event_id="ev-1",
        verification_method=VerificationMethod.BANKID,
        received_at=at - timedelta(days=1),
        due_at=at + timedelta(days=29),
        completed_at=at,
        workflow_id=f"dsr-{request_id}",
        workflow_run_id="run-1",
        systems=[SystemStatus(system="billing", outcome=SystemOutcome.DONE)],
        package=package,
    )
    async with (
        await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(TEST_SERVER), data_converter=pydantic_data_converter
        ) as env,
        await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'dsr.db'}") as store,
    ):
        acts = OrchestratorActivities(store, _Unpublished(), [])
        on_queue = ActivityEnvironment(env.client)
        on_queue.info = dataclasses.replace(on_queue.info, task_queue="expiry-test")
        handle = env.client.get_workflow_handle(expiry_workflow_id(request_id))

        await on_queue.run(acts.record_completion, record)
        first_run = (await handle.describe()).run_id
        await on_queue.run(acts.record_completion, record)  # a retried local activity

        assert (await handle.describe()).run_id == first_run
        assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
        (call,) = await pydantic_data_converter.decode(
            (await handle.fetch_history())
            .events[0]
            .workflow_execution_started_event_attributes.input.payloads,
            [ExpiryCall],
        )
        assert call == ExpiryCall(request_id=request_id, expires_at=package.expires_at)
        stored = await store.get_completion_record(request_id)
        assert stored is not None and stored.package == package
        await handle.terminate("test over")

        # Without a package (an erasure) there is nothing to time.
        erased_id = f"req-{uuid.uuid4().hex[:12]}"
        erasure = record.model_copy(
            update={
                "request_id": erased_id,
                "kind": RequestKind.ERASURE,
                "workflow_id": f"dsr-{erased_id}",
                "package": None,
            }
        )
        await on_queue.run(acts.record_completion, erasure)
        with pytest.raises(RPCError) as missing:  # an erasure has no package and no timer
            await env.client.get_workflow_handle(expiry_workflow_id(erased_id)).describe()
        assert missing.value.status is RPCStatusCode.NOT_FOUND


class _Unpublished:
    """record_completion publishes nothing (the workflow's publish_status step does)."""

    async def publish(self, summary: RequestSummary) -> None:
        raise AssertionError("record_completion must not publish")
