"""Publishes `DsrStatusChanged` to `dsr.status.v1` for the portal: outcomes, no personal data."""

from __future__ import annotations

from datetime import UTC, datetime
from types import TracebackType
from uuid import uuid4

from aiokafka import AIOKafkaProducer

from orchestrator.kafka_config import aiokafka_options
from orchestrator.settings import Settings
from schemas.events import STATUS_CHANGED_TYPE, DsrStatusChangedData, DsrStatusChangedEvent
from schemas.records import RequestSummary

__all__ = ["KafkaStatusPublisher", "status_event"]

SOURCE = "urn:dsr-orchestrator"


def status_event(summary: RequestSummary) -> DsrStatusChangedEvent:
    return DsrStatusChangedEvent(
        specversion="1.0",
        id=str(uuid4()),
        source=SOURCE,
        type=STATUS_CHANGED_TYPE,
        time=datetime.now(UTC),
        datacontenttype="application/json",
        data=DsrStatusChangedData(
            request_id=summary.request_id,
            kind=summary.kind,
            status=summary.status,
            due_at=summary.due_at,
            changed_at=summary.updated_at,
            reason=summary.reason,
            systems=summary.systems,
            due_date=summary.due_date,
            extension=summary.extension,
            package=summary.package,
            restriction=summary.restriction,
        ),
    )


class KafkaStatusPublisher:
    """acks=all and an awaited send: an activity only succeeds once the broker has the event."""

    def __init__(self, settings: Settings) -> None:
        self._topic = settings.status_topic
        self._producer = AIOKafkaProducer(
            **aiokafka_options(settings),  # TLS/SASL from DSR_KAFKA_* (orchestrator.kafka_config)
            acks="all",
            linger_ms=0,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def __aenter__(self) -> KafkaStatusPublisher:
        await self.start()
        return self

    async def __aexit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def publish(self, summary: RequestSummary) -> None:
        event = status_event(summary)
        await self._producer.send_and_wait(
            self._topic,
            key=summary.request_id.encode(),
            value=event.model_dump_json().encode(),
        )
