"""The telemetry endpoint's probes against real dependencies: /readyz fails while Temporal (or,
for the intake, Kafka) is down and recovers with it, /healthz only asks whether the process
answers; and the intake lag computed against the real broker."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from devstack.localstack import free_port, temporal_dev_server
from orchestrator.settings import Settings
from orchestrator.telemetry import IntakeLag, IntakeTelemetry, ProcessTelemetry
from tests.conftest import Infra
from tests.telemetry.helpers import parse


async def _get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.get(url)


async def _until(
    url: str, accept: Callable[[httpx.Response], bool], timeout: float = 30
) -> httpx.Response:
    """GET `url` until `accept` says yes, within a deadline."""
    async with asyncio.timeout(timeout):
        while True:
            response = await _get(url)
            if accept(response):
                return response
            await asyncio.sleep(0.1)


def _settings(infra: Infra, **values: object) -> Settings:
    defaults: dict[str, object] = {
        "temporal_address": infra.temporal_address,
        "kafka_bootstrap_servers": infra.kafka,
        "payload_keys": infra.payload_keys,
        "metrics_bind": "127.0.0.1:0",
    }
    return Settings(**{**defaults, **values})  # type: ignore[arg-type]  # validated by pydantic


async def test_readyz_follows_temporal_down_and_up_while_healthz_stays_ok(
    infra: Infra, tmp_path: Path
) -> None:
    port = free_port()
    start = lambda: temporal_dev_server(port, tmp_path / "temporal.db", tmp_path / "logs")  # noqa: E731
    temporal = await asyncio.to_thread(start)
    try:
        telemetry = ProcessTelemetry(
            "dsr-test", _settings(infra, temporal_address=f"127.0.0.1:{port}")
        )
        async with telemetry:
            assert telemetry.server is not None
            base = telemetry.server.url
            assert (await _get(f"{base}/healthz")).status_code == 200
            ready = await _until(f"{base}/readyz", lambda r: r.status_code == 200)
            assert ready.text == "ready\n"

            await asyncio.to_thread(temporal.kill)
            down = await _until(f"{base}/readyz", lambda r: r.status_code != 200)
            assert down.status_code == 503
            assert down.text == "not ready: temporal\n"
            assert (await _get(f"{base}/healthz")).status_code == 200

            temporal = await asyncio.to_thread(start)
            await _until(f"{base}/readyz", lambda r: r.status_code == 200, timeout=60)

            # The same port serves metrics, the Temporal SDK's own merged in.
            metrics = parse((await _get(f"{base}/metrics")).text)
            assert metrics.value("dsr_temporal_runtime_metrics_up") == 1
            assert any(name.startswith("temporal_") for name in metrics.names())
    finally:
        await asyncio.to_thread(temporal.stop)


async def test_intake_readyz_needs_kafka_as_well(infra: Infra) -> None:
    async with IntakeTelemetry(_settings(infra)) as telemetry:
        assert telemetry.server is not None
        ready = await _until(f"{telemetry.server.url}/readyz", lambda r: r.status_code == 200)
        assert ready.text == "ready\n"

    dead_broker = f"127.0.0.1:{free_port()}"
    async with IntakeTelemetry(_settings(infra, kafka_bootstrap_servers=dead_broker)) as telemetry:
        assert telemetry.server is not None
        response = await _get(f"{telemetry.server.url}/readyz")
        assert response.status_code == 503
        assert response.text == "not ready: kafka\n"


async def test_lag_counts_what_the_group_has_not_committed(infra: Infra) -> None:
    topic, group = f"lag-{secrets.token_hex(4)}", f"lag-{secrets.token_hex(4)}"
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka, acks="all")
    await producer.start()
    # One awaited send at a time: unbatched, so even the local broker reports end offsets right.
    for partition, count in ((0, 3), (1, 2)):
        for n in range(count):
            await producer.send_and_wait(topic, f"r{n}".encode(), partition=partition)
    await producer.stop()

    lag = IntakeLag({"bootstrap_servers": infra.kafka}, topic, group)
    try:
        assert await lag.lag() == 5  # nothing committed: counted from each partition's start

        committer = AIOKafkaConsumer(bootstrap_servers=infra.kafka, group_id=group)
        await committer.start()
        tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
        committer.assign(tps)
        await committer.commit({tps[0]: 2, tps[1]: 2})
        await committer.stop()
        assert await lag.lag() == 1

        # An offset this process handled beyond what the broker reports raises the end offset
        # (the local broker understates it behind batching producers).
        lag.seen(0, 9)
        assert await lag.lag() == 8
    finally:
        await lag.close()
