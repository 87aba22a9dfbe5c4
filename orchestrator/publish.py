"""Publishing a signed `DsrRequested` event, exactly as the portal does (used by `dsr submit`)."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from orchestrator.kafka_config import aiokafka_options
from orchestrator.settings import Settings
from orchestrator.signing import signature_headers
from schemas.events import DsrRequestedEvent

__all__ = ["encode_request", "publish_request"]


def encode_request(event: DsrRequestedEvent) -> bytes:
    return event.model_dump_json(exclude_none=True).encode()


async def publish_request(
    settings: Settings, event: DsrRequestedEvent, key_id: str, secret: bytes
) -> None:
    value = encode_request(event)
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all")
    try:
        await producer.start()  # inside: a failed start is stopped too (no unclosed client)
        await producer.send_and_wait(
            settings.requests_topic,
            key=event.data.request_id.encode(),
            value=value,
            headers=signature_headers(value, key_id, secret),
        )
    finally:
        await producer.stop()
