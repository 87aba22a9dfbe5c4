"""The reconciler: proof that the intake lost nothing, and repair where it did.

Run by `ReconcileWorkflow` (workflows/reconcile.py) on a Temporal Schedule that the worker
creates idempotently at start (`ensure_reconcile_schedule`; `dsr reconcile` runs one now).

Each run reads `dsr.requests.v1` from its checkpoint up to the intake group's committed
offsets — the records the intake claims to have handled (anything later is still the intake's
to do, counted as `pending`, never touched). A record is accounted for if the DLQ holds a dead
letter for its source position, or its request has a workflow in Temporal or a summary in the
store (the store survives Temporal's retention). Anything else is re-driven through the very
same `IntakeHandler` (validate → start, or dead-letter), and reported: an audit entry
(`reconciled`) and, for a started request, a status event saying why it was late.

The checkpoint is the committed offset of a consumer group of its own (`<intake group>-
reconciler`): a Kafka position kept where Kafka keeps positions (the broker's compacted offsets
log), committed per partition after that partition's records are proven; no table, no
migration, and it moves with the topic if the cluster is replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from temporalio import activity
from temporalio.client import (
    Client,
)
from temporalio.service import RPCError, RPCStatusCode

from orchestrator.dlq import OutgoingDeadLetter, read_dead_letters, request_id_shaped
from orchestrator.dlq._topic import topic_partitions
from orchestrator.intake._handler import IncomingRecord, IntakeHandler, IntakeOutcome
from orchestrator.intake._ledger import RequestLedger
from orchestrator.intake._validation import Rejected, headers_dict, validate_request
from orchestrator.kafka_config import REQUESTS_ISOLATION_LEVEL, aiokafka_options
from orchestrator.logging import get_logger
from orchestrator.schedules import ensure_interval_schedule
from orchestrator.settings import Settings
from orchestrator.store import Store
from policy.deadlines import legal_due_at
from schemas.events import DsrRequestedEvent
from schemas.reconcile import ReconcileInput, ReconcileReport, RedrivenRecord
from schemas.records import AuditAction, AuditEvent, RequestSummary
from schemas.status import RequestStatus
from schemas.workflow import workflow_id_for
from workflows.activities import StatusPublisher
from workflows.reconcile import RECONCILE_ACTIVITY, ReconcileWorkflow

__all__ = [
    "SCHEDULE_ID",
    "Reconciler",
    "checkpoint_group",
    "ensure_reconcile_schedule",
    "reconcile_workflow_id",
    "requests_reader",
]

log = get_logger(__name__)

SCHEDULE_ID = "dsr-reconcile-requests"
_LATE_REASON = "re-driven by the reconciler: the intake had not accounted for this event"


def checkpoint_group(settings: Settings) -> str:
    return f"{settings.intake_group}-reconciler"


def reconcile_workflow_id(settings: Settings) -> str:
    # A `/` cannot occur in a request id, so this never collides with `dsr-<request id>`.
    return f"reconcile/{settings.requests_topic}"


async def ensure_reconcile_schedule(client: Client, settings: Settings) -> bool:
    """Create the schedule if it does not exist (several workers may race: one wins).
    Returns whether this call created it. `DSR_RECONCILE_INTERVAL=0` turns it off."""
    return await ensure_interval_schedule(
        client,
        SCHEDULE_ID,
        ReconcileWorkflow.run,
        ReconcileInput(),
        workflow_id=reconcile_workflow_id(settings),
        task_queue=settings.orchestrator_task_queue,
        every_seconds=settings.reconcile_interval,
    )


class Reconciler:
    """The activity. Needs the store, Temporal and the broker, like the intake and the worker."""

    def __init__(
        self, settings: Settings, client: Client, store: Store, publisher: StatusPublisher
    ) -> None:
        self._settings = settings
        self._client = client
        self._store = store
        self._publisher = publisher

    @activity.defn(name=RECONCILE_ACTIVITY)
    async def reconcile_requests(self, params: ReconcileInput) -> ReconcileReport:
        settings = self._settings
        report = ReconcileReport()
        # TLS/SASL from DSR_KAFKA_* (orchestrator.kafka_config), like every Kafka client here.
        admin = AIOKafkaAdminClient(**aiokafka_options(settings))
        consumer = requests_reader(settings)
        producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all")
        try:
            # Inside: whichever start fails, all three are stopped (no unclosed client).
            await admin.start()
            await consumer.start()
            await producer.start()
            partitions = await topic_partitions(consumer, settings.requests_topic)
            if not partitions:
                return report
            handled = await admin.list_consumer_group_offsets(
                settings.intake_group, partitions=partitions
            )
            proven = await admin.list_consumer_group_offsets(
                checkpoint_group(settings), partitions=partitions
            )
            beginnings = await consumer.beginning_offsets(partitions)
            ends = await consumer.end_offsets(partitions)

            async def send_dead_letter(letter: OutgoingDeadLetter) -> None:
                await producer.send_and_wait(
                    settings.dlq_topic, key=letter.key, value=letter.value, headers=letter.headers
                )

            handler = IntakeHandler(
                settings, self._client, send_dead_letter, ledger=RequestLedger.over(self._store)
            )
            dead_lettered: set[tuple[str, int, int]] | None = None
            budget = params.max_records
            for tp in partitions:
                start = max(_offset(proven.get(tp)), beginnings[tp])
                stop = _offset(handled.get(tp))  # -1: the intake has committed nothing yet
                report.pending += max(0, ends[tp] - max(stop, start))
                if stop <= start or budget <= 0:
                    report.checkpoint[tp.partition] = start
                    continue
                stop = min(stop, start + budget)
                if dead_lettered is None:
                    dead_lettered = {
                        (d.source.topic, d.source.partition, d.source.offset)
                        for d in await read_dead_letters(settings)
                        if d.source is not None
                    }
                examined = await self._partition(
                    consumer, handler, tp, start, stop, dead_lettered, report
                )
                budget -= examined
                await consumer.commit({tp: stop})
                report.checkpoint[tp.partition] = stop
                activity.heartbeat(tp.partition, stop)
        finally:
            await producer.stop()
            await consumer.stop()
            await admin.close()
        log.info(
            "reconciled",
            examined=report.examined,
            accounted=report.accounted,
            redriven=len(report.redriven),
            pending=report.pending,
        )
        return report

    async def _partition(
        self,
        consumer: AIOKafkaConsumer,
        handler: IntakeHandler,
        tp: TopicPartition,
        start: int,
        stop: int,
        dead_lettered: set[tuple[str, int, int]],
        report: ReconcileReport,
    ) -> int:
        consumer.assign([tp])
        consumer.seek(tp, start)
        examined = 0
        async with asyncio.timeout(600):
            while await consumer.position(tp) < stop:
                batch = await consumer.getmany(tp, timeout_ms=500, max_records=500)
                for message in batch.get(tp, []):
                    if message.offset >= stop:
                        break
                    examined += 1
                    report.examined += 1
                    record = IncomingRecord(
                        topic=message.topic,
                        partition=message.partition,
                        offset=message.offset,
                        key=message.key,
                        value=message.value,
                        headers=[(k, v or b"") for k, v in message.headers or ()],
                        timestamp=(
                            datetime.fromtimestamp(message.timestamp / 1000, UTC)
                            if message.timestamp and message.timestamp > 0
                            else None
                        ),
                    )
                    if (record.topic, record.partition, record.offset) in dead_lettered or (
                        await self._has_request(record)
                    ):
                        report.accounted += 1
                        continue
                    await self._redrive(handler, record, report)
                activity.heartbeat(tp.partition, message.offset if batch else start)
        return examined

    async def _has_request(self, record: IncomingRecord) -> bool:
        """Its request has a workflow (Temporal) or a summary (the store)."""
        request_id = _request_id(record, self._settings)
        if request_id is None:
            return False
        try:
            await self._client.get_workflow_handle(workflow_id_for(request_id)).describe()
            return True
        except RPCError as error:
            if error.status is not RPCStatusCode.NOT_FOUND:
                raise
        return await self._store.has_request(request_id)

    async def _redrive(
        self, handler: IntakeHandler, record: IncomingRecord, report: ReconcileReport
    ) -> None:
        outcome = await handler.handle(record)
        event = _validated(record, self._settings)
        # the request it names (by its key, as the contract says), valid or not
        request_id = event.data.request_id if event else _request_id(record, self._settings)
        report.redriven.append(
            RedrivenRecord(
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                request_id=request_id,
                outcome=outcome.value,
            )
        )
        position = f"{record.topic}/{record.partition}@{record.offset}"
        log.warning("unaccounted record re-driven", position=position, outcome=outcome.value)
        now = datetime.now(UTC)
        await self._store.append_audit(
            AuditEvent(
                request_id=request_id
                or f"record-{record.topic}-{record.partition}-{record.offset}",
                action=AuditAction.RECONCILED,
                actor="reconciler",
                at=now,
                details={"source": position, "outcome": outcome.value},
                dedupe_key=f"reconciled:{position}:{uuid.uuid4()}",
            )
        )
        if event is not None and outcome is IntakeOutcome.STARTED:
            data = event.data
            with contextlib.suppress(Exception):  # the status is a courtesy; the audit is proof
                await self._publisher.publish(
                    RequestSummary(
                        request_id=data.request_id,
                        kind=data.kind,
                        channel=data.channel,
                        status=RequestStatus.RECEIVED,
                        received_at=data.received_at,
                        due_at=legal_due_at(data.received_at),
                        updated_at=now,
                        reason=_LATE_REASON,
                    )
                )


def requests_reader(settings: Settings) -> AIOKafkaConsumer:
    """The reconciler's consumer of the requests topic: its own checkpoint group, committing by
    hand, reading what the intake reads (committed records only) and nothing it never would."""
    return AIOKafkaConsumer(
        **aiokafka_options(settings),
        group_id=checkpoint_group(settings),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level=REQUESTS_ISOLATION_LEVEL,
    )


def _offset(committed: object) -> int:
    offset = getattr(committed, "offset", -1)
    return int(offset) if offset is not None else -1


def _validated(
    record: IncomingRecord, settings: Settings, *, key_required: bool = True
) -> DsrRequestedEvent | None:
    try:
        return validate_request(
            record.key,
            record.value,
            headers_dict(record.headers),
            settings.signing_key_ring(),
            settings.max_event_bytes,
            arrived_at=record.timestamp,
            clock_skew=timedelta(seconds=settings.clock_skew_allowance),
            key_required=key_required,
        )
    except Rejected:
        return None


def _request_id(record: IncomingRecord, settings: Settings) -> str | None:
    """The request the record is about: its key (the contract), if it has the shape of one, or
    else the event's own id (a keyless record an older intake accepted has its workflow)."""
    if record.key is not None and request_id_shaped(record.key):
        return record.key.decode()
    event = _validated(record, settings, key_required=False)
    return event.data.request_id if event else None
