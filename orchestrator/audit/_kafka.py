"""Publishing checkpoints to, and reading them back from, `settings.audit_checkpoint_topic`.

The topic is the out-of-database witness: it should be retained forever (`retention.ms=-1`, or
compacted by key, each key being unique) and writable only by the orchestrator workers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import TracebackType

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from orchestrator.audit._checkpoint import (
    ChainHead,
    ChainLink,
    CheckpointKind,
    SignedCheckpoint,
    seal_checkpoint,
)
from orchestrator.kafka_config import aiokafka_options
from orchestrator.logging import get_logger
from orchestrator.settings import Settings
from orchestrator.store import Store

__all__ = ["KafkaCheckpointPublisher", "read_published_checkpoints", "run_periodic_checkpoints"]

log = get_logger(__name__)


class KafkaCheckpointPublisher:
    """Signs the chain head (and a completed request's trail) and publishes it, acks=all: the
    `record_completion` activity succeeds only once the broker holds the checkpoint."""

    def __init__(self, settings: Settings, store: Store, private: Ed25519PrivateKey) -> None:
        self._topic = settings.audit_checkpoint_topic
        self._store = store
        self._private = private
        self._producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all", linger_ms=0)

    async def __aenter__(self) -> KafkaCheckpointPublisher:
        await self._producer.start()
        return self

    async def __aexit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        await self._producer.stop()

    async def checkpoint_completion(self, request_id: str) -> SignedCheckpoint:
        """At a request's completion: the head and every link of the request's trail."""
        trail = await self._store.audit_trail(request_id)
        links = [
            ChainLink(sequence=e.sequence, hash=e.hash)
            for e in trail
            if e.sequence is not None and e.hash is not None
        ]
        return await self._publish(CheckpointKind.COMPLETION, request_id, links)

    async def checkpoint_head(self) -> SignedCheckpoint:
        """The periodic one: just the head."""
        return await self._publish(CheckpointKind.PERIODIC, None, [])

    async def _publish(
        self, kind: CheckpointKind, request_id: str | None, trail: list[ChainLink]
    ) -> SignedCheckpoint:
        found = await self._store.audit_head()
        head = (
            None if found is None else ChainHead(sequence=found[0], hash=found[1], entries=found[2])
        )
        checkpoint = seal_checkpoint(
            self._private,
            kind=kind,
            issued_at=datetime.now(UTC),
            head=head,
            request_id=request_id,
            trail=trail,
        )
        key = f"{kind.value}/{request_id or ''}/{head.sequence if head else 0}"
        await self._producer.send_and_wait(
            self._topic, key=key.encode(), value=checkpoint.to_bytes()
        )
        log.info(
            "audit checkpoint published",
            kind=kind.value,
            request_id=request_id,
            head_sequence=head.sequence if head else None,
        )
        return checkpoint


async def run_periodic_checkpoints(
    publish: Callable[[], Awaitable[object]], interval: float, stop: asyncio.Event
) -> None:
    """Publish at start and then every `interval` seconds until `stop` is set. A failed publish
    is logged and retried at the next tick (a broker outage must not stop the worker)."""
    while not stop.is_set():
        try:
            await publish()
        except Exception as exc:
            log.warning("audit checkpoint failed", error_type=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


async def read_published_checkpoints(settings: Settings, deadline: float = 30.0) -> list[bytes]:
    """Every value on the checkpoint topic, from the beginning to the end offsets read at the
    start (raw bytes: the caller verifies them). An absent topic is no checkpoints."""
    consumer = AIOKafkaConsumer(
        **aiokafka_options(settings),
        enable_auto_commit=False,
        group_id=None,
    )
    try:
        await consumer.start()  # inside: a failed start is stopped too (no unclosed client)
        topics = await consumer.topics()
        if settings.audit_checkpoint_topic not in topics:
            return []
        ids = consumer.partitions_for_topic(settings.audit_checkpoint_topic) or set()
        partitions = [TopicPartition(settings.audit_checkpoint_topic, p) for p in sorted(ids)]
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        values: list[bytes] = []
        async with asyncio.timeout(deadline):
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                batches = await consumer.getmany(*partitions, timeout_ms=500)
                for records in batches.values():
                    values.extend(r.value for r in records if r.value is not None)
        return values
    finally:
        await consumer.stop()
