"""A dead letter is always written, whatever the record held and whatever the producer says:
bounded in size, classified by what aiokafka raised under faust's ProducerSendError, a smaller
letter when a letter is refused for good, the record kept in hand (never an exception that would
let faust ack it) when nothing can be written."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka.errors import KafkaError, KafkaTimeoutError, MessageSizeTooLargeError
from faust.exceptions import ProducerSendError

from orchestrator.dlq import OutgoingDeadLetter, SourcePosition, build_dead_letter, open_sealed
from orchestrator.dlq._record import HEADERS_CAP, KEY_CAP, VALUE_CAP
from orchestrator.intake._handler import IntakeOutcome
from orchestrator.settings import Settings
from schemas.events import DeadLetterReason
from tests.conftest import REPLAY_PAYLOAD_KEYS
from tests.intake.conftest import HandlerFactory, encode, record, signed, valid_document

# faust's default producer_max_request_size: the smaller of the two producers writing letters
PRODUCER_LIMIT = 1_000_000
POSITION = SourcePosition(topic="dsr.requests.v1", partition=0, offset=7)


def _keys() -> dict[str, bytes]:
    return dict(Settings(payload_keys=REPLAY_PAYLOAD_KEYS).payload_key_ring())


def _letter_size(letter: OutgoingDeadLetter) -> int:
    return (
        len(letter.value)
        + len(letter.key or b"")
        + sum(len(name) + len(value) for name, value in letter.headers)
    )


def _opened(letter: OutgoingDeadLetter, position: SourcePosition = POSITION) -> Any:
    return open_sealed(letter.value, keys=_keys(), position=position, now=datetime.now(UTC))


# where tests.intake.conftest.record puts a record by default
AT_ZERO = SourcePosition(topic="dsr.requests.v1", partition=0, offset=0)


def _build(**record: Any) -> OutgoingDeadLetter:
    return build_dead_letter(
        position=POSITION,
        reason=DeadLetterReason.MISSING_SIGNATURE,
        detail="headers dsr-key-id and dsr-signature required",
        keys=_keys(),
        retention=timedelta(days=30),
        max_value_bytes=256 * 1024,
        **record,
    )


def test_a_letter_is_bounded_whatever_the_key_and_headers_held() -> None:
    """The reviewer's record: a 256 KiB value and a 700 KB header (tansu accepts it), plus a
    big key and many headers: the letter stays far below the producer's limit, keeps the small
    headers, and says it is not the whole record."""
    value = b"{" + b" " * (256 * 1024 - 2) + b"}"
    headers = [
        ("x-trace", b"a" * 700_000),
        *signed(value),
        *[(f"x-{i}", b"b" * 1000) for i in range(200)],
    ]
    letter = _build(key=b"k" * 300_000, value=value, headers=headers)
    assert _letter_size(letter) < PRODUCER_LIMIT * 0.7
    original = _opened(letter)
    assert original.truncated
    assert original.value == value  # the value itself was within the event limit
    assert original.key == b"k" * KEY_CAP
    names = [name for name, _ in original.headers]
    assert "x-trace" not in names
    assert {"dsr-key-id", "dsr-signature"} <= set(names)  # small headers after it are kept
    assert 0 < len(names) < len(headers)


def test_even_a_huge_event_limit_keeps_the_letter_under_the_producer_limit() -> None:
    value = b"v" * 2_000_000
    headers = [(f"h{i}", b"x" * 60_000) for i in range(30)]
    letter = build_dead_letter(
        position=POSITION,
        key=b"req-bounded-0001",
        value=value,
        headers=headers,
        reason=DeadLetterReason.OVERSIZE,
        detail="2000000 bytes > limit 4000000",
        keys=_keys(),
        retention=timedelta(days=30),
        max_value_bytes=4_000_000,  # an operator's DSR_MAX_EVENT_BYTES far above the producer's
    )
    assert _letter_size(letter) < PRODUCER_LIMIT * 0.7
    original = _opened(letter)
    assert original.truncated and len(original.value) == VALUE_CAP
    assert sum(len(v) for _, v in original.headers) <= HEADERS_CAP


def test_a_letter_within_the_caps_is_the_whole_record_untouched() -> None:
    value = b'{"x": 1}'
    headers = signed(value)
    letter = _build(key=b"req-small-0001", value=value, headers=headers)
    original = _opened(letter)
    assert not original.truncated
    assert (original.key, original.value, original.headers) == (b"req-small-0001", value, headers)


def _wrapped(error: KafkaError) -> ProducerSendError:
    """What faust's Producer.send raises for any KafkaError of aiokafka's send."""
    try:
        raise error
    except KafkaError as exc:
        try:
            raise ProducerSendError(f"Error while sending: {exc!r}") from exc
        except ProducerSendError as wrapped:
            return wrapped


class _Producer:
    """The DLQ seam: raises the given errors in turn, then takes every letter."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.attempts: list[OutgoingDeadLetter] = []
        self.letters: list[OutgoingDeadLetter] = []

    async def send(self, letter: OutgoingDeadLetter) -> None:
        self.attempts.append(letter)
        if self.failures:
            raise self.failures.pop(0)
        self.letters.append(letter)


def _reasons(letter: OutgoingDeadLetter) -> dict[str, bytes]:
    return dict(letter.headers)


async def test_a_transient_kafka_error_wrapped_by_faust_is_waited_out(
    make_handler: HandlerFactory,
) -> None:
    """A KafkaTimeoutError (metadata wait, buffer full) under ProducerSendError: an outage,
    retried with the whole letter, not a refusal that shrinks it."""
    handler, _ = make_handler()
    producer = _Producer(_wrapped(KafkaTimeoutError()), _wrapped(KafkaTimeoutError()))
    handler._send_dead_letter = producer.send
    outcome = await handler.handle(record(b"{not json", key=b"req-timeout-0001"))
    assert outcome is IntakeOutcome.DEAD_LETTERED
    (letter,) = producer.letters
    assert len(producer.attempts) == 3
    assert _reasons(letter)["dsr-dlq-reason"] == b"not_json"
    assert _opened(letter, AT_ZERO).value == b"{not json"


async def test_a_letter_refused_for_its_size_under_faust_falls_back_to_smaller_letters(
    make_handler: HandlerFactory,
) -> None:
    """MessageSizeTooLargeError under ProducerSendError, for the whole letter and for the one
    without the value: the last resort keeps the reason and the position, nothing else."""
    handler, _ = make_handler()
    producer = _Producer(_wrapped(MessageSizeTooLargeError()), _wrapped(MessageSizeTooLargeError()))
    handler._send_dead_letter = producer.send
    incoming = record(b"{not json", key=b"req-toolarge-0001", offset=41)
    outcome = await handler.handle(incoming)
    assert outcome is IntakeOutcome.DEAD_LETTERED
    (letter,) = producer.letters
    assert len(producer.attempts) == 3
    headers = _reasons(letter)
    assert headers["dsr-dlq-reason"] == b"not_json"
    assert b"original not kept" in headers["dsr-dlq-detail"]
    assert (headers["dsr-dlq-source-partition"], headers["dsr-dlq-source-offset"]) == (
        b"0",
        b"41",
    )
    original = _opened(letter, SourcePosition(topic=incoming.topic, partition=0, offset=41))
    assert (original.key, original.value, original.headers) == (None, None, [])


async def test_when_no_letter_can_be_written_the_record_is_kept_in_hand_not_raised(
    make_handler: HandlerFactory,
) -> None:
    """Every form refused (a size refusal, and errors no Kafka error explains): handle neither
    raises (faust would ack the record) nor returns; it retries all forms with backoff, and the
    fullest letter goes once the producer takes it."""
    handler, _ = make_handler()
    producer = _Producer(
        _wrapped(MessageSizeTooLargeError()),
        ProducerSendError("No transaction producer found"),  # no KafkaError under it
        ValueError("a library bug quoting anna.lindqvist@exempel.se"),
    )
    handler._send_dead_letter = producer.send
    outcome = await asyncio.wait_for(
        handler.handle(record(b"{not json", key=b"req-stuck-0001")), timeout=10
    )
    assert outcome is IntakeOutcome.DEAD_LETTERED
    assert len(producer.attempts) == 4
    (letter,) = producer.letters
    assert _opened(letter, AT_ZERO).value == b"{not json"


async def test_a_record_kept_in_hand_stops_cleanly_on_shutdown(
    make_handler: HandlerFactory,
) -> None:
    """Nothing can be written, ever: handle keeps retrying until cancelled (the record is then
    re-delivered to the next consumer); it never ends with an exception of its own."""
    handler, _ = make_handler()

    async def refuse(letter: OutgoingDeadLetter) -> None:
        raise _wrapped(MessageSizeTooLargeError())

    handler._send_dead_letter = refuse
    task = asyncio.ensure_future(handler.handle(record(b"{not json", key=b"req-stuck-0002")))
    await asyncio.sleep(1.0)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


BAD_NAME = b"\xff\xfe-hdr".decode("utf-8", "surrogateescape")  # as the intake's consumer reads it


async def test_a_header_name_that_is_not_utf8_is_refused_without_showing_it(
    make_handler: HandlerFactory,
) -> None:
    """Signed, valid, but with a header name that is not text: `not_cloudevent`, the detail
    counts the name without its bytes, and the sealed copy keeps it as escapes (JSON cannot
    hold lone surrogates: sealing it as it is raised, which used to escape `handle`)."""
    handler, collected = make_handler()
    value = encode(valid_document("req-badname-0001"))
    headers = [*signed(value), (BAD_NAME, b"v")]
    outcome = await handler.handle(record(value, key=b"req-badname-0001", headers=headers))
    assert outcome is IntakeOutcome.DEAD_LETTERED
    (letter,) = collected.letters
    clear = _reasons(letter)
    assert clear["dsr-dlq-reason"] == b"not_cloudevent"
    assert b"not valid UTF-8" in clear["dsr-dlq-detail"]
    assert b"\xff" not in clear["dsr-dlq-detail"] and b"\\x" not in clear["dsr-dlq-detail"]
    original = _opened(letter, AT_ZERO)
    assert original.value == value and not original.truncated
    assert original.headers[-1] == ("\\udcff\\udcfe-hdr", b"v")


async def test_an_unsigned_record_with_a_bad_header_name_is_refused_as_unsigned(
    make_handler: HandlerFactory,
) -> None:
    handler, collected = make_handler()
    value = encode(valid_document("req-badname-0002"))
    outcome = await handler.handle(
        record(value, key=b"req-badname-0002", headers=[(BAD_NAME, b"v")])
    )
    assert outcome is IntakeOutcome.DEAD_LETTERED
    (letter,) = collected.letters
    assert _reasons(letter)["dsr-dlq-reason"] == b"missing_signature"
