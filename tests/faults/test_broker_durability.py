"""The persistent broker itself, without the intake: tansu on its s3 engine keeps every record it
acknowledged across kill -9, because the S3 server devstack runs honours conditional writes.

Why this test exists: s3rver ignores `If-None-Match: *` and `If-Match`, on which tansu builds
its watermarks, topic metadata and record batches; a restarted broker then "created" every
watermark afresh at 0 and overwrote acknowledged batches at the reused offsets (60 of 65
acknowledged records gone after three restarts). Both halves are checked: the S3 server refuses
a conditional write that must fail, and the broker loses nothing acknowledged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from botocore.config import Config
from botocore.exceptions import ClientError

from devstack.localstack import (
    S3RVER,
    S3RVER_CREDENTIALS,
    ManagedProcess,
    free_port,
    kafka_broker,
    s3_server,
)
from tests.faults.conftest import report

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(not S3RVER.exists(), reason="s3rver is not installed (make installs it)"),
]

TOPIC = "durability"
RESTARTS = 3
PER_ROUND = 20


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    port = free_port()
    process, env = s3_server(port, tmp_path / "s3", tmp_path / "logs", bucket="tansu")
    try:
        yield port, env
    finally:
        process.stop()


def test_the_s3_server_refuses_a_conditional_write_that_must_fail(
    s3: tuple[int, dict[str, str]],
) -> None:
    port, _ = s3
    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id=S3RVER_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3RVER_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        # s3rver stores an aws-chunked body as sent: checksums only where S3 requires them.
        config=Config(
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": "path"},
        ),
    )
    first = client.put_object(Bucket="tansu", Key="w.json", Body=b"1", IfNoneMatch="*")
    with pytest.raises(ClientError) as exists:
        client.put_object(Bucket="tansu", Key="w.json", Body=b"2", IfNoneMatch="*")
    assert exists.value.response["Error"]["Code"] == "PreconditionFailed"
    second = client.put_object(Bucket="tansu", Key="w.json", Body=b"2", IfMatch=first["ETag"])
    with pytest.raises(ClientError) as stale:  # the version it read is no longer there
        client.put_object(Bucket="tansu", Key="w.json", Body=b"3", IfMatch=first["ETag"])
    assert stale.value.response["Error"]["Code"] == "PreconditionFailed"
    assert client.get_object(Bucket="tansu", Key="w.json")["Body"].read() == b"2"
    assert second["ETag"] != first["ETag"]


async def _produce(port: int, tag: str) -> list[str]:
    """PER_ROUND records sent at once (so the producer batches them); the keys acknowledged."""
    producer = AIOKafkaProducer(bootstrap_servers=f"127.0.0.1:{port}", acks="all")
    await producer.start()

    async def one(key: str) -> str | None:
        try:
            await producer.send_and_wait(TOPIC, key=key.encode(), value=b"x")
            return key
        except KafkaError:
            return None

    try:
        sent = await asyncio.gather(*(one(f"{tag}-{i}") for i in range(PER_ROUND)))
    finally:
        await producer.stop()
    return [key for key in sent if key is not None]


async def _read_all(port: int) -> list[str]:
    """Every key of the topic, read from offset 0 of each partition (never ListOffsets)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=f"127.0.0.1:{port}", group_id=None)
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(TOPIC, p) for p in consumer.partitions_for_topic(TOPIC) or ()]
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, 0)
        keys: list[str] = []
        while batch := await consumer.getmany(timeout_ms=2000):
            keys += [r.key.decode() for records in batch.values() for r in records if r.key]
        return keys
    finally:
        await consumer.stop()


async def _create_topic(port: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}")
    await admin.start()
    try:
        await admin.create_topics([NewTopic(TOPIC, 2, 1)])
    finally:
        await admin.close()


@pytest.mark.timeout(300)
def test_every_acknowledged_record_survives_broker_kills(
    s3: tuple[int, dict[str, str]], tmp_path: Path
) -> None:
    _, env = s3
    port = free_port()

    def start() -> ManagedProcess:
        return kafka_broker(port, tmp_path / "logs", storage_engine="s3://tansu/", env=env)

    broker = start()
    acknowledged: list[str] = []
    try:
        asyncio.run(_create_topic(port))
        for round_ in range(RESTARTS):
            acknowledged += asyncio.run(_produce(port, f"r{round_}"))
            broker.kill()
            broker = start()
        acknowledged += asyncio.run(_produce(port, "after"))
        in_topic = asyncio.run(_read_all(port))
    finally:
        broker.stop()
    lost = sorted(set(acknowledged) - set(in_topic))
    duplicated = len(in_topic) - len(set(in_topic))
    report(
        "broker kill -9, the broker alone",
        faults=RESTARTS,
        requests=len(acknowledged),
        lost=len(lost),
        duplicated=duplicated,
    )
    assert len(acknowledged) == (RESTARTS + 1) * PER_ROUND
    assert lost == [] and duplicated == 0
