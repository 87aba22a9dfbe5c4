"""Intake telemetry: a span around each record (the parent of its StartWorkflow call), the
dead-letter counter, and the lag of the intake group.

Lag is `end offset - committed offset`, summed over the requests topic's partitions. End offsets
come from ListOffsets(latest) and are raised to the highest offset this process has itself
handled (+1), since a broker may understate them: the local tansu does whenever a producer
batches (LOCAL-INFRA.md), so there the figure is a lower bound; a real Kafka reports them
exactly. A partition without a committed offset counts from its first offset. Every intake
replica reports the lag of the whole group: aggregate with `max`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from opentelemetry.trace import SpanKind

from orchestrator.intake._handler import IncomingRecord, IntakeHandler, IntakeOutcome
from orchestrator.telemetry._metrics import DEAD_LETTERS, INTAKE_LAG, expose
from orchestrator.telemetry._tracing import tracer
from schemas.events import DeadLetterReason

__all__ = ["IntakeLag", "count_dead_letter", "traced_handle"]

_REASONS = frozenset(r.value for r in DeadLetterReason)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def count_dead_letter(headers: Sequence[tuple[str, bytes]]) -> None:
    """Count a dead letter the broker has acknowledged, by its `dsr-dlq-reason` header."""
    raw = next((v for k, v in headers if k == "dsr-dlq-reason"), b"").decode(errors="replace")
    DEAD_LETTERS.labels(raw if raw in _REASONS else "other").inc()


class IntakeLag:
    """Computes the intake group's lag on demand (at scrape time) and answers the Kafka probe."""

    def __init__(self, kafka_options: Mapping[str, Any], topic: str, group: str) -> None:
        """`kafka_options`: aiokafka's client arguments (`orchestrator.kafka_config`)."""
        self._options = dict(kafka_options)
        self._topic = topic
        self._group = group
        self._seen: dict[int, int] = {}
        expose(INTAKE_LAG)
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None

    def seen(self, partition: int, offset: int) -> None:
        if offset > self._seen.get(partition, -1):
            self._seen[partition] = offset

    async def _clients(self) -> tuple[AIOKafkaConsumer, AIOKafkaAdminClient]:
        if self._consumer is None or self._admin is None:
            consumer = AIOKafkaConsumer(**self._options, group_id=None, enable_auto_commit=False)
            admin = AIOKafkaAdminClient(**self._options)
            try:
                await consumer.start()
                await admin.start()
            except BaseException:
                await consumer.stop()
                await admin.close()
                raise
            self._consumer, self._admin = consumer, admin
        return self._consumer, self._admin

    async def check(self) -> None:
        """Readiness: the cluster answers a metadata request."""
        _consumer, admin = await self._clients()
        await admin.describe_cluster()

    async def lag(self) -> int:
        consumer, admin = await self._clients()
        await consumer.topics()  # fresh metadata: partitions may have been added
        partitions = sorted(consumer.partitions_for_topic(self._topic) or ())
        if not partitions:
            return 0
        tps = [TopicPartition(self._topic, p) for p in partitions]
        ends = await consumer.end_offsets(tps)
        committed = await admin.list_consumer_group_offsets(self._group, partitions=tps)
        missing = [tp for tp in tps if tp not in committed or committed[tp].offset < 0]
        starts = await consumer.beginning_offsets(missing) if missing else {}
        total = 0
        for tp in tps:
            end = max(ends.get(tp, 0), self._seen.get(tp.partition, -1) + 1)
            done = starts[tp] if tp in starts else committed[tp].offset
            total += max(end - done, 0)
        return total

    async def refresh(self) -> None:
        INTAKE_LAG.set(await self.lag())

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()
        self._consumer = self._admin = None


async def traced_handle(
    handler: IntakeHandler, record: IncomingRecord, lag: IntakeLag | None = None
) -> IntakeOutcome:
    """Handle one record inside its own span, so the workflow start is a child of it.

    The request id is set only once the record was accepted (its key then is the validated
    request id); a rejected record's key could be anything, personal data included."""
    with tracer().start_as_current_span(
        f"intake {record.topic}",
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": record.topic,
            "messaging.destination.partition.id": str(record.partition),
            "messaging.kafka.offset": record.offset,
        },
    ) as span:
        outcome = await handler.handle(record)
        span.set_attribute("dsr.intake.outcome", outcome.value)
        if outcome is not IntakeOutcome.DEAD_LETTERED and record.key is not None:
            key = record.key.decode(errors="replace")
            if _REQUEST_ID.match(key):
                span.set_attribute("dsr.request_id", key)
    if lag is not None:
        lag.seen(record.partition, record.offset)
    return outcome
