"""The reconciler: proof that the intake lost nothing, and repair where it did.

Run by `ReconcileWorkflow` (workflows/reconcile.py) on a Temporal Schedule that the worker
creates idempotently at start (`ensure_reconcile_schedule`, which also applies a changed
`DSR_RECONCILE_INTERVAL`; `dsr reconcile` triggers the schedule now, so the schedule's one-run-
at-a-time policy holds for manual runs too).

Each run reads `dsr.requests.v1` from its checkpoint up to the intake group's committed
offsets — the records the intake claims to have handled (anything later is still the intake's
to do, counted as `pending`, never touched). A record is accounted for if:

- the DLQ holds a dead letter for its own source position (whatever the record is), or
- it is a valid request event — the intake's own validation, signature and Kafka key equal to
  `data.request_id` included — whose request has a workflow in Temporal or a summary in the
  store (the store survives Temporal's retention), or
- an earlier run already re-drove and reported it (its `reconciled` audit entry).

A record that is not a valid request (forged, unsigned, keyed with another request's id, ...)
is proven by its dead letter only: another record's workflow says nothing about it. Anything
unproven is re-driven through the very same `IntakeHandler` (validate → start, or dead-letter
with its reason) and reported: an audit entry (`reconciled`) and, for a started request, a
status event saying why it was late.

The report is durable: before re-driving a record the run claims it with an audit entry whose
dedupe key is the record's position (`reconciling:<topic>/<partition>@<offset>`, outcome
`redriving`), and after it appends the result (`reconciled:<position>`, the outcome). A run
that finds a claim without a result — its own earlier attempt, or a run that died — finishes
the report (the record proven by its dead letter or workflow by now, or re-driven again), so a
failed audit write neither loses the repair's report nor writes it twice. The claim is also
the lock between overlapping runs: whoever appended it re-drives; another run that finds a
fresh claim of someone else leaves the record to the next run (`deferred`). Right before a
re-drive the DLQ is read again, so a dead letter written meanwhile is not written twice.

Partitions are reconciled round-robin in batches; each batch commits the checkpoint up to its
last proven record, and a run stops at its time budget (the next run goes on from there). One
partition's failure (a record the handler cannot finish, the store down) is reported and stops
that partition only; the run fails at the end, after the others were reconciled. Records that
retention deleted between the checkpoint and the log's start are counted
(`lost_to_retention`), audited and logged, as is a checkpoint past the log's end (the topic was
recreated: read again from the start). Every partition's checkpoint is committed on every run,
so the group's offsets never expire (`offsets.retention.minutes`) into a full re-scan.

The checkpoint is the committed offset of a consumer group of its own (`<intake group>-
reconciler`): a Kafka position kept where Kafka keeps positions (the broker's compacted offsets
log); no table, no migration, and it moves with the topic if the cluster is replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from temporalio import activity
from temporalio.client import Client, ScheduleOverlapPolicy
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from orchestrator.dlq import DeadLetter, OutgoingDeadLetter, request_id_shaped
from orchestrator.dlq._topic import topic_partitions
from orchestrator.intake._handler import IncomingRecord, IntakeHandler, IntakeOutcome
from orchestrator.intake._header_names import LenientHeaderConsumer
from orchestrator.intake._ledger import RequestLedger
from orchestrator.intake._validation import headers_dict, validate_request
from orchestrator.kafka_config import REQUESTS_ISOLATION_LEVEL, aiokafka_options
from orchestrator.logging import get_logger
from orchestrator.schedules import ensure_interval_schedule
from orchestrator.settings import Settings
from orchestrator.signing import is_signed
from orchestrator.store import Store
from policy.deadlines import DeadlineCalendar, legal_due_at
from schemas.events import DsrRequestedEvent
from schemas.reconcile import ReconcileInput, ReconcileReport, RedrivenRecord
from schemas.records import AuditAction, AuditEvent, RequestSummary
from schemas.status import RequestStatus
from schemas.workflow import workflow_id_for
from workflows.activities import StatusPublisher
from workflows.reconcile import RECONCILE_ACTIVITY, ReconcileWorkflow

__all__ = [
    "SCHEDULE_ID",
    "Reconciler",
    "checkpoint_group",
    "ensure_reconcile_schedule",
    "reconcile_now",
    "reconcile_workflow_id",
    "requests_reader",
]

log = get_logger(__name__)

SCHEDULE_ID = "dsr-reconcile-requests"
_LATE_REASON = "re-driven by the reconciler: the intake had not accounted for this event"
_ACTOR = "reconciler"

# One run's time budget: well inside the activity's start-to-close timeout (30 min), so a run
# returns with what it proved instead of timing out; the next run goes on from the checkpoint.
DEFAULT_TIME_BUDGET = 600.0
_BATCH = 500
# Heartbeat at least this often while waiting (the activity's heartbeat timeout is 2 min): a
# run waiting on an outage is alive, not retried beside itself.
_BEAT_EVERY = 10.0
# A re-drive waits at least this long even when the run's budget is spent.
_MIN_REDRIVE_WAIT = 60.0
# Another run's claim younger than this may still be in progress (its activity's
# start-to-close timeout is 30 minutes): left alone; an older one is taken over.
_CLAIM_STALE = timedelta(minutes=35)
# Reading the DLQ (all of it once per run, then only what is new): at most this long.
_DLQ_READ_LIMIT = 300.0

_T = TypeVar("_T")


def checkpoint_group(settings: Settings) -> str:
    return f"{settings.intake_group}-reconciler"


def reconcile_workflow_id(settings: Settings) -> str:
    # A `/` cannot occur in a request id, so this never collides with `dsr-<request id>`.
    return f"reconcile/{settings.requests_topic}"


async def ensure_reconcile_schedule(client: Client, settings: Settings) -> bool:
    """Create the schedule if it does not exist (several workers may race: one wins), or bring
    an existing one to `DSR_RECONCILE_INTERVAL` (a changed interval is applied; 0 pauses it,
    a later non-zero interval resumes it). Returns whether this call created it."""
    return await ensure_interval_schedule(
        client,
        SCHEDULE_ID,
        ReconcileWorkflow.run,
        ReconcileInput(),
        workflow_id=reconcile_workflow_id(settings),
        task_queue=settings.orchestrator_task_queue,
        every_seconds=settings.reconcile_interval,
        update_existing=True,
    )


async def reconcile_now(
    client: Client, settings: Settings, *, max_records: int | None = None, wait: float = 60.0
) -> tuple[ReconcileReport, bool]:
    """One run now, never beside another (two runs would re-drive the same records): the
    schedule is triggered with its SKIP policy, and this waits for the run it started — or for
    the one already running. Returns the report and whether it is an already running run's.
    `max_records` applies only without a schedule (`DSR_RECONCILE_INTERVAL=0` from the
    start): then one run under the schedule's fixed workflow id, so a second caller meanwhile
    waits for the same run."""
    handle = client.get_schedule_handle(SCHEDULE_ID)
    try:
        before = await handle.describe()
    except RPCError as error:
        if error.status is not RPCStatusCode.NOT_FOUND:
            raise
        params = ReconcileInput(**({} if max_records is None else {"max_records": max_records}))
        report = await client.execute_workflow(
            ReconcileWorkflow.run,
            params,
            id=reconcile_workflow_id(settings),
            task_queue=settings.orchestrator_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        return report, False
    seen = {_execution(a.action) for a in before.info.recent_actions}
    run = _running(before.info.running_actions)
    already = run is not None
    if run is None:
        await handle.trigger(overlap=ScheduleOverlapPolicy.SKIP)
        async with asyncio.timeout(wait):
            while run is None:
                await asyncio.sleep(0.2)
                info = (await handle.describe()).info
                run = _running(info.running_actions) or next(
                    (
                        execution
                        for action in reversed(info.recent_actions)
                        if (execution := _execution(action.action)) not in seen
                    ),
                    None,
                )
    workflow_id, run_id = run
    report = await client.get_workflow_handle(
        workflow_id, first_execution_run_id=run_id or None, result_type=ReconcileReport
    ).result()
    return report, already


def _execution(action: object) -> tuple[str, str]:
    return (getattr(action, "workflow_id", ""), getattr(action, "first_execution_run_id", ""))


def _running(actions: Sequence[object]) -> tuple[str, str] | None:
    return _execution(actions[0]) if actions else None


def _position(topic: str, partition: int, offset: int) -> str:
    return f"{topic}/{partition}@{offset}"


def _claim_key(position: str) -> str:
    return f"reconciling:{position}"


def _result_key(position: str) -> str:
    return f"reconciled:{position}"


def _beat(*details: object) -> None:
    if activity.in_activity():
        activity.heartbeat(*details)


def _run_token() -> str:
    """Who claims a record: the same for every attempt of one activity (a retry finishes its
    own earlier attempt's work), another for any other run."""
    if activity.in_activity():
        info = activity.info()
        return f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"
    return f"local/{uuid.uuid4()}"


async def _beating(work: Awaitable[_T], *details: object, limit: float | None = None) -> _T:
    """Await `work`, heartbeating while it takes long (a cancelled activity cancels it too)."""
    task = asyncio.ensure_future(work)
    try:
        async with asyncio.timeout(limit):
            while True:
                done, _ = await asyncio.wait({task}, timeout=_BEAT_EVERY)
                if done:
                    return task.result()
                _beat(*details)
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


@dataclass
class _Claim:
    run: str
    at: datetime


class _DeadLetterIndex:
    """The source positions of every dead letter on the DLQ: read once, then only what is new
    (`refresh`, right before a re-drive), plus the letters this run sent itself."""

    def __init__(self, settings: Settings) -> None:
        self._topic = settings.dlq_topic
        self._consumer = AIOKafkaConsumer(
            **aiokafka_options(settings),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        self._partitions: list[TopicPartition] = []
        self.positions: set[tuple[str, int, int]] = set()

    async def start(self) -> None:
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()

    def add(self, letter: OutgoingDeadLetter) -> None:
        source = DeadLetter.from_record(0, 0, letter.key, letter.value, letter.headers).source
        if source is not None:
            self.positions.add((source.topic, source.partition, source.offset))

    def __contains__(self, position: tuple[str, int, int]) -> bool:
        return position in self.positions

    async def refresh(self) -> None:
        await _beating(self._read(), "reading the DLQ", limit=_DLQ_READ_LIMIT)

    async def _read(self) -> None:
        consumer = self._consumer
        if not self._partitions:  # first read, or the topic did not exist yet
            self._partitions = await topic_partitions(consumer, self._topic)
            if not self._partitions:
                return
            consumer.assign(self._partitions)
            await consumer.seek_to_beginning(*self._partitions)
        partitions = self._partitions
        ends = await consumer.end_offsets(partitions)
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            for records in batch.values():
                for record in records:
                    source = DeadLetter.from_record(
                        record.partition,
                        record.offset,
                        record.key,
                        record.value,
                        list(record.headers or ()),
                    ).source
                    if source is not None:
                        self.positions.add((source.topic, source.partition, source.offset))
            _beat("reading the DLQ")


@dataclass
class _Slice:
    """One partition's work in this run: [next, stop) still to prove."""

    tp: TopicPartition
    next: int
    stop: int
    active: bool = True


class _PartitionFailed(Exception):
    def __init__(self, offset: int, error: BaseException) -> None:
        super().__init__(f"{type(error).__name__} at offset {offset}")
        self.offset = offset


class _Run:
    """What one run shares between its partitions."""

    def __init__(
        self,
        handler: IntakeHandler,
        dead_letters: _DeadLetterIndex,
        report: ReconcileReport,
        deadline: float,
    ) -> None:
        self.handler = handler
        self.dead_letters = dead_letters
        self.report = report
        self.deadline = deadline
        self.token = _run_token()

    def left(self) -> float:
        return self.deadline - asyncio.get_running_loop().time()


class Reconciler:
    """The activity. Needs the store, Temporal and the broker, like the intake and the worker."""

    def __init__(
        self,
        settings: Settings,
        client: Client,
        store: Store,
        publisher: StatusPublisher,
        *,
        time_budget: float = DEFAULT_TIME_BUDGET,
        calendar: DeadlineCalendar | None = None,
    ) -> None:
        """`calendar`: the policy's (time zone, eves), so the due date a re-driven request is
        announced with is the one its workflow will keep; the worker passes its policy's."""
        self._settings = settings
        self._calendar = calendar or DeadlineCalendar()
        self._client = client
        self._store = store
        self._publisher = publisher
        self._time_budget = time_budget

    @activity.defn(name=RECONCILE_ACTIVITY)
    async def reconcile_requests(self, params: ReconcileInput) -> ReconcileReport:
        settings = self._settings
        report = ReconcileReport()
        deadline = asyncio.get_running_loop().time() + self._time_budget
        # TLS/SASL from DSR_KAFKA_* (orchestrator.kafka_config), like every Kafka client here.
        admin = AIOKafkaAdminClient(**aiokafka_options(settings))
        consumer = requests_reader(settings)
        producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all")
        dead_letters = _DeadLetterIndex(settings)
        try:
            # Inside: whichever start fails, all are stopped (no unclosed client).
            await admin.start()
            await consumer.start()
            await producer.start()
            await dead_letters.start()
            partitions = await topic_partitions(consumer, settings.requests_topic)
            if not partitions:
                return report
            handled = await admin.list_consumer_group_offsets(
                settings.intake_group, partitions=partitions
            )
            proven = await admin.list_consumer_group_offsets(
                checkpoint_group(settings), partitions=partitions
            )
            beginnings = await consumer.beginning_offsets(partitions)
            ends = await consumer.end_offsets(partitions)
            consumer.assign(partitions)

            async def send_dead_letter(letter: OutgoingDeadLetter) -> None:
                await producer.send_and_wait(
                    settings.dlq_topic, key=letter.key, value=letter.value, headers=letter.headers
                )
                dead_letters.add(letter)  # this run's own letters count at once

            handler = IntakeHandler(
                settings, self._client, send_dead_letter, ledger=RequestLedger.over(self._store)
            )
            run = _Run(handler, dead_letters, report, deadline)
            slices: list[_Slice] = []
            for tp in partitions:
                try:
                    slices.append(
                        await self._slice(
                            consumer,
                            run,
                            tp,
                            _offset(proven.get(tp)),
                            _offset(handled.get(tp)),  # -1: the intake committed nothing yet
                            beginnings[tp],
                            ends[tp],
                        )
                    )
                except Exception as error:
                    self._fail(report, tp, _offset(proven.get(tp)), error)
            await self._reconcile(consumer, run, slices, params.max_records)
            for part in slices:
                report.remaining += max(0, part.stop - part.next)
        finally:
            await producer.stop()
            await consumer.stop()
            await dead_letters.stop()
            await admin.close()
        log.info(
            "reconciled",
            examined=report.examined,
            accounted=report.accounted,
            redriven=len(report.redriven),
            pending=report.pending,
            remaining=report.remaining,
            deferred=report.deferred,
            lost_to_retention=report.lost_to_retention,
            failed_partitions=sorted(report.failed),
        )
        if report.failed:
            # Alert: the schedule's run fails (after the other partitions were reconciled).
            raise ApplicationError(
                "reconciler: partitions failed: "
                + ", ".join(f"{p}: {why}" for p, why in sorted(report.failed.items())),
                report.model_dump(mode="json"),
                type="ReconcilePartitionsFailed",
            )
        return report

    async def _slice(
        self,
        consumer: AIOKafkaConsumer,
        run: _Run,
        tp: TopicPartition,
        checkpoint: int,
        handled: int,
        beginning: int,
        end: int,
    ) -> _Slice:
        """Where this partition's work starts and stops; a checkpoint past the log's end (a
        reset) or before its start (retention) is reported, then committed past."""
        report = run.report
        topic, partition = tp.topic, tp.partition
        if checkpoint > end and not await _log_reaches(consumer, tp, checkpoint - 1):
            # The log ends before our checkpoint: the topic was recreated (or truncated).
            report.checkpoint_resets[partition] = checkpoint
            log.warning(
                "reconciler checkpoint past the log's end: partition read again from its start",
                topic=topic,
                partition=partition,
                checkpoint=checkpoint,
                log_start=beginning,
                log_end=end,
            )
            await self._audit_partition(
                tp,
                f"reconcile-reset:{_position(topic, partition, checkpoint)}>{end}",
                {"outcome": "checkpoint_reset", "checkpoint": checkpoint, "log_end": end},
            )
            checkpoint = -1
        if checkpoint < 0:
            # No checkpoint (a first run, or expired group offsets): a log starting after
            # offset 0 lost its first records to retention before any run proved them.
            checkpoint = 0
        if checkpoint < beginning:
            await self._lost_to_retention(report, tp, checkpoint, beginning)
        start = max(checkpoint, beginning)
        stop = handled
        if stop > end and not await _log_reaches(consumer, tp, stop - 1):
            # The intake's offset is past the log as well (recreated topic): not a claim.
            stop = end
        report.pending += max(0, end - max(stop, start))
        report.checkpoint[partition] = start
        # Committed on every run, also with nothing new: the group's offsets never expire.
        await consumer.commit({tp: start})
        return _Slice(tp, start, max(start, stop), active=stop > start)

    async def _lost_to_retention(
        self, report: ReconcileReport, tp: TopicPartition, first: int, beginning: int
    ) -> None:
        """[first, beginning) was deleted before it was proven: counted, logged, audited
        (once: the audit entry's dedupe key is the gap)."""
        lost = beginning - first
        report.lost_to_retention += lost
        log.warning(
            "records deleted by retention before the reconciler proved them",
            topic=tp.topic,
            partition=tp.partition,
            count=lost,
            from_offset=first,
            to_offset=beginning,
        )
        await self._audit_partition(
            tp,
            f"reconcile-gap:{_position(tp.topic, tp.partition, first)}-{beginning}",
            {
                "outcome": "lost_to_retention",
                "count": lost,
                "from_offset": first,
                "to_offset": beginning,
            },
        )

    async def _audit_partition(
        self, tp: TopicPartition, dedupe_key: str, details: dict[str, object]
    ) -> None:
        await self._store.append_audit(
            AuditEvent(
                request_id=f"partition-{tp.topic}-{tp.partition}",
                action=AuditAction.RECONCILED,
                actor=_ACTOR,
                at=datetime.now(UTC),
                details={"source": f"{tp.topic}/{tp.partition}", **details},
                dedupe_key=dedupe_key,
            )
        )

    def _fail(
        self, report: ReconcileReport, tp: TopicPartition, offset: int, error: BaseException
    ) -> None:
        where = error if isinstance(error, _PartitionFailed) else _PartitionFailed(offset, error)
        report.failed[tp.partition] = str(where)
        cause = error.__cause__ if isinstance(error, _PartitionFailed) else error
        log.error(
            "reconciler: partition failed, the others go on",
            topic=tp.topic,
            partition=tp.partition,
            offset=where.offset,
            error_type=type(cause).__name__,
        )

    async def _reconcile(
        self,
        consumer: AIOKafkaConsumer,
        run: _Run,
        slices: list[_Slice],
        max_records: int,
    ) -> None:
        """Round-robin, one batch per partition in turn, until all are proven or the budget
        (time, records) is spent; each batch commits its partition's checkpoint."""
        consumer.pause(*consumer.assignment())
        for part in slices:
            consumer.seek(part.tp, part.next)
        if not any(p.active for p in slices):
            return
        consumer.resume(*[p.tp for p in slices if p.active])
        await run.dead_letters.refresh()  # every dead letter's source position, once
        budget = max_records
        first_round = True  # every run gets a batch of each partition, however slow
        while budget > 0 and (first_round or run.left() > 0):
            active = [p for p in slices if p.active]
            if not active:
                return
            for part in active:
                if budget <= 0 or (not first_round and run.left() <= 0):
                    return
                try:
                    examined = await self._batch(consumer, run, part, min(budget, _BATCH))
                except Exception as error:
                    part.active = False
                    consumer.pause(part.tp)
                    self._fail(run.report, part.tp, part.next, error)
                    with contextlib.suppress(Exception):  # what was proven stays proven
                        await consumer.commit({part.tp: part.next})
                    continue
                budget -= examined
                await consumer.commit({part.tp: part.next})
                run.report.checkpoint[part.tp.partition] = part.next
                _beat(part.tp.partition, part.next)
                if not part.active:
                    consumer.pause(part.tp)
            first_round = False

    async def _batch(self, consumer: AIOKafkaConsumer, run: _Run, part: _Slice, limit: int) -> int:
        """Prove up to `limit` records of one partition; `part.next` ends after the last
        proven one. Raises `_PartitionFailed` for a record it could not finish."""
        tp = part.tp
        batch = await consumer.getmany(tp, timeout_ms=500, max_records=limit)
        messages = [m for m in batch.get(tp, []) if part.next <= m.offset < part.stop]
        landed = messages[0].offset if messages else await consumer.position(tp)
        if landed > part.next:
            # Offsets skipped: transaction markers — or retention deleted records while this
            # run was reading (the consumer then resets to the new log start).
            beginning = (await consumer.beginning_offsets([tp]))[tp]
            if beginning > part.next:
                await self._lost_to_retention(
                    run.report, tp, part.next, min(beginning, landed, part.stop)
                )
        marks = await self._marks([_position(tp.topic, tp.partition, m.offset) for m in messages])
        examined = 0
        for message in messages:
            if run.left() <= 0 and examined:
                consumer.seek(tp, part.next)  # the rest of the batch: the next run's
                return examined
            examined += 1
            record = IncomingRecord(
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                key=message.key,
                value=message.value,
                headers=[(k, v or b"") for k, v in message.headers or ()],
                timestamp=(
                    datetime.fromtimestamp(message.timestamp / 1000, UTC)
                    if message.timestamp and message.timestamp > 0
                    else None
                ),
            )
            try:
                proven = await self._examine(run, record, marks)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                raise _PartitionFailed(record.offset, error) from error
            if not proven:  # another run's claim: this partition waits for the next run
                part.active = False
                return examined
            part.next = record.offset + 1
            _beat(tp.partition, part.next)  # the SDK throttles what it sends
        # Everything up to the position was returned and proven (offsets without a record,
        # such as transaction markers, have nothing to prove).
        part.next = max(part.next, min(await consumer.position(tp), part.stop))
        part.active = part.next < part.stop
        return examined

    async def _marks(self, positions: list[str]) -> dict[str, dict[str, Any]]:
        """The reconciler's own claim and result entries for these positions (one read)."""
        if not positions:
            return {}
        keys = [_claim_key(p) for p in positions] + [_result_key(p) for p in positions]
        return await self._store.audit_by_dedupe_key(keys)

    async def _examine(
        self, run: _Run, record: IncomingRecord, marks: Mapping[str, Mapping[str, Any]]
    ) -> bool:
        """Prove one record, re-drive it if it is not, report it. False: another run is on
        it (left for the next run)."""
        report = run.report
        report.examined += 1
        where = (record.topic, record.partition, record.offset)
        position = _position(*where)
        if _result_key(position) in marks:  # re-driven and reported by an earlier run
            report.accounted += 1
            return True
        # A dead letter at its own position proves any record (no need to validate it).
        event = None if where in run.dead_letters else _validated(record, self._settings)
        proof = await self._proof(run, record, event)
        mark = marks.get(_claim_key(position))
        claim = _claim_of(mark) if mark is not None else None
        if claim is None:
            if proof is None:
                proof = await self._dead_lettered_since(run, where)
            if proof is not None:
                report.accounted += 1
                return True
            claim = await self._claim(run, record, event)
            claimed_now = claim.run == run.token
        else:
            claimed_now = False
        if not claimed_now:
            # Claimed before (by this activity's earlier attempt, or another run) — or by
            # another run just now.
            if proof is None:
                proof = await self._dead_lettered_since(run, where)
            if proof is not None:
                # The re-drive happened; its report may not have: finish it (once).
                await self._report(run, record, event, proof)
                return True
            if claim.run != run.token and datetime.now(UTC) - claim.at < _CLAIM_STALE:
                report.deferred += 1
                log.warning(
                    "record claimed by another reconciler run: left for the next run",
                    position=position,
                )
                return False
        outcome = await _beating(
            run.handler.handle(record),
            record.partition,
            record.offset,
            limit=max(run.left(), _MIN_REDRIVE_WAIT),
        )
        await self._report(run, record, event, outcome)
        return True

    async def _dead_lettered_since(
        self, run: _Run, where: tuple[str, int, int]
    ) -> IntakeOutcome | None:
        """Read the DLQ again, right before a re-drive could write a dead letter: one written
        since (the intake's, another run's) proves the record, and must not be written twice."""
        await run.dead_letters.refresh()
        return IntakeOutcome.DEAD_LETTERED if where in run.dead_letters else None

    async def _proof(
        self, run: _Run, record: IncomingRecord, event: DsrRequestedEvent | None
    ) -> IntakeOutcome | None:
        """How the intake accounted for it: its own dead letter, or — a valid request only —
        its request's workflow or stored summary. None: unaccounted."""
        if (record.topic, record.partition, record.offset) in run.dead_letters:
            return IntakeOutcome.DEAD_LETTERED
        if event is not None and await self._has_request(event.data.request_id):
            return IntakeOutcome.STARTED
        return None

    async def _has_request(self, request_id: str) -> bool:
        """The request has a workflow (Temporal) or a summary (the store)."""
        try:
            await self._client.get_workflow_handle(workflow_id_for(request_id)).describe()
            return True
        except RPCError as error:
            if error.status is not RPCStatusCode.NOT_FOUND:
                raise
        return await self._store.has_request(request_id)

    async def _claim(
        self, run: _Run, record: IncomingRecord, event: DsrRequestedEvent | None
    ) -> _Claim:
        """Append the claim (idempotent by position); returns whoever holds it."""
        position = _position(record.topic, record.partition, record.offset)
        stored = await self._store.append_audit(
            AuditEvent(
                request_id=_audit_request_id(record, event, self._settings),
                action=AuditAction.RECONCILED,
                actor=_ACTOR,
                at=datetime.now(UTC),
                details={
                    "source": position,
                    "outcome": "redriving",
                    "phase": "claim",
                    "run": run.token,
                },
                dedupe_key=_claim_key(position),
            )
        )
        return _claim_of({"details": stored.details, "at": stored.at}) or _Claim(
            run.token, stored.at
        )

    async def _report(
        self,
        run: _Run,
        record: IncomingRecord,
        event: DsrRequestedEvent | None,
        outcome: IntakeOutcome,
    ) -> None:
        """The result entry (idempotent by position); the run that wrote it reports it."""
        report = run.report
        position = _position(record.topic, record.partition, record.offset)
        request_id = _audit_request_id(record, event, self._settings)
        now = datetime.now(UTC)
        stored = await self._store.append_audit(
            AuditEvent(
                request_id=request_id,
                action=AuditAction.RECONCILED,
                actor=_ACTOR,
                at=now,
                details={
                    "source": position,
                    "outcome": outcome.value,
                    "phase": "result",
                    "run": run.token,
                },
                dedupe_key=_result_key(position),
            )
        )
        if stored.details.get("run") != run.token:  # another run reported it first
            report.accounted += 1
            return
        report.redriven.append(
            RedrivenRecord(
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                request_id=event.data.request_id if event else _request_id(record, self._settings),
                outcome=outcome.value,
            )
        )
        log.warning("unaccounted record re-driven", position=position, outcome=outcome.value)
        if event is not None and outcome is IntakeOutcome.STARTED:
            data = event.data
            with contextlib.suppress(Exception):  # the status is a courtesy; the audit is proof
                await self._publisher.publish(
                    RequestSummary(
                        request_id=data.request_id,
                        kind=data.kind,
                        channel=data.channel,
                        status=RequestStatus.RECEIVED,
                        received_at=data.received_at,
                        due_at=legal_due_at(data.received_at, cal=self._calendar),
                        updated_at=now,
                        reason=_LATE_REASON,
                    )
                )


def requests_reader(settings: Settings) -> AIOKafkaConsumer:
    """The reconciler's consumer of the requests topic: its own checkpoint group, committing by
    hand, reading what the intake reads (committed records only, header names that are not
    UTF-8 included: such a record is the handler's to dead-letter, not a stalled fetch) and
    nothing it never would."""
    return LenientHeaderConsumer(
        **aiokafka_options(settings),
        group_id=checkpoint_group(settings),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level=REQUESTS_ISOLATION_LEVEL,
    )


async def _log_reaches(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> bool:
    """Whether the partition holds a record at `offset` or later (end offsets can be
    understated by some brokers, so they are not the last word). Leaves `tp` unpositioned."""
    consumer.seek(tp, offset)
    loop = asyncio.get_running_loop()
    until = loop.time() + 3.0
    while loop.time() < until:
        batch = await consumer.getmany(tp, timeout_ms=500, max_records=1)
        for message in batch.get(tp, []):
            # Out of range, the consumer resets to the log's start: an earlier offset.
            return bool(message.offset >= offset)
    return False


def _claim_of(mark: Mapping[str, Any]) -> _Claim | None:
    details = mark.get("details") or {}
    run, at = details.get("run"), mark.get("at")
    if not isinstance(run, str) or not isinstance(at, datetime):
        return None
    return _Claim(run, at if at.tzinfo is not None else at.replace(tzinfo=UTC))


def _offset(committed: object) -> int:
    offset = getattr(committed, "offset", -1)
    return int(offset) if offset is not None else -1


def _validated(
    record: IncomingRecord, settings: Settings, *, key_required: bool = True
) -> DsrRequestedEvent | None:
    """The intake's own validation (signature, schema, clock, key == data.request_id)."""
    try:
        return validate_request(
            record.key,
            record.value,
            headers_dict(record.headers),
            settings.signing_key_ring(),
            settings.max_event_bytes,
            arrived_at=record.timestamp,
            clock_skew=timedelta(seconds=settings.clock_skew_allowance),
            key_required=key_required,
        )
    except Exception:  # Rejected, or anything the handler would call unprocessable
        return None


def _signed(record: IncomingRecord, settings: Settings) -> bool:
    """Whether the portal signed the record (what it names may then be shown)."""
    return is_signed(
        record.value,
        headers_dict(record.headers),
        settings.signing_key_ring(),
        settings.max_event_bytes,
    )


def _request_id(record: IncomingRecord, settings: Settings) -> str | None:
    """The request the record names, for reports and audit entries (never as proof): its key,
    if it has the shape of one, or else the event's own id (a keyless record) — only of a
    record the portal signed: an unsigned producer's key is its own free text."""
    if not _signed(record, settings):
        return None
    if record.key is not None and request_id_shaped(record.key):
        return record.key.decode()
    event = _validated(record, settings, key_required=False)
    return event.data.request_id if event else None


def _audit_request_id(
    record: IncomingRecord, event: DsrRequestedEvent | None, settings: Settings
) -> str:
    request_id = event.data.request_id if event else _request_id(record, settings)
    return request_id or f"record-{record.topic}-{record.partition}-{record.offset}"
