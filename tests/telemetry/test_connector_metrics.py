"""Connector operation metrics from the activity boundary, on the real Temporal server: a
locate that fails once (a typed, retryable error) and then succeeds counts one error of that
type, one retry and two timed attempts — labelled by system and operation only."""

from __future__ import annotations

import secrets
from datetime import timedelta

from prometheus_client import REGISTRY, generate_latest
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from orchestrator.settings import Settings
from orchestrator.telemetry import instrument_client
from orchestrator.telemetry._activities import ConnectorMetricsInterceptor
from orchestrator.temporal_client import connect_temporal
from tests.conftest import Infra
from tests.telemetry.helpers import parse

PREFIX = "tm-connector-"


@activity.defn(name="connector.locate")
async def flaky_locate(request_id: str) -> str:
    if activity.info().attempt == 1:
        raise ApplicationError("the system is down", type="SystemUnavailable")
    return request_id


@workflow.defn(name="ConnectorMetricsProbe")
class LocateOnce:
    @workflow.run
    async def run(self, task_queue: str) -> str:
        result: str = await workflow.execute_activity(
            "connector.locate",
            "req-2026-000123",
            task_queue=task_queue,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)),
            result_type=str,
        )
        return result


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_retried_connector_call_counts_its_error_retry_and_attempts(infra: Infra) -> None:
    settings = Settings(temporal_address=infra.temporal_address, payload_keys=infra.payload_keys)
    client = instrument_client(
        await connect_temporal(settings), [ConnectorMetricsInterceptor(PREFIX)]
    )
    system = f"probe{secrets.token_hex(3)}"  # a fresh label set: nothing else counts into it
    queue, flow_queue = f"{PREFIX}{system}", f"tm-flow-{system}"
    labels = {"system": system, "operation": "locate"}
    async with (
        Worker(client, task_queue=queue, activities=[flaky_locate]),
        Worker(
            client,
            task_queue=flow_queue,
            workflows=[LocateOnce],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ),
    ):
        result = await client.execute_workflow(
            LocateOnce.run, queue, id=f"tm-{system}", task_queue=flow_queue
        )
    assert result == "req-2026-000123"

    errors = "dsr_connector_operation_errors_total"
    assert _sample(errors, **labels, error_type="SystemUnavailable") == 1
    assert _sample("dsr_connector_operation_retries_total", **labels) == 1
    assert _sample("dsr_connector_operation_seconds_count", **labels) == 2
    # Nothing but these labels on the connector metrics; no request id anywhere.
    scrape = parse(generate_latest(REGISTRY).decode())
    assert scrape.label_names("dsr_connector_") <= {"system", "operation", "error_type", "le"}
    assert "req-2026-000123" not in scrape.text
