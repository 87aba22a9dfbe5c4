"""One record, exactly one outcome: a workflow, or a dead letter with a reason — whatever the
input, whatever the libraries underneath raise; only outages are waited out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from orchestrator.dlq import SourcePosition, open_sealed
from orchestrator.intake._handler import IntakeOutcome
from orchestrator.store import Store
from schemas.events import Channel, RequestKind
from schemas.records import RequestSummary
from schemas.status import RequestStatus
from schemas.workflow import workflow_id_for
from tests.conftest import Infra
from tests.intake.conftest import (
    HandlerFactory,
    encode,
    intake_settings,
    record,
    signed,
    valid_document,
)

pytestmark = pytest.mark.integration


def _headers(letter: Any) -> dict[str, bytes]:
    return dict(letter.headers)


async def test_deeply_nested_json_is_dead_lettered_not_a_crash(
    make_handler: HandlerFactory,
) -> None:
    """The poison pill of issue 8: 100000 `[` made json.loads raise RecursionError."""
    handler, collected = make_handler()
    value = b"[" * 100_000
    outcome = await handler.handle(record(value, key=b"req-nested-0001"))
    assert outcome is IntakeOutcome.DEAD_LETTERED
    (letter,) = collected.letters
    assert _headers(letter)["dsr-dlq-reason"] == b"not_json"
    assert b"depth" in _headers(letter)["dsr-dlq-detail"]


class _Refusing:
    """Temporal's answer at the RPC seam: a refusal about this record, or an outage."""

    def __init__(self, *statuses: RPCStatusCode, then: Client | None = None) -> None:
        self.statuses = list(statuses)
        self.then = then
        self.calls = 0

    async def start_workflow(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.statuses:
            status = self.statuses.pop(0)
            raise RPCError("refused: anna.lindqvist@exempel.se", status, b"")
        assert self.then is not None
        return await self.then.start_workflow(*args, **kwargs)


class _Exploding:
    async def start_workflow(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError("library bug quoting anna.lindqvist@exempel.se")


@pytest.mark.parametrize(
    ("client", "detail"),
    [
        (_Refusing(RPCStatusCode.INVALID_ARGUMENT), b"RPCError"),
        (_Exploding(), b"ValueError"),
    ],
)
async def test_any_other_error_dead_letters_as_unprocessable_with_the_type_only(
    make_handler: HandlerFactory, client: Any, detail: bytes
) -> None:
    handler, collected = make_handler(client)
    value = encode(valid_document("req-unprocessable"))
    outcome = await handler.handle(record(value, key=b"req-unprocessable"))
    assert outcome is IntakeOutcome.DEAD_LETTERED
    (letter,) = collected.letters
    headers = _headers(letter)
    assert headers["dsr-dlq-reason"] == b"unprocessable"
    assert headers["dsr-dlq-detail"] == detail
    assert b"anna" not in b"".join(v for _, v in letter.headers)


async def test_temporal_outages_are_waited_out_then_the_workflow_starts(
    make_handler: HandlerFactory, intake_client: Client
) -> None:
    client = _Refusing(
        RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, then=intake_client
    )
    handler, collected = make_handler(client)
    document = valid_document()
    rid = document["data"]["request_id"]
    outcome = await handler.handle(record(encode(document), key=rid.encode()))
    assert outcome is IntakeOutcome.STARTED and client.calls == 3
    assert collected.letters == []
    description = await intake_client.get_workflow_handle(workflow_id_for(rid)).describe()
    assert description.id == workflow_id_for(rid)
    await intake_client.get_workflow_handle(workflow_id_for(rid)).terminate("test done")
    # the same record again: a no-op
    again = await make_handler()[0].handle(record(encode(document), key=rid.encode()))
    assert again is IntakeOutcome.DUPLICATE


class _StoreDown:
    """The store behind the codec's data keys, down twice (what asyncpg and aiosqlite raise
    through `start_workflow` when the database refuses or drops the connection), then back."""

    def __init__(self, then: Client) -> None:
        self.failures: list[BaseException] = [
            ConnectionRefusedError(111, "refused"),
            ConnectionResetError(104, "reset"),
        ]
        self.then = then
        self.calls = 0

    async def start_workflow(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return await self.then.start_workflow(*args, **kwargs)


async def test_a_store_outage_is_waited_out_not_dead_lettered(
    make_handler: HandlerFactory, intake_client: Client
) -> None:
    client = _StoreDown(intake_client)
    handler, collected = make_handler(client)
    document = valid_document()
    rid = document["data"]["request_id"]
    outcome = await handler.handle(record(encode(document), key=rid.encode()))
    assert outcome is IntakeOutcome.STARTED and client.calls == 3
    assert collected.letters == []
    await intake_client.get_workflow_handle(workflow_id_for(rid)).terminate("test done")


async def _what_sqlalchemy_raises(error: BaseException) -> BaseException:
    """The exception SQLAlchemy's asyncpg dialect raises when connecting fails with `error`."""
    import sqlalchemy.exc
    from sqlalchemy.ext.asyncio import create_async_engine

    async def refuse() -> Any:
        raise error

    engine = create_async_engine("postgresql+asyncpg://", async_creator=refuse)
    try:
        async with engine.connect():
            pass
    except sqlalchemy.exc.SQLAlchemyError as raised:
        return raised
    finally:
        await engine.dispose()
    raise AssertionError("connecting did not fail")


async def test_a_store_recovering_from_a_crash_is_waited_out_not_dead_lettered(
    make_handler: HandlerFactory, intake_client: Client
) -> None:
    """Right after a crash PostgreSQL answers 57P03 ("the database system is starting up"),
    and SQLAlchemy raises a bare DBAPIError for it: the fault suite's store crash found good
    requests dead-lettered as unprocessable that way."""
    import asyncpg

    client = _StoreDown(intake_client)
    client.failures = [
        await _what_sqlalchemy_raises(asyncpg.exceptions.CannotConnectNowError("starting up")),
        await _what_sqlalchemy_raises(asyncpg.exceptions.CrashShutdownError("crash shutdown")),
    ]
    assert [type(f).__name__ for f in client.failures] == ["DBAPIError", "DBAPIError"]
    handler, collected = make_handler(client)
    document = valid_document()
    rid = document["data"]["request_id"]
    outcome = await handler.handle(record(encode(document), key=rid.encode()))
    assert outcome is IntakeOutcome.STARTED and client.calls == 3
    assert collected.letters == []
    await intake_client.get_workflow_handle(workflow_id_for(rid)).terminate("test done")


async def test_a_broker_outage_keeps_the_record_in_hand_until_the_dlq_takes_it(
    make_handler: HandlerFactory,
) -> None:
    handler, collected = make_handler()
    failures = [KafkaConnectionError(), KafkaConnectionError()]
    real_send = handler._send_dead_letter

    async def flaky(letter: Any) -> None:
        if failures:
            raise failures.pop()
        await real_send(letter)

    handler._send_dead_letter = flaky
    outcome = await handler.handle(record(b"{not json", key=b"req-brokerdown1"))
    assert outcome is IntakeOutcome.DEAD_LETTERED and not failures
    assert len(collected.letters) == 1


async def test_dead_letters_are_sealed_and_carry_no_personal_data(
    make_handler: HandlerFactory, infra: Infra
) -> None:
    handler, collected = make_handler()
    document = valid_document(kind="erasure")
    document["data"]["kind"] = "delete_everything"
    value = encode(document)
    headers = [*signed(value), ("x-customer", b"anna.lindqvist@exempel.se")]
    incoming = record(value, key=b"anna.lindqvist@exempel.se", headers=headers, offset=41)
    assert await handler.handle(incoming) is IntakeOutcome.DEAD_LETTERED
    (letter,) = collected.letters
    everything = letter.value + b"".join(k.encode() + v for k, v in letter.headers)
    assert b"anna" not in everything and b"lindqvist" not in everything
    assert letter.key is None, "a key that is not a request id is not kept in the clear"
    got = _headers(letter)
    assert got["dsr-dlq-reason"] == b"schema_violation"
    assert b"data.kind" in got["dsr-dlq-detail"]
    assert got["dsr-dlq-source-offset"] == b"41"
    assert got["dsr-dlq-key-id"] == b"replay-fixture"
    assert got["dsr-dlq-expires-at"] > got["dsr-dlq-at"]

    from datetime import UTC, datetime

    keys = intake_settings(infra).payload_key_ring()
    original = open_sealed(
        letter.value,
        keys=keys,
        position=SourcePosition(topic="dsr.requests.v1", partition=0, offset=41),
        now=datetime.now(UTC),
    )
    assert original.value == value and original.key == incoming.key
    assert original.headers == headers


async def test_a_request_the_store_knows_is_a_duplicate_after_temporal_forgot_it(
    make_handler: HandlerFactory, intake_client: Client, tmp_path: Path
) -> None:
    """Temporal deletes a closed workflow after the namespace's retention (a day on the dev
    server); the same event coming back later (re-sent, re-driven, a topic read from the
    start) must not run the request again: the store, which outlives Temporal, says it ran."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'dsr.db'}"
    done = valid_document()
    done_id = done["data"]["request_id"]
    at = datetime.now(UTC) - timedelta(days=40)
    async with await Store.open(url) as store:
        await store.upsert_request(
            RequestSummary(
                request_id=done_id,
                kind=RequestKind.ACCESS,
                channel=Channel.PORTAL,
                status=RequestStatus.COMPLETED,
                received_at=at,
                due_at=at + timedelta(days=30),
                updated_at=at + timedelta(days=2),
                completed_at=at + timedelta(days=2),
            )
        )
    handler, collected = make_handler(database_url=url)
    try:
        outcome = await handler.handle(record(encode(done), key=done_id.encode()))
        assert outcome is IntakeOutcome.DUPLICATE
        with pytest.raises(RPCError) as missing:  # nothing was started for it
            await intake_client.get_workflow_handle(workflow_id_for(done_id)).describe()
        assert missing.value.status is RPCStatusCode.NOT_FOUND

        fresh = valid_document()  # a request id the store has never seen starts as before
        fresh_id = fresh["data"]["request_id"]
        outcome = await handler.handle(record(encode(fresh), key=fresh_id.encode()))
        assert outcome is IntakeOutcome.STARTED
        await intake_client.get_workflow_handle(workflow_id_for(fresh_id)).terminate("test done")
    finally:
        await handler.aclose()
    assert collected.letters == []
