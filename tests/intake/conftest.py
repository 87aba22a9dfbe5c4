"""In-process intake: the real `IntakeHandler` against the session's real Temporal server, with
the DLQ send collected in memory (the Kafka producer is the transport seam)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import Client

from orchestrator.datakeys import DataKeyRing
from orchestrator.dlq import OutgoingDeadLetter
from orchestrator.intake._handler import IncomingRecord, IntakeHandler
from orchestrator.settings import Settings
from orchestrator.signing import signature_headers
from orchestrator.temporal_client import connect_temporal
from tests.conftest import Infra

SIGNING_KEYS = {"portal-1": b"fuzz-signing-secret-one", "portal-2": b"fuzz-signing-secret-two"}


def intake_settings(infra: Infra, **extra: Any) -> Settings:
    return Settings(
        kafka_bootstrap_servers=infra.kafka,
        temporal_address=infra.temporal_address,
        signing_keys=",".join(f"{k}:{v.decode()}" for k, v in SIGNING_KEYS.items()),
        payload_keys=infra.payload_keys,
        # a queue no worker serves: a workflow started by mistake stays visible, never runs
        orchestrator_task_queue=f"intake-test-{secrets.token_hex(4)}",
        **extra,
    )


@dataclass
class Collected:
    letters: list[OutgoingDeadLetter] = field(default_factory=list)

    async def send(self, letter: OutgoingDeadLetter) -> None:
        self.letters.append(letter)


@pytest.fixture(scope="session")
async def intake_client(infra: Infra) -> Client:
    """The intake's client: it makes the data keys of the requests it starts, here in a store
    of the session's own folder (the default ./dsr.db would land in the checkout)."""
    settings = intake_settings(infra)
    keys = DataKeyRing(
        settings.payload_key_ring(), f"sqlite+aiosqlite:///{infra.root / 'intake-keys.db'}"
    )
    return await connect_temporal(settings, keys)


def valid_document(request_id: str | None = None, **data: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "specversion": "1.0",
        "id": secrets.token_hex(16),
        "source": "urn:portal:test",
        "type": "dsr.requested.v1",
        "time": now.isoformat(),
        "datacontenttype": "application/json",
        "data": {
            "request_id": request_id or f"in-{secrets.token_hex(6)}",
            "kind": "access",
            "received_at": (now - timedelta(minutes=5)).isoformat(),
            "channel": "portal",
            "subject": {"email": "anna.lindqvist@exempel.se"},
            "verification": {"method": "portal_login", "verified_at": now.isoformat()},
            **data,
        },
    }


def signed(value: bytes, key_id: str = "portal-1") -> list[tuple[str, bytes]]:
    return signature_headers(value, key_id, SIGNING_KEYS[key_id])


def record(
    value: bytes | None,
    *,
    key: bytes | None,
    headers: list[tuple[str, bytes]] | None = None,
    offset: int = 0,
) -> IncomingRecord:
    return IncomingRecord(
        topic="dsr.requests.v1",
        partition=0,
        offset=offset,
        key=key,
        value=value,
        headers=headers if headers is not None else signed(value or b""),
    )


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


HandlerFactory = Callable[..., tuple[IntakeHandler, Collected]]


@pytest.fixture
def make_handler(infra: Infra, intake_client: Client) -> HandlerFactory:
    def make(client: Any = None, **extra: Any) -> tuple[IntakeHandler, Collected]:
        collected = Collected()
        handler = IntakeHandler(
            intake_settings(infra, **extra), client or intake_client, collected.send
        )
        return handler, collected

    return make
