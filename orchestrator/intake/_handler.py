"""The intake decision for one Kafka record: start exactly one workflow, or dead-letter it.

Kept free of faust so it can be reasoned about (and tested) on its own; the faust agent is a
thin adapter around it. Nothing is lost: the agent acknowledges the record only after this
returns, and this returns only once Temporal acknowledged the start (or knew it already) or the
dead-letter topic acknowledged the record.

`handle` never raises for a record (faust acknowledges the record of an agent that crashed, so
an exception would lose it): a refused event is dead-lettered with its reason, any unexpected
error with reason `unprocessable` and the exception's type as detail (never its message, which
may quote values). Only a transient outage — Temporal or the broker unreachable — keeps the
record in hand, retried with backoff until it passes or the process is stopped (then the
record is re-delivered to the next consumer).

Writing the dead letter cannot fail for good either (`dead_letter`): the letter is bounded in
size whatever the record held (`orchestrator.dlq._record`); should the producer still refuse it,
a letter without the value is tried, then a last-resort letter holding only the reason, the
detail and the source position; and should even that be refused, the record stays in hand,
all three retried with backoff like an outage — never an exception that would ack it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TypeVar

import asyncpg
import sqlalchemy.exc
import structlog
from aiokafka.errors import (
    CorruptRecordException,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from pydantic import BaseModel, ConfigDict
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from orchestrator.dlq import (
    DLQ_HEADERS,
    DeadLetterSealer,
    OutgoingDeadLetter,
    SourcePosition,
    build_dead_letter,
    request_id_shaped,
)
from orchestrator.intake._ledger import RequestLedger
from orchestrator.intake._validation import Rejected, headers_dict, validate_request
from orchestrator.logging import get_logger
from orchestrator.settings import Settings
from orchestrator.signing import is_signed
from schemas.events import DeadLetterReason, DsrRequestedEvent
from schemas.workflow import DsrWorkflowInput, workflow_id_for
from workflows.contracts import DsrWorkflowRef

__all__ = [
    "DLQ_HEADERS",
    "TRANSIENT_TEMPORAL_STATUSES",
    "DeadLetterSend",
    "IncomingRecord",
    "IntakeHandler",
    "IntakeOutcome",
]

log = get_logger(__name__)

DeadLetterSend = Callable[[OutgoingDeadLetter], Awaitable[None]]

# The cluster, not the record: waiting helps. Anything else Temporal refuses (INVALID_ARGUMENT,
# e.g. an input over its size limit; OUT_OF_RANGE; UNIMPLEMENTED; ...) is about this record and
# would be refused forever, so it is dead-lettered instead of stalling the partition.
# Authentication and namespace errors are configuration outages: retried, so a bad deploy does
# not empty the topic into the DLQ.
#
# FAILED_PRECONDITION is such an outage for StartWorkflowExecution. Temporal's server maps its
# serviceerrors to it as (go.temporal.io/api/serviceerror, convert.go and the error types):
# NamespaceNotActive — a global namespace whose active cluster is another one, e.g. during a
# failover or handover —, NamespaceInvalidState (deprecated, deleted or handing over),
# ClientVersionNotSupported and ServerVersionNotSupported (a deploy pairing SDK and server
# wrongly). All are about the cluster and its configuration and pass once it is fixed or has
# failed over; none is about a record's content, which reaches Temporal only as the workflow
# input (size and shape refusals are INVALID_ARGUMENT). The intake sends every start with the
# same options (id shape, policies, task queue, no versioning override, no eager start, no
# callbacks), so a FAILED_PRECONDITION cannot single out one record either. Dead-lettering on it
# turned a namespace failover into every good request in the DLQ as `unprocessable`.
TRANSIENT_TEMPORAL_STATUSES = frozenset(
    {
        RPCStatusCode.FAILED_PRECONDITION,
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.ABORTED,
        RPCStatusCode.CANCELLED,
        RPCStatusCode.INTERNAL,
        RPCStatusCode.UNKNOWN,
        RPCStatusCode.UNAUTHENTICATED,
        RPCStatusCode.PERMISSION_DENIED,
        RPCStatusCode.NOT_FOUND,
    }
)
_MAX_BACKOFF = 10.0
_T = TypeVar("_T")


def _believed(where: dict[str, object], rejected: Rejected) -> dict[str, object]:
    """The record's position, and its key only if it was signed: an unsigned producer's key is
    its own free text (`kund-K100017-malin-johansson` has a request id's shape)."""
    return where if rejected.signed else {**where, "key": "<unsigned: not shown>"}


def _loggable_key(key: bytes | None) -> str:
    """The Kafka key if it has the shape of a request id; anything else could be personal data."""
    return key.decode() if key is not None and request_id_shaped(key) else "<not a request id>"


class IncomingRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    # When the broker got it (Kafka timestamp); None: unknown, "now" is used.
    timestamp: datetime | None = None


class IntakeOutcome(StrEnum):
    STARTED = "started"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"


# Connection-level failures of the store (raised through the codec's data-key look-up): the
# database is unreachable, restarting or dropped the connection. Not: constraint or SQL errors.
_STORE_OUTAGES: tuple[type[BaseException], ...] = (
    OSError,  # ConnectionRefusedError, ConnectionResetError, socket timeouts
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
)


# SQLSTATE classes that are about the server, not the statement: 08 connection exception, 53
# insufficient resources (too many connections), 57 operator intervention — 57P01 admin
# shutdown, 57P02 crash shutdown, 57P03 "the database system is starting up" (or in recovery,
# as right after a crash). SQLAlchemy raises these as a bare DBAPIError, not OperationalError:
# the fault suite's store crash found good requests dead-lettered while PostgreSQL recovered.
_OUTAGE_SQLSTATE_CLASSES = frozenset({"08", "53", "57"})


def _store_outage(error: BaseException) -> bool:
    """The store is down, restarting or dropped us: wait, do not dead-letter."""
    if isinstance(error, _STORE_OUTAGES):
        return True
    if isinstance(error, sqlalchemy.exc.DBAPIError):
        if error.connection_invalidated:
            return True
        error = error.orig if isinstance(error.orig, BaseException) else error
    sqlstate = getattr(error, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate[:2] in _OUTAGE_SQLSTATE_CLASSES


class _Transient(Exception):
    """An outage worth waiting for; carries a safe description for the log."""


# What the broker or the producer says about this letter, not about the cluster: it is refused
# as it is, however long we wait (its size; a record the broker calls corrupt).
_LETTER_REFUSALS: tuple[type[KafkaError], ...] = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    CorruptRecordException,
)


def _send_failure(error: BaseException) -> BaseException:
    """The error that explains a failed send. faust's producer re-raises every KafkaError from
    aiokafka's `send` as `faust.exceptions.ProducerSendError` (`raise ... from exc`), which is
    neither a KafkaError nor the size error: classified by its cause, a transient
    KafkaTimeoutError (metadata wait, buffer full) is waited out again, and a letter too big
    is known as such. Any chain of causes is followed to the first Kafka or socket error."""
    seen: BaseException | None = error
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, (KafkaError, OSError)):
            return seen
        seen = seen.__cause__
    return error


def _sealable_headers(headers: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The headers as the sealed copy can hold them: a name that is not UTF-8 (decoded with
    surrogates by the intake's consumer, `_transport`) is kept with its undecodable bytes as
    backslash escapes — the sealed copy is JSON, which has no room for lone surrogates."""
    sealable = []
    for name, value in headers:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            name = name.encode("utf-8", "backslashreplace").decode("ascii")
        sealable.append((name, value))
    return sealable


_LAST_RESORT_DETAIL = 512


class IntakeHandler:
    def __init__(
        self,
        settings: Settings,
        client: Client,
        send_dead_letter: DeadLetterSend,
        *,
        ledger: RequestLedger | None = None,
    ) -> None:
        """`ledger`: the store's record of request ids taken (default: the configured
        store's, if any; see `_ledger`)."""
        self._settings = settings
        self._client = client
        self._send_dead_letter = send_dead_letter
        self._ledger = ledger if ledger is not None else RequestLedger.from_settings(settings)
        self._signing_keys = settings.signing_key_ring()
        # A dead letter naming a request is sealed with that request's data key (shredded
        # with it); any other with the first payload key (orchestrator.dlq._sealing).
        self._sealer = DeadLetterSealer.from_settings(settings)
        self._tuning = settings.workflow_tuning()
        self._clock_skew = timedelta(seconds=settings.clock_skew_allowance)
        self._dlq_retention = timedelta(days=settings.dlq_retention_days)

    async def handle(self, record: IncomingRecord) -> IntakeOutcome:
        """Exactly one of: workflow started, already started, dead-lettered. Never raises
        (except cancellation on shutdown, which leaves the record un-acked)."""
        where = {
            "partition": record.partition,
            "offset": record.offset,
            "key": _loggable_key(record.key),
        }
        try:
            return await self._handle(record, where)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the point: no exception may lose a record
            rejected = Rejected(
                DeadLetterReason.UNPROCESSABLE, type(error).__name__, signed=self._signed(record)
            )
            await self.dead_letter(record, rejected)
            log.error(
                "event unprocessable, dead-lettered",
                error_type=type(error).__name__,
                **_believed(where, rejected),
            )
            return IntakeOutcome.DEAD_LETTERED

    async def _handle(self, record: IncomingRecord, where: dict[str, object]) -> IntakeOutcome:
        try:
            event = validate_request(
                record.key,
                record.value,
                headers_dict(record.headers),
                self._signing_keys,
                self._settings.max_event_bytes,
                arrived_at=record.timestamp,
                clock_skew=self._clock_skew,
            )
        except Rejected as rejected:
            await self.dead_letter(record, rejected)
            log.warning(
                "event dead-lettered", reason=rejected.reason.value, **_believed(where, rejected)
            )
            return IntakeOutcome.DEAD_LETTERED
        with structlog.contextvars.bound_contextvars(request_id=event.data.request_id):
            outcome = await self._retry_transient(lambda: self._start(event), "temporal")
            log.info("event accepted", outcome=outcome.value, kind=event.data.kind.value, **where)
            return outcome

    def _signed(self, record: IncomingRecord) -> bool:
        return is_signed(
            record.value,
            headers_dict(record.headers),
            self._signing_keys,
            self._settings.max_event_bytes,
        )

    async def _retry_transient(self, attempt: Callable[[], Awaitable[_T]], what: str) -> _T:
        """Run `attempt` until it passes; wait out `_Transient` with capped backoff."""
        delay = 0.2
        while True:
            try:
                return await attempt()
            except _Transient as outage:
                log.warning(
                    f"{what} unavailable, retrying", cause=str(outage), retry_in=round(delay, 2)
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF)

    async def aclose(self) -> None:
        """Close what the handler opened (the ledger's store connections)."""
        if self._ledger is not None:
            await self._ledger.aclose()

    async def _start(self, event: DsrRequestedEvent) -> IntakeOutcome:
        params = DsrWorkflowInput(
            event_id=event.id, event_source=event.source, request=event.data, tuning=self._tuning
        )
        try:
            # A request id starts one workflow, ever: also after Temporal's retention has
            # deleted the first one, which the store outlives (_ledger).
            if self._ledger is not None and await self._ledger.knows(event.data.request_id):
                log.info("request id already in the store: a duplicate, nothing started")
                return IntakeOutcome.DUPLICATE
            await self._client.start_workflow(
                DsrWorkflowRef.run,
                params,
                id=workflow_id_for(event.data.request_id),
                task_queue=self._settings.orchestrator_task_queue,
                # Exactly-once effect: a request id starts one workflow, ever.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            )
            return IntakeOutcome.STARTED
        except WorkflowAlreadyStartedError:
            return IntakeOutcome.DUPLICATE
        except RPCError as error:
            if error.status in TRANSIENT_TEMPORAL_STATUSES:
                raise _Transient(error.status.name) from None
            raise
        except Exception as error:
            # The payload codec seals the input with the request's data key, which lives in
            # the store: a store that is down or restarting is an outage to wait out with the
            # record un-acked, never a reason to dead-letter a good request (fault suite).
            if _store_outage(error):
                raise _Transient(f"store: {type(error).__name__}") from None
            raise

    async def dead_letter(self, record: IncomingRecord, rejected: Rejected) -> None:
        """Seal the record and send it to the DLQ; wait out broker outages (record un-acked).

        Returns only once the DLQ acknowledged a letter for this record, and raises nothing but
        cancellation (shutdown; the record is then un-acked). Letters are tried fullest first:
        the sealed copy bounded in size (`orchestrator.dlq._record`); the same without the
        value; a last resort holding only the reason, the detail and the source position. Each
        one that is refused for good (the producer or broker refuses that letter, or it cannot
        be built) passes to the next; when all are refused, the record stays in hand and all
        are tried again after a backoff, as for an outage."""
        attempts: tuple[tuple[str, Callable[[], Awaitable[OutgoingDeadLetter]]], ...] = (
            ("sealed", lambda: self._seal(record, rejected, self._settings.max_event_bytes)),
            ("sealed without value", lambda: self._seal(record, rejected, 0)),
            ("last resort", lambda: self._last_resort(record, rejected)),
        )
        delay = 0.2
        while True:
            for form, build in attempts:
                try:
                    await self._build_and_send(build)
                except asyncio.CancelledError:
                    raise
                except Exception as error:  # refused for good: try a smaller letter
                    log.error(
                        "dead letter refused",
                        form=form,
                        error_type=type(_send_failure(error)).__name__,
                        partition=record.partition,
                        offset=record.offset,
                    )
                    continue
                if form != "sealed":
                    log.warning(
                        "dead letter written without the whole record",
                        form=form,
                        partition=record.partition,
                        offset=record.offset,
                    )
                return
            log.error(
                "no dead letter could be written, record kept un-acked, retrying",
                retry_in=round(delay, 2),
                partition=record.partition,
                offset=record.offset,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF)

    async def _seal(
        self, record: IncomingRecord, rejected: Rejected, max_value_bytes: int
    ) -> OutgoingDeadLetter:
        return await self._sealer.build(
            position=self._position(record),
            key=record.key,
            value=record.value,
            headers=_sealable_headers(record.headers),
            reason=rejected.reason,
            detail=rejected.detail,
            retention=self._dlq_retention,
            max_value_bytes=max_value_bytes,
            now=datetime.now(UTC),
            signed=rejected.signed,
        )

    async def _last_resort(self, record: IncomingRecord, rejected: Rejected) -> OutgoingDeadLetter:
        """Nothing of the record but where it was: no key, value or headers, sealed with the
        DLQ key (no store involved), the detail short and marked."""
        detail = rejected.detail[:_LAST_RESORT_DETAIL]
        return build_dead_letter(
            position=self._position(record),
            key=None,
            value=None,
            headers=[],
            reason=rejected.reason,
            detail=f"{detail} [original not kept: no fuller dead letter could be written]",
            keys=self._settings.payload_key_ring(),
            retention=self._dlq_retention,
            max_value_bytes=0,
            now=datetime.now(UTC),
        )

    @staticmethod
    def _position(record: IncomingRecord) -> SourcePosition:
        return SourcePosition(topic=record.topic, partition=record.partition, offset=record.offset)

    async def _build_and_send(self, build: Callable[[], Awaitable[OutgoingDeadLetter]]) -> None:
        """Build one letter and send it, waiting out outages; raises if refused for good."""
        letter = await build()

        async def send() -> None:
            try:
                await self._send_dead_letter(letter)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failure = _send_failure(error)
                if isinstance(failure, _LETTER_REFUSALS):
                    raise  # about this letter, not an outage: cannot get better by waiting
                if isinstance(failure, (KafkaError, OSError)):
                    raise _Transient(type(failure).__name__) from None
                raise

        await self._retry_transient(send, "dead-letter topic")
