"""API tests run against the shared running desk (see desk_stack.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer
from temporalio.client import Client

from orchestrator.temporal_client import connect_temporal
from tests.api.desk_stack import DeskStack, desk  # noqa: F401 - the fixture registers by import


@pytest.fixture(scope="session")
async def desk_producer(desk: DeskStack) -> AsyncIterator[AIOKafkaProducer]:  # noqa: F811
    producer = AIOKafkaProducer(bootstrap_servers=desk.stack.infra.kafka, acks="all")
    await producer.start()
    yield producer
    await producer.stop()


@pytest.fixture(scope="session")
async def desk_temporal(desk: DeskStack) -> Client:  # noqa: F811
    return await connect_temporal(desk.stack.settings)
