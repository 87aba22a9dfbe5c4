"""Telemetry of a real request (tests/telemetry holds the rest; these need the session stack).

1. Through the real broker and the real worker/intake processes: the metrics of both endpoints
   move as the request runs, and no label carries the subject (nor a request id).
2. In-process (worker and intake handler against the real Temporal, on private task queues):
   the spans of one request form one trace, from the intake record down to the connectors'
   SQL and HTTP calls, and none carries the subject.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from devstack.estate import SYSTEMS
from orchestrator.dlq import OutgoingDeadLetter
from orchestrator.intake._handler import IncomingRecord, IntakeHandler, IntakeOutcome
from orchestrator.publish import encode_request
from orchestrator.settings import Settings
from orchestrator.signing import signature_headers
from orchestrator.telemetry import add_span_exporter, install_tracing, traced_handle
from orchestrator.temporal_client import connect_temporal
from orchestrator.worker import run_workers
from sandbox.people import Customer
from schemas.events import DsrRequestedEvent
from schemas.records import CompletionRecord
from schemas.status import RequestStatus
from schemas.workflow import workflow_id_for
from tests.integration.conftest import (
    Stack,
    completed,
    publish_raw,
    publish_signed,
    request_event,
    wait_for_workflow,
)
from tests.telemetry.helpers import Scrape, leaks, scrape, scrape_until, span_texts

pytestmark = pytest.mark.integration


def _subject(person: Customer) -> dict[str, str]:
    """Every identifier the schema takes, so every one of them is exposed to the telemetry."""
    subject = {"email": person.email, "name": person.name, "phone": person.phone}
    if person.personal_identity_number:
        subject["personal_identity_number"] = person.personal_identity_number
    return subject


async def _answering(url: str, timeout: float = 60) -> httpx.Response:
    """The response once `url` answers 200, within a deadline."""
    async with httpx.AsyncClient(timeout=5) as http, asyncio.timeout(timeout):
        while True:
            with contextlib.suppress(httpx.TransportError):
                response = await http.get(url)
                if response.status_code == 200:
                    return response
            await asyncio.sleep(0.2)


def _moved(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after.value(name, **labels) - before.value(name, **labels)


async def test_a_request_moves_the_metrics_of_both_processes_and_no_label_names_anyone(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    worker = f"http://{stack.metrics_bind['worker']}"
    intake = f"http://{stack.metrics_bind['intake']}"
    for base in (worker, intake):
        await _answering(f"{base}/healthz")  # the processes may still be starting
        assert (await _answering(f"{base}/readyz")).text == "ready\n"
    worker_before, intake_before = await scrape(worker), await scrape(intake)

    person = stack.fresh_customer(everywhere=True)
    request_id = await publish_signed(producer, stack, request_event("access", _subject(person)))
    record = await completed(temporal, request_id)
    assert record.status is RequestStatus.COMPLETED
    # One that waits for the DPO (two people share its e-mail), received 40 days ago: open, and
    # overdue.
    pair = stack.seed.examples.shared_email_pair
    assert pair is not None
    late = request_event(
        "access",
        {"email": pair.emails[0]},
        received_at=(datetime.now(UTC) - timedelta(days=40)).isoformat(),
    )
    late_id = await publish_signed(producer, stack, late)
    # And a forgery for the dead-letter counter.
    await publish_raw(
        producer, stack, b'{"forged": true}', key=f"tm-{secrets.token_hex(4)}".encode()
    )

    waiting = {"kind": "access", "status": "needs_attention"}
    worker_after = await scrape_until(
        worker,
        lambda s: (
            _moved(worker_before, s, "dsr_requests_open", **waiting) >= 1
            and _moved(worker_before, s, "dsr_requests_overdue", kind="access") >= 1
        ),
    )
    intake_after = await scrape_until(
        intake,
        lambda s: (
            _moved(intake_before, s, "dsr_dead_letters_total", reason="missing_signature") >= 1
        ),
    )

    access = {"kind": "access"}
    for status in ("received", "in_progress", "completed"):
        assert (
            _moved(
                worker_before,
                worker_after,
                "dsr_request_status_transitions_total",
                **access,
                status=status,
            )
            >= 1
        ), status
    done = {**access, "status": "completed"}
    completions = _moved(
        worker_before, worker_after, "dsr_request_completion_seconds_count", **done
    )
    assert completions >= 1
    # request_event says received 5 minutes ago; the deadline is a month after that.
    seconds = _moved(worker_before, worker_after, "dsr_request_completion_seconds_sum", **done)
    assert seconds / completions >= 300
    # Completed minutes after receipt: a month (28 to 35 days) left, not late.
    slack = "dsr_request_deadline_slack_days_bucket"
    month_left = _moved(worker_before, worker_after, slack, **done, le="35.0") - _moved(
        worker_before, worker_after, slack, **done, le="28.0"
    )
    assert month_left >= 1
    assert _moved(worker_before, worker_after, slack, **done, le="0.0") == 0
    for system in SYSTEMS:
        for operation in ("locate", "export"):
            assert (
                _moved(
                    worker_before,
                    worker_after,
                    "dsr_connector_operation_seconds_count",
                    system=system,
                    operation=operation,
                )
                >= 1
            ), (system, operation)
    # The Temporal SDK's runtime metrics, merged into the same endpoint.
    assert worker_after.value("dsr_temporal_runtime_metrics_up") == 1
    assert any(n.startswith("temporal_workflow_") for n in worker_after.names())
    # Intake lag: reported, and back to nothing once the records are committed.
    await scrape_until(
        intake,
        lambda s: (
            ("dsr_intake_lag_records", frozenset()) in s.samples
            and s.value("dsr_intake_lag_records") == 0
        ),
    )

    allowed = {"kind", "status", "system", "operation", "error_type", "reason", "le"}
    for result in (worker_after, intake_after):
        assert result.label_names("dsr_") <= allowed
        assert leaks([result.text], person) == []
        assert pair.emails[0] not in result.text
        for request in (request_id, late_id):
            assert request not in result.text
    await wait_for_workflow(temporal, late_id)  # (waiting for the DPO: left as it is)


# ── traces ─────────────────────────────────────────────────────────────────────────────────
def _ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    chain = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        chain.append(span)
    return chain


async def _dead_letter_refused(letter: OutgoingDeadLetter) -> None:
    raise AssertionError("a valid, signed event was dead-lettered")


async def test_one_request_is_one_trace_from_the_intake_record_to_sql_and_http(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert install_tracing("dsr-test") is not None
    exported, raw = InMemorySpanExporter(), InMemorySpanExporter()
    add_span_exporter(exported)  # what leaves the process (sanitised)
    add_span_exporter(raw, sanitised=False)  # what instrumentation recorded

    # Private task queues: the session's worker process must not take these tasks.
    queues = f"trace-{secrets.token_hex(3)}"
    env = {
        **stack.env,
        "DSR_ORCHESTRATOR_TASK_QUEUE": queues,
        "DSR_CONNECTOR_TASK_QUEUE_PREFIX": f"{queues}-",
        "DSR_METRICS_BIND": "",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # connectors read their settings from the environment
    settings = Settings()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    workers = asyncio.create_task(run_workers(settings, stop=stop))
    person = stack.fresh_customer(everywhere=True)
    try:
        client = await connect_temporal(settings)
        from orchestrator.telemetry import instrument_client

        handler = IntakeHandler(settings, instrument_client(client), _dead_letter_refused)
        event = DsrRequestedEvent.model_validate(request_event("access", _subject(person)))
        value = encode_request(event)
        key_id, secret = next(iter(settings.signing_key_ring().items()))
        record = IncomingRecord(
            topic=settings.requests_topic,
            partition=0,
            offset=0,
            key=event.data.request_id.encode(),
            value=value,
            headers=signature_headers(value, key_id, secret),
        )
        assert await traced_handle(handler, record) is IntakeOutcome.STARTED
        handle = client.get_workflow_handle(
            workflow_id_for(event.data.request_id), result_type=CompletionRecord
        )
        async with asyncio.timeout(90):
            result = await handle.result()
        assert result.status is RequestStatus.COMPLETED
    finally:
        stop.set()
        await workers
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        exported.shutdown()
        raw.shutdown()

    spans = exported.get_finished_spans()
    (root,) = [s for s in spans if s.name == f"intake {settings.requests_topic}"]
    assert root.parent is None
    assert dict(root.attributes or {})["dsr.request_id"] == event.data.request_id
    trace = [s for s in spans if s.context.trace_id == root.context.trace_id]
    by_id = {s.context.span_id: s for s in trace}
    # Nothing of this request lies outside the trace, and nothing in it is cut off from the root.
    workflow_id = workflow_id_for(event.data.request_id)
    ours = [s for s in spans if (s.attributes or {}).get("temporalWorkflowID") == workflow_id]
    assert ours and all(s.context.trace_id == root.context.trace_id for s in ours)
    for span in trace:
        assert span is root or root in _ancestors(span, by_id), span.name

    (start,) = [s for s in trace if s.name == "StartWorkflow:DsrWorkflowV2"]
    assert start.parent is not None and start.parent.span_id == root.context.span_id
    names = {s.name for s in trace}
    assert "RunWorkflow:DsrWorkflowV2" in names
    assert {"RunActivity:connector.locate", "RunActivity:connector.export"} <= names

    def under_connector(span: ReadableSpan) -> bool:
        return any(a.name.startswith("RunActivity:connector.") for a in _ancestors(span, by_id))

    sql = [s for s in trace if "db.system" in (s.attributes or {}) and under_connector(s)]
    http = [
        s
        for s in trace
        if {"http.request.method", "http.method"} & set(s.attributes or {}) and under_connector(s)
    ]
    assert sql, "no SQL span under a connector activity"
    assert http, "no HTTP span under a connector activity"

    assert leaks(span_texts(spans), person) == []
    # Without the sanitiser, too, SQL statements carry placeholders only.
    statements = [
        str((s.attributes or {}).get("db.statement", "")) for s in raw.get_finished_spans()
    ]
    assert leaks(statements, person) == []
