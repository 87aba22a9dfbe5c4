"""API tests run against the shared running desk (see desk_stack.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from temporalio.client import Client

from orchestrator.store import Store
from orchestrator.temporal_client import connect_temporal
from tests.api._inproc import FakeTemporal, app_for, settings_for, sqlite_store
from tests.api.desk_stack import (  # noqa: F401 - the fixture registers by import
    DeskStack,
    desk,
    known_requests,
)


@pytest.fixture(scope="session")
async def desk_producer(desk: DeskStack) -> AsyncIterator[AIOKafkaProducer]:  # noqa: F811
    producer = AIOKafkaProducer(bootstrap_servers=desk.stack.infra.kafka, acks="all")
    await producer.start()
    yield producer
    await producer.stop()


@pytest.fixture(scope="session")
async def desk_temporal(desk: DeskStack) -> Client:  # noqa: F811
    return await connect_temporal(desk.stack.settings)


# ── fixtures: the seeded desk behind the app, with a fake Temporal (the in-process tests') ─────
@pytest.fixture
async def seeded(tmp_path: Path) -> AsyncIterator[Store]:
    async with sqlite_store(str(tmp_path / "dsr.db")) as store:
        for summary in known_requests():
            await store.upsert_request(summary)
        yield store


@pytest.fixture
def temporal() -> FakeTemporal:
    return FakeTemporal()


@pytest.fixture
def app(seeded: Store, temporal: FakeTemporal, tmp_path: Path) -> FastAPI:
    return app_for(seeded, temporal, settings_for(f"sqlite+aiosqlite:///{tmp_path / 'dsr.db'}"))
