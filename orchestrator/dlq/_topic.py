"""Reading the DLQ topic: every dead letter (for `dsr dlq list` and the reconciler) or one.

Group-less consumers: reading the DLQ never moves anybody's offsets.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from orchestrator.dlq._record import DeadLetter
from orchestrator.kafka_config import aiokafka_options
from orchestrator.logging import get_logger
from orchestrator.settings import Settings

__all__ = ["declare_dlq_topic", "fetch_dead_letter", "read_dead_letters", "topic_partitions"]

log = get_logger(__name__)


@contextlib.asynccontextmanager
async def _consumer(settings: Settings) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(
        **aiokafka_options(settings),  # TLS/SASL from DSR_KAFKA_* (orchestrator.kafka_config)
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        await consumer.start()  # inside: a failed start is stopped too (no unclosed client)
        yield consumer
    finally:
        await consumer.stop()


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The topic's partitions, or none if it does not exist (yet)."""
    with contextlib.suppress(Exception):  # aiokafka raises various errors for a missing topic
        await consumer.force_metadata_update()
    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]


def _dead_letter(record: object) -> DeadLetter:
    return DeadLetter.from_record(
        record.partition,  # type: ignore[attr-defined]
        record.offset,  # type: ignore[attr-defined]
        record.key,  # type: ignore[attr-defined]
        record.value,  # type: ignore[attr-defined]
        list(record.headers or ()),  # type: ignore[attr-defined]
    )


async def read_dead_letters(settings: Settings, wait_seconds: float = 60.0) -> list[DeadLetter]:
    """Every record on the DLQ topic, oldest first per partition."""
    found: list[DeadLetter] = []
    async with _consumer(settings) as consumer:
        partitions = await topic_partitions(consumer, settings.dlq_topic)
        if not partitions:
            return found
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        async with asyncio.timeout(wait_seconds):
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    found.extend(_dead_letter(r) for r in records)
    return found


async def fetch_dead_letter(
    settings: Settings, partition: int, offset: int, wait_seconds: float = 15.0
) -> DeadLetter | None:
    """The dead letter at `partition:offset`, or None if there is none (pruned, or never)."""
    async with _consumer(settings) as consumer:
        partitions = await topic_partitions(consumer, settings.dlq_topic)
        tp = TopicPartition(settings.dlq_topic, partition)
        if tp not in partitions:
            return None
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        if offset >= end:
            return None
        consumer.seek(tp, offset)
        async with asyncio.timeout(wait_seconds):
            while await consumer.position(tp) < end:
                batch = await consumer.getmany(tp, timeout_ms=200)
                for record in batch.get(tp, []):
                    if record.offset == offset:
                        return _dead_letter(record)
                    if record.offset > offset:
                        return None  # pruned by retention: the log starts after it
    return None


async def declare_dlq_topic(settings: Settings) -> None:
    """Create the DLQ topic with its retention (`retention.ms` = DSR_DLQ_RETENTION_DAYS).

    Done before the intake's consumer starts: a broker that auto-creates topics on a metadata
    request would otherwise create it first, with the broker's default retention. An existing
    topic keeps its settings where the broker cannot alter them (the local broker); where it
    can (Kafka), the retention is set to the policy's.
    """
    retention_ms = str(int(settings.dlq_retention_days * 24 * 3600 * 1000))
    admin = AIOKafkaAdminClient(**aiokafka_options(settings))
    await admin.start()
    try:
        response = await admin.create_topics(
            [
                NewTopic(
                    settings.dlq_topic,
                    settings.requests_partitions,
                    1,
                    topic_configs={"retention.ms": retention_ms, "cleanup.policy": "delete"},
                )
            ]
        )
        errors = [error for _, error, *_ in getattr(response, "topic_errors", ())]
        if any(errors) and TopicAlreadyExistsError.errno not in errors:
            log.warning("could not create the DLQ topic", error_codes=errors)
        if TopicAlreadyExistsError.errno in errors:
            try:
                await admin.alter_configs(
                    [
                        ConfigResource(
                            ConfigResourceType.TOPIC,
                            settings.dlq_topic,
                            configs={"retention.ms": retention_ms},
                        )
                    ]
                )
            except Exception as error:  # e.g. a broker without AlterConfigs: keep its setting
                log.warning(
                    "DLQ topic exists; could not set its retention", error_type=type(error).__name__
                )
    except TopicAlreadyExistsError:
        pass
    finally:
        await admin.close()
