"""The real intake process (`dsr intake`: faust, its aiokafka consumer and producer) against the
real broker: records the broker accepts but that broke the intake end as exactly one dead letter,
and the records after them still become workflows.

- A 256 KiB value with a 700 KB header (tansu takes it): its letter used to exceed faust's
  producer_max_request_size, faust raised ProducerSendError, the exception escaped the handler
  and faust committed past the record — lost.
- A header name that is not UTF-8: aiokafka's batch parser raised UnicodeDecodeError on every
  fetch at that position — "Fetcher Crashed", the intake restart-looped, the partition stalled.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from devstack.localstack import ManagedProcess
from orchestrator.dlq import DeadLetter, read_dead_letters
from orchestrator.intake._header_names import LenientHeaderConsumer
from orchestrator.settings import Settings
from orchestrator.signing import signature_headers
from schemas.workflow import workflow_id_for
from tests.conftest import Infra
from tests.intake.conftest import valid_document

pytestmark = pytest.mark.integration

# A producer whose records aiokafka's pure-Python builder writes (AIOKAFKA_NO_EXTENSIONS=1),
# so a header name can be bytes that are not UTF-8, as a non-Java producer can send.
_BAD_NAME_PRODUCER = """
import asyncio, sys
from aiokafka import AIOKafkaProducer
class BadName(str):
    def encode(self, *args, **kwargs):
        return b"\\xff\\xfe-hdr"
async def main(broker, topic, key, value, key_id, signature):
    producer = AIOKafkaProducer(bootstrap_servers=broker, acks="all")
    await producer.start()
    headers = [("dsr-key-id", key_id.encode()), ("dsr-signature", signature.encode()),
               (BadName("x"), b"v")]
    meta = await producer.send_and_wait(topic, key=key.encode(), value=value.encode(),
                                        headers=headers, partition=0)
    await producer.stop()
    print(meta.offset)
asyncio.run(main(*sys.argv[1:]))
"""


@dataclass
class RunningIntake:
    settings: Settings
    process: ManagedProcess
    log: Path
    secret: bytes

    def signed(self, value: bytes) -> list[tuple[str, bytes]]:
        return signature_headers(value, "portal-1", self.secret)


@pytest.fixture(scope="module")
def running_intake(
    infra: Infra, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningIntake]:
    root = tmp_path_factory.mktemp("poison")
    tag = secrets.token_hex(4)
    env = infra.env(
        DSR_REQUESTS_TOPIC=f"poison-{tag}",
        DSR_DLQ_TOPIC=f"poison-{tag}.dlq",
        DSR_INTAKE_GROUP=f"poison-intake-{tag}",
        DSR_INTAKE_DATADIR=str(root / "intake-data"),
        DSR_REQUESTS_PARTITIONS="1",
        DSR_ORCHESTRATOR_TASK_QUEUE=f"poison-{tag}",  # no worker: workflows only start
    )
    settings = Settings(
        kafka_bootstrap_servers=infra.kafka,
        temporal_address=infra.temporal_address,
        signing_keys=infra.signing_keys,
        payload_keys=infra.payload_keys,
        requests_topic=env["DSR_REQUESTS_TOPIC"],
        dlq_topic=env["DSR_DLQ_TOPIC"],
        intake_group=env["DSR_INTAKE_GROUP"],
        requests_partitions=1,
    )
    log = root / "logs" / "intake.log"
    process = ManagedProcess(  # in its own folder: the default store (./dsr.db) lands there
        "intake", [sys.executable, "-m", "orchestrator.cli", "intake"], log, env=env, cwd=root
    ).start()
    secret = infra.signing_keys.split(":", 1)[1].encode()
    try:
        yield RunningIntake(settings, process, log, secret)
    finally:
        process.stop()


@pytest.fixture
async def producer(infra: Infra) -> AsyncIterator[AIOKafkaProducer]:
    # Big enough for the 956 KB record the broker accepts (the intake's letters stay small).
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka, acks="all", max_request_size=2_000_000
    )
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def _good_request(intake: RunningIntake, producer: AIOKafkaProducer) -> tuple[str, int]:
    document = valid_document()
    rid = document["data"]["request_id"]
    value = json.dumps(document).encode()
    meta = await producer.send_and_wait(
        intake.settings.requests_topic,
        key=rid.encode(),
        value=value,
        headers=intake.signed(value),
        partition=0,
    )
    return rid, meta.offset


async def _workflow_started(client: Client, request_id: str, timeout: float = 90) -> None:
    handle = client.get_workflow_handle(workflow_id_for(request_id))
    async with asyncio.timeout(timeout):
        while True:
            try:
                await handle.describe()
                break
            except RPCError as error:
                if error.status is not RPCStatusCode.NOT_FOUND:
                    raise
                await asyncio.sleep(0.2)
    await handle.terminate("test done")


async def _letters_for(intake: RunningIntake, offset: int, timeout: float = 90) -> list[DeadLetter]:
    async with asyncio.timeout(timeout):
        while True:
            letters = [
                letter
                for letter in await read_dead_letters(intake.settings, wait_seconds=30)
                if letter.source is not None and letter.source.offset == offset
            ]
            if letters:
                return letters
            await asyncio.sleep(0.3)


def _assert_never_crashed(intake: RunningIntake) -> None:
    assert intake.process.ensure_alive()
    text = intake.log.read_text(errors="replace")
    for crash in ("Fetcher Crashed", "We experienced a crash", "ProducerSendError", "Traceback"):
        assert crash not in text, crash


async def test_a_record_with_a_700_kb_header_ends_as_one_dead_letter_and_the_next_starts(
    running_intake: RunningIntake, producer: AIOKafkaProducer, intake_client: Client
) -> None:
    value = b"{" + b" " * (256 * 1024 - 2) + b"}"
    big = await producer.send_and_wait(
        running_intake.settings.requests_topic,
        key=b"req-big-hdr-0001",
        value=value,
        headers=[("x-trace", b"a" * 700_000)],
        partition=0,
    )
    rid, _ = await _good_request(running_intake, producer)
    await _workflow_started(intake_client, rid)
    (letter,) = await _letters_for(running_intake, big.offset)
    assert letter.reason == "missing_signature"
    assert len(letter.sealed) < 600_000
    await asyncio.sleep(2)  # a second letter (a retry writing it twice) would be there by now
    assert len(await _letters_for(running_intake, big.offset)) == 1
    _assert_never_crashed(running_intake)


async def test_a_header_name_that_is_not_utf8_is_dead_lettered_and_the_partition_moves_on(
    running_intake: RunningIntake, producer: AIOKafkaProducer, intake_client: Client
) -> None:
    before, _ = await _good_request(running_intake, producer)
    document = valid_document()
    poison_id = document["data"]["request_id"]
    value = json.dumps(document)
    ((_, key_id), (_, signature)) = running_intake.signed(value.encode())
    produced = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-c",
            _BAD_NAME_PRODUCER,
            running_intake.settings.kafka_bootstrap_servers,
            running_intake.settings.requests_topic,
            poison_id,
            value,
            key_id.decode(),
            signature.decode(),
        ],
        env={"AIOKAFKA_NO_EXTENSIONS": "1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        check=True,
        timeout=60,
    )
    poison_offset = int(produced.stdout.split()[-1])
    after, _ = await _good_request(running_intake, producer)

    await _workflow_started(intake_client, before)
    await _workflow_started(intake_client, after)
    (letter,) = await _letters_for(running_intake, poison_offset)
    assert letter.reason == "not_cloudevent"
    assert "not valid UTF-8" in letter.detail
    assert "\\xff" not in letter.detail and "\ufffd" not in letter.detail
    assert letter.request_id == poison_id
    _assert_never_crashed(running_intake)
    # and the signed event itself was not started: the broken envelope is refused
    with pytest.raises(RPCError):
        await intake_client.get_workflow_handle(workflow_id_for(poison_id)).describe()

    # The helper the reconciler's reader can use reads past it too (see _transport).
    consumer = LenientHeaderConsumer(
        bootstrap_servers=running_intake.settings.kafka_bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        tp = TopicPartition(running_intake.settings.requests_topic, 0)
        consumer.assign([tp])
        consumer.seek(tp, poison_offset)
        got = await consumer.getone()
        assert got.offset == poison_offset
        assert [name for name, _ in got.headers][-1] == b"\xff\xfe-hdr".decode(
            "utf-8", "surrogateescape"
        )
    finally:
        await consumer.stop()
