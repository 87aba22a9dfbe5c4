"""One way to connect to Temporal: encrypted payloads, pydantic models, the configured namespace."""

from __future__ import annotations

from temporalio.client import Client

from orchestrator.codec import encrypted_data_converter
from orchestrator.settings import Settings

__all__ = ["connect_temporal"]


async def connect_temporal(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=encrypted_data_converter(settings.payload_key_ring()),
    )
