"""The intake decision for one Kafka record: start exactly one workflow, or dead-letter it.

Kept free of faust so it can be reasoned about (and tested) on its own; the faust agent is a
thin adapter around it. Nothing is lost: the agent acknowledges the record only after this
returns, and this returns only once Temporal acknowledged the start (or knew it already) or the
dead-letter topic acknowledged the record.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum

import structlog
from pydantic import BaseModel, ConfigDict
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from orchestrator.intake._validation import Rejected, headers_dict, validate_request
from orchestrator.logging import get_logger
from orchestrator.settings import Settings
from schemas.events import DsrRequestedEvent
from schemas.workflow import DsrWorkflowInput, workflow_id_for
from workflows.dsr import DsrWorkflow

__all__ = ["DLQ_HEADERS", "IncomingRecord", "IntakeHandler", "IntakeOutcome"]

log = get_logger(__name__)

DLQ_HEADERS = (
    "dsr-dlq-reason",
    "dsr-dlq-detail",
    "dsr-dlq-source-topic",
    "dsr-dlq-source-partition",
    "dsr-dlq-source-offset",
    "dsr-dlq-at",
)

DeadLetterSend = Callable[[bytes | None, bytes | None, list[tuple[str, bytes]]], Awaitable[None]]


_REQUEST_ID = re.compile(rb"^[A-Za-z0-9_-]{8,64}$")


def _loggable_key(key: bytes | None) -> str:
    """The Kafka key if it has the shape of a request id; anything else could be personal data."""
    return key.decode() if key is not None and _REQUEST_ID.match(key) else "<not a request id>"


class IncomingRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


class IntakeOutcome(StrEnum):
    STARTED = "started"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"


class IntakeHandler:
    def __init__(
        self, settings: Settings, client: Client, send_dead_letter: DeadLetterSend
    ) -> None:
        self._settings = settings
        self._client = client
        self._send_dead_letter = send_dead_letter
        self._signing_keys = settings.signing_key_ring()
        self._tuning = settings.workflow_tuning()

    async def handle(self, record: IncomingRecord) -> IntakeOutcome:
        where = {
            "partition": record.partition,
            "offset": record.offset,
            "key": _loggable_key(record.key),
        }
        try:
            event = validate_request(
                record.key,
                record.value,
                headers_dict(record.headers),
                self._signing_keys,
                self._settings.max_event_bytes,
            )
        except Rejected as rejected:
            await self._dead_letter(record, rejected)
            log.warning("event dead-lettered", reason=rejected.reason.value, **where)
            return IntakeOutcome.DEAD_LETTERED
        with structlog.contextvars.bound_contextvars(request_id=event.data.request_id):
            outcome = await self._start(event)
            log.info("event accepted", outcome=outcome.value, kind=event.data.kind.value, **where)
            return outcome

    async def _start(self, event: DsrRequestedEvent) -> IntakeOutcome:
        """Start the workflow; retry while Temporal is unreachable (the record stays un-acked)."""
        params = DsrWorkflowInput(
            event_id=event.id, event_source=event.source, request=event.data, tuning=self._tuning
        )
        delay = 0.2
        while True:
            try:
                await self._client.start_workflow(
                    DsrWorkflow.run,
                    params,
                    id=workflow_id_for(event.data.request_id),
                    task_queue=self._settings.orchestrator_task_queue,
                    # Exactly-once effect: a request id starts one workflow, ever.
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                )
                return IntakeOutcome.STARTED
            except WorkflowAlreadyStartedError:
                return IntakeOutcome.DUPLICATE
            except RPCError as error:
                log.warning(
                    "temporal unavailable, retrying start",
                    status=str(error.status),
                    retry_in=round(delay, 2),
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _dead_letter(self, record: IncomingRecord, rejected: Rejected) -> None:
        headers = [h for h in record.headers if h[0] not in DLQ_HEADERS]
        headers += [
            ("dsr-dlq-reason", rejected.reason.value.encode()),
            ("dsr-dlq-detail", rejected.detail.encode()[:4096]),
            ("dsr-dlq-source-topic", record.topic.encode()),
            ("dsr-dlq-source-partition", str(record.partition).encode()),
            ("dsr-dlq-source-offset", str(record.offset).encode()),
            ("dsr-dlq-at", datetime.now(UTC).isoformat().encode()),
        ]
        await self._send_dead_letter(record.key, record.value, headers)
