"""Session fixtures: the real Kafka-protocol broker and the real Temporal dev server, on free
ports, started once per session with the same code `dsr up` uses."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devstack.localstack import (
    ManagedProcess,
    free_port,
    kafka_broker,
    temporal_dev_server,
    wait_until,
)

REPLAY_PAYLOAD_KEYS = "replay-fixture:NhJEpzadSVkJ5MNLRGhGFywf8JR5DMN7EFFSIqClg+Q="

# Never let a developer's `.state/local.env` leak into what the tests run.
os.environ["DSR_ENV_FILE"] = "/nonexistent/dsr-test.env"


@dataclass
class Infra:
    """Addresses of the running broker and Temporal server, and a way to crash/restart Temporal."""

    root: Path
    kafka_port: int
    temporal_port: int
    temporal: ManagedProcess
    broker: ManagedProcess
    signing_keys: str = field(default_factory=lambda: f"portal-1:{secrets.token_hex(32)}")
    # A fixed, test-only key: histories recorded by the integration tests must stay replayable
    # by tests/test_replay.py. It protects nothing but the sandbox's fake people.
    payload_keys: str = REPLAY_PAYLOAD_KEYS

    @property
    def kafka(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    def restart_temporal(self) -> None:
        """kill -9 the Temporal server, wait for it to be gone, start it on the same DB file."""
        self.temporal.kill()
        self.temporal = temporal_dev_server(
            self.temporal_port, self.root / "temporal.db", self.root / "logs"
        )

    def env(self, **extra: str) -> dict[str, str]:
        """DSR_* settings for processes of this test session (short local timeouts)."""
        return {
            "DSR_ENV_FILE": "/nonexistent/dsr-test.env",
            "DSR_KAFKA_BOOTSTRAP_SERVERS": self.kafka,
            "DSR_TEMPORAL_ADDRESS": self.temporal_address,
            "DSR_SIGNING_KEYS": self.signing_keys,
            "DSR_PAYLOAD_KEYS": self.payload_keys,
            "DSR_KAFKA_SESSION_TIMEOUT": "2.0",
            "DSR_KAFKA_HEARTBEAT_INTERVAL": "0.5",
            "DSR_KAFKA_REBALANCE_TIMEOUT": "2.0",
            "DSR_REQUESTS_PARTITIONS": "2",
            "DSR_ACTIVITY_HEARTBEAT_TIMEOUT": "3",
            "DSR_RETRY_MAXIMUM_INTERVAL": "2",
            "DSR_LOG_LEVEL": "INFO",
            **extra,
        }


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    root = tmp_path_factory.mktemp("infra")
    logs = root / "logs"
    kafka_port, temporal_port = free_port(), free_port()
    broker = kafka_broker(kafka_port, logs)
    temporal = temporal_dev_server(temporal_port, root / "temporal.db", logs)
    infra = Infra(root, kafka_port, temporal_port, temporal, broker)
    try:
        yield infra
    finally:
        infra.temporal.stop()
        infra.broker.stop()


def wait_for_file_text(path: Path, text: str, timeout: float = 30) -> None:
    wait_until(lambda: path.exists() and text in path.read_text(errors="replace"), timeout, text)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The dashboard's browser tests run last. pytest-playwright's sync API keeps a session-wide
    event loop running in the main thread from its first browser test until the session ends,
    and every later `asyncio.run` (sync fixtures seeding sandboxes, starting stacks) would then
    refuse to start. Its session fixtures are set up last, so they are torn down first, before
    any other session fixture needs the loop again."""
    browser = [item for item in items if "tests/dashboard/" in item.nodeid]
    if browser:
        others = [item for item in items if "tests/dashboard/" not in item.nodeid]
        items[:] = others + browser
