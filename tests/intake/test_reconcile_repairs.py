"""The reconciler's activity on the session's real broker and a SQLite store, with Temporal
replaced by a small in-memory fake (describe / start_workflow), so each case is exact: a record
is proven by its own dead letter or — a valid request only — its workflow; one partition's
failure stops only that partition (and still fails the run); retention gaps and reset
checkpoints are reported; a repair whose audit write failed is reported by the retry, once;
overlapping runs dead-letter a record once; a slow partition makes progress run by run."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from temporalio.client import Client
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

import orchestrator.reconcile as reconcile
from orchestrator.dlq import read_dead_letters
from orchestrator.reconcile import Reconciler, checkpoint_group
from orchestrator.settings import Settings
from orchestrator.store import Store
from policy.deadlines import DeadlineCalendar
from schemas.reconcile import ReconcileInput, ReconcileReport
from schemas.records import AuditAction, AuditEvent
from tests.conftest import Infra
from tests.intake.conftest import encode, intake_settings, signed, valid_document

# ── a fake Temporal, a publisher, a flaky store ────────────────────────────────────────────


class _Handle:
    def __init__(self, temporal: FakeTemporal, workflow_id: str) -> None:
        self._temporal, self._id = temporal, workflow_id

    async def describe(self) -> dict[str, str]:
        await asyncio.sleep(self._temporal.describe_delay)
        if self._id in self._temporal.broken:
            raise RPCError("temporal unavailable", RPCStatusCode.UNAVAILABLE, b"")
        if self._id not in self._temporal.started:
            raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")
        return {"id": self._id}


@dataclass
class FakeTemporal:
    started: set[str] = field(default_factory=set)
    broken: set[str] = field(default_factory=set)  # describe raises UNAVAILABLE
    describe_delay: float = 0.0
    starts: int = 0

    def get_workflow_handle(self, workflow_id: str) -> _Handle:
        return _Handle(self, workflow_id)

    async def start_workflow(self, *args: Any, id: str, **kwargs: Any) -> None:
        self.starts += 1
        if id in self.started:
            raise WorkflowAlreadyStartedError(id, "DsrWorkflow")
        self.started.add(id)


@dataclass
class Publisher:
    published: list[Any] = field(default_factory=list)

    async def publish(self, summary: Any) -> None:
        self.published.append(summary)


class FlakyAudit:
    """The store, whose audit append fails once for entries `fails_on` picks."""

    def __init__(self, store: Store, fails_on: Callable[[AuditEvent], bool]) -> None:
        self._store, self._fails_on, self.failed = store, fails_on, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def append_audit(self, event: AuditEvent) -> AuditEvent:
        if not self.failed and self._fails_on(event):
            self.failed += 1
            raise ConnectionResetError(104, "the store dropped the connection")
        return await self._store.append_audit(event)


# ── a topic of its own per test ────────────────────────────────────────────────────────────


@dataclass
class Topic:
    infra: Infra
    settings: Settings

    @property
    def name(self) -> str:
        return self.settings.requests_topic

    async def produce(self, records: list[tuple[int, bytes | None, bytes, Any]]) -> list[int]:
        """(partition, key, value, headers) each; returns their offsets."""
        producer = AIOKafkaProducer(
            bootstrap_servers=self.infra.kafka, acks="all", max_batch_size=1
        )
        await producer.start()
        try:
            offsets = []
            for partition, key, value, headers in records:
                meta = await producer.send_and_wait(
                    self.name, key=key, value=value, headers=headers, partition=partition
                )
                offsets.append(meta.offset)
            return offsets
        finally:
            await producer.stop()

    async def commit(self, group: str, offsets: dict[int, int]) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.infra.kafka, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            tps = {TopicPartition(self.name, p): o for p, o in offsets.items()}
            consumer.assign(list(tps))
            await consumer.commit(tps)
        finally:
            await consumer.stop()

    async def committed(self, group: str, partitions: int) -> dict[int, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.infra.kafka)
        await admin.start()
        try:
            found = await admin.list_consumer_group_offsets(
                group, partitions=[TopicPartition(self.name, p) for p in range(partitions)]
            )
        finally:
            await admin.close()
        return {tp.partition: o.offset for tp, o in found.items() if o.offset >= 0}

    async def dead_letters(self) -> list[tuple[int, int, str]]:
        letters = await read_dead_letters(self.settings, 20)
        return sorted((d.source.partition, d.source.offset, d.reason) for d in letters if d.source)


async def _topic(infra: Infra, tmp_path: Path, partitions: int) -> Topic:
    tag = secrets.token_hex(4)
    settings = intake_settings(
        infra,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/store-{tag}.db",
        requests_topic=f"recon-{tag}",
        dlq_topic=f"recon-{tag}.dlq",
        intake_group=f"recon-intake-{tag}",
        requests_partitions=partitions,
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(settings.requests_topic, partitions, 1),
                NewTopic(settings.dlq_topic, partitions, 1),
            ]
        )
    finally:
        await admin.close()
    return Topic(infra, settings)


OpenStore = Callable[[Settings], Awaitable[Store]]


@pytest.fixture
async def store() -> AsyncIterator[OpenStore]:
    """Opens the store a topic's settings name (see `_topic`); closed after the test."""
    opened: list[Store] = []

    async def open_for(settings: Settings) -> Store:
        opened.append(await Store.open(settings.database_url))
        return opened[-1]

    yield open_for
    for each in opened:
        await each.close()


def _request(request_id: str) -> tuple[bytes, bytes, Any]:
    value = encode(valid_document(request_id))
    return request_id.encode(), value, signed(value)


def _reconciler(
    settings: Settings, temporal: FakeTemporal, store: Any, publisher: Publisher, **kw: Any
) -> Reconciler:
    return Reconciler(settings, cast(Client, temporal), store, publisher, **kw)


def _rid(label: str) -> str:
    return f"req-{label}-{secrets.token_hex(3)}"


def _results(trail: list[AuditEvent]) -> list[AuditEvent]:
    return [
        e
        for e in trail
        if e.action is AuditAction.RECONCILED and e.dedupe_key.startswith("reconciled:")
    ]


# ── 1. proof is per record ─────────────────────────────────────────────────────────────────


async def test_a_forged_record_under_a_real_requests_key_needs_its_own_dead_letter(
    infra: Infra, tmp_path: Path, store: OpenStore
) -> None:
    topic = await _topic(infra, tmp_path, 1)
    rid = _rid("proof")
    key, good, good_headers = _request(rid)
    forged = good.replace(b'"access"', b'"erasure"')  # the signature no longer matches
    other = encode(valid_document(_rid("other")))  # valid, signed, but keyed with `rid`
    offsets = await topic.produce(
        [
            (0, key, good, good_headers),
            (0, key, forged, good_headers),
            (0, key, other, signed(other)),
        ]
    )
    await topic.commit(topic.settings.intake_group, {0: offsets[-1] + 1})
    temporal = FakeTemporal(started={f"dsr-{rid}"})  # the intake started the good one only
    opened = await store(topic.settings)

    report = await _reconciler(topic.settings, temporal, opened, Publisher()).reconcile_requests(
        ReconcileInput()
    )

    assert report.examined == 3 and report.accounted == 1
    assert {(r.offset, r.outcome) for r in report.redriven} == {
        (offsets[1], "dead_lettered"),
        (offsets[2], "dead_lettered"),
    }
    assert await topic.dead_letters() == [
        (0, offsets[1], "bad_signature"),
        (0, offsets[2], "key_mismatch"),
    ]
    again = await _reconciler(topic.settings, temporal, opened, Publisher()).reconcile_requests(
        ReconcileInput()
    )
    assert again.examined == 0 and again.checkpoint == {0: offsets[-1] + 1}


async def test_a_redriven_request_is_announced_with_the_policys_due_date(
    infra: Infra, tmp_path: Path, store: OpenStore
) -> None:
    """The due date the portal is told is the one the workflow keeps: under a policy with the
    eves as days off, a request received 24 November is due 29 December, not Christmas Eve."""
    topic = await _topic(infra, tmp_path, 1)
    rid = _rid("eves")
    value = encode(valid_document(rid, received_at="2025-11-24T09:00:00+01:00"))
    offsets = await topic.produce([(0, rid.encode(), value, signed(value))])
    await topic.commit(topic.settings.intake_group, {0: offsets[-1] + 1})
    publisher = Publisher()
    reconciler = _reconciler(
        topic.settings,
        FakeTemporal(),  # the intake skipped it: no workflow
        await store(topic.settings),
        publisher,
        calendar=DeadlineCalendar(eves_are_holidays=True),
    )

    report = await reconciler.reconcile_requests(ReconcileInput())

    assert [(r.request_id, r.outcome) for r in report.redriven] == [(rid, "started")]
    [announced] = publisher.published
    assert announced.due_at.isoformat() == "2025-12-29T23:59:59.999999+01:00"


# ── 2. one failing partition does not stop the others; progress is committed ────────────────


async def test_a_failing_partition_is_reported_and_the_others_are_reconciled(
    infra: Infra, tmp_path: Path, store: OpenStore
) -> None:
    topic = await _topic(infra, tmp_path, 2)
    fine, boom, after, other = _rid("fine"), _rid("boom"), _rid("after"), _rid("other")
    offsets = await topic.produce(
        [
            (0, *_request(fine)),
            (0, *_request(fine)),  # a re-sent copy: a duplicate, proven by the workflow
            (0, *_request(boom)),
            (0, *_request(after)),
            (1, *_request(other)),  # never started: to be re-driven
        ]
    )
    await topic.commit(topic.settings.intake_group, {0: offsets[3] + 1, 1: offsets[4] + 1})
    temporal = FakeTemporal(started={f"dsr-{fine}", f"dsr-{after}"}, broken={f"dsr-{boom}"})
    opened = await store(topic.settings)

    with pytest.raises(ApplicationError) as failure:
        await _reconciler(topic.settings, temporal, opened, Publisher()).reconcile_requests(
            ReconcileInput()
        )

    report = ReconcileReport.model_validate(failure.value.details[0])
    assert report.failed == {0: f"RPCError at offset {offsets[2]}"}
    assert [(r.partition, r.request_id, r.outcome) for r in report.redriven] == [
        (1, other, "started")
    ]
    assert f"dsr-{other}" in temporal.started
    # what was proven stays proven: partition 0 up to the failing record, partition 1 all
    assert await topic.committed(checkpoint_group(topic.settings), 2) == {
        0: offsets[2],
        1: offsets[4] + 1,
    }

    temporal.broken.clear()  # the outage is over: the next run goes on from there
    again = await _reconciler(topic.settings, temporal, opened, Publisher()).reconcile_requests(
        ReconcileInput()
    )
    assert again.failed == {} and again.examined == 2
    assert [(r.request_id, r.outcome) for r in again.redriven] == [(boom, "started")]


# ── 3. retention gaps and reset checkpoints are reported ─────────────────────────────────────


async def test_records_retention_deleted_before_they_were_proven_are_reported(
    infra: Infra, tmp_path: Path, store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = await _topic(infra, tmp_path, 1)
    ids = [_rid(f"ret{i}") for i in range(6)]
    await topic.produce([(0, *_request(rid)) for rid in ids])
    temporal = FakeTemporal(started={f"dsr-{rid}" for rid in ids})
    opened = await store(topic.settings)
    reconciler = _reconciler(topic.settings, temporal, opened, Publisher())
    await topic.commit(topic.settings.intake_group, {0: 2})
    first = await reconciler.reconcile_requests(ReconcileInput())
    assert first.checkpoint == {0: 2} and first.lost_to_retention == 0

    # The broker's retention moves the log's start to 4 before the next run (tansu has no
    # DeleteRecords, so the reader's view of the log start is moved instead).
    real_reader = reconcile.requests_reader

    def reader(settings: Settings) -> AIOKafkaConsumer:
        consumer = real_reader(settings)
        real = consumer.beginning_offsets

        async def beginning_offsets(partitions: Any) -> dict[TopicPartition, int]:
            return {tp: 4 for tp in await real(partitions)}

        consumer.beginning_offsets = beginning_offsets
        return consumer

    monkeypatch.setattr(reconcile, "requests_reader", reader)
    await topic.commit(topic.settings.intake_group, {0: 6})
    with structlog.testing.capture_logs() as logs:
        report = await reconciler.reconcile_requests(ReconcileInput())
    assert report.lost_to_retention == 2 and report.examined == 2
    assert report.checkpoint == {0: 6}
    warning = next(e for e in logs if e["event"].startswith("records deleted by retention"))
    assert (warning["count"], warning["from_offset"], warning["to_offset"]) == (2, 2, 4)
    assert not any(rid in json.dumps(warning, default=str) for rid in ids)  # no request data
    trail = await opened.audit_trail(f"partition-{topic.name}-0")
    assert [(e.details["outcome"], e.details["count"]) for e in trail] == [("lost_to_retention", 2)]

    again = await reconciler.reconcile_requests(ReconcileInput())  # reported once
    assert again.lost_to_retention == 0
    assert len(await opened.audit_trail(f"partition-{topic.name}-0")) == 1


async def test_a_checkpoint_past_the_logs_end_is_a_reported_reset(
    infra: Infra, tmp_path: Path, store: OpenStore
) -> None:
    """The topic was recreated: the old checkpoint (50) points past the new log's end."""
    topic = await _topic(infra, tmp_path, 1)
    rid = _rid("reset")
    offsets = await topic.produce([(0, *_request(rid)), (0, b"req-unsigned-1", b"{}", [])])
    await topic.commit(checkpoint_group(topic.settings), {0: 50})
    await topic.commit(topic.settings.intake_group, {0: offsets[-1] + 1})
    opened = await store(topic.settings)

    report = await _reconciler(
        topic.settings, FakeTemporal(started={f"dsr-{rid}"}), opened, Publisher()
    ).reconcile_requests(ReconcileInput())

    assert report.checkpoint_resets == {0: 50}
    assert report.examined == 2 and report.accounted == 1
    assert [(r.offset, r.outcome) for r in report.redriven] == [(offsets[1], "dead_lettered")]
    assert report.checkpoint == {0: offsets[-1] + 1}
    trail = await opened.audit_trail(f"partition-{topic.name}-0")
    assert [e.details["outcome"] for e in trail] == ["checkpoint_reset"]


# ── 4. a repair is reported even if its audit write failed ────────────────────────────────────


@pytest.mark.parametrize("valid", [True, False], ids=["started", "dead_lettered"])
async def test_a_repair_whose_audit_write_failed_is_reported_by_the_retry_once(
    infra: Infra, tmp_path: Path, store: OpenStore, valid: bool
) -> None:
    topic = await _topic(infra, tmp_path, 1)
    rid = _rid("audit")
    key, value, headers = _request(rid) if valid else (rid.encode(), b"{}", [])
    await topic.produce([(0, key, value, headers)])
    await topic.commit(topic.settings.intake_group, {0: 1})
    temporal, publisher = FakeTemporal(), Publisher()
    opened = await store(topic.settings)
    # the re-drive succeeds, then the store drops the connection on its audit entry
    flaky = FlakyAudit(opened, lambda e: e.dedupe_key.startswith("reconciled:"))
    reconciler = _reconciler(topic.settings, temporal, flaky, publisher)

    with pytest.raises((ApplicationError, ConnectionResetError)):  # the run fails
        await reconciler.reconcile_requests(ReconcileInput())
    assert flaky.failed == 1
    retry = await reconciler.reconcile_requests(ReconcileInput())  # Temporal's retry

    outcome = "started" if valid else "dead_lettered"
    # An unsigned record's key is its producer's free text: reported and audited by position.
    audited_as = rid if valid else f"record-{topic.settings.requests_topic}-0-0"
    assert [(r.request_id, r.outcome) for r in retry.redriven] == [
        (rid if valid else None, outcome)
    ]
    assert [e.details["outcome"] for e in _results(await opened.audit_trail(audited_as))] == [
        outcome
    ]
    assert temporal.starts == (1 if valid else 0)
    assert len(publisher.published) == (1 if valid else 0)
    assert len(await topic.dead_letters()) == (0 if valid else 1)

    third = await reconciler.reconcile_requests(ReconcileInput())
    assert third.examined == 0 and len(_results(await opened.audit_trail(audited_as))) == 1


# ── 5. overlapping runs dead-letter a record once ───────────────────────────────────────────


async def test_overlapping_runs_dead_letter_and_report_a_record_once(
    infra: Infra, tmp_path: Path, store: OpenStore
) -> None:
    topic = await _topic(infra, tmp_path, 1)
    rids = [_rid(f"overlap{i}") for i in range(3)]
    await topic.produce([(0, rid.encode(), b'{"not":"signed"}', []) for rid in rids])
    await topic.commit(topic.settings.intake_group, {0: 3})
    opened = await store(topic.settings)
    temporal = FakeTemporal()

    runs = await asyncio.gather(
        *(
            _reconciler(topic.settings, temporal, opened, Publisher()).reconcile_requests(
                ReconcileInput()
            )
            for _ in range(2)
        )
    )

    assert await topic.dead_letters() == [(0, o, "missing_signature") for o in range(3)]
    assert sorted(r.offset for run in runs for r in run.redriven) == [0, 1, 2]
    for offset in range(3):  # unsigned: audited by position, never under the producer's key
        where = f"record-{topic.settings.requests_topic}-0-{offset}"
        assert len(_results(await opened.audit_trail(where))) == 1
    for rid in rids:
        assert await opened.audit_trail(rid) == []
    # whatever one run left to the other is proven by the next run, not dead-lettered again
    after = await _reconciler(topic.settings, temporal, opened, Publisher()).reconcile_requests(
        ReconcileInput()
    )
    assert after.redriven == [] and after.checkpoint == {0: 3}
    assert len(await topic.dead_letters()) == 3


# ── 6. a slow partition makes progress, run by run ───────────────────────────────────────────


async def test_a_slow_partition_commits_its_progress_and_each_run_goes_on(
    infra: Infra, tmp_path: Path, store: OpenStore
) -> None:
    topic = await _topic(infra, tmp_path, 1)
    ids = [_rid(f"slow{i}") for i in range(60)]
    await topic.produce([(0, *_request(rid)) for rid in ids])
    await topic.commit(topic.settings.intake_group, {0: 60})
    temporal = FakeTemporal(started={f"dsr-{rid}" for rid in ids}, describe_delay=0.03)
    opened = await store(topic.settings)
    reconciler = _reconciler(topic.settings, temporal, opened, Publisher(), time_budget=1.5)

    seen = []
    for _ in range(30):
        report = await reconciler.reconcile_requests(ReconcileInput())
        assert report.failed == {}
        committed = await topic.committed(checkpoint_group(topic.settings), 1)
        assert committed == report.checkpoint
        seen.append(report.checkpoint[0])
        if report.checkpoint[0] == 60:
            break
    assert seen[0] < 60, "one run could not do it all in its budget"
    assert seen == sorted(seen) and len(set(seen)) == len(seen), "every run made progress"
    assert seen[-1] == 60 and report.remaining == 0


# ── 7. every partition's checkpoint is committed on every run ────────────────────────────────


async def test_a_partition_with_nothing_new_is_committed_again(
    infra: Infra, tmp_path: Path, store: OpenStore
) -> None:
    topic = await _topic(infra, tmp_path, 2)
    rid = _rid("idle")
    await topic.produce([(0, *_request(rid))])
    await topic.commit(topic.settings.intake_group, {0: 1})
    opened = await store(topic.settings)
    reconciler = _reconciler(
        topic.settings, FakeTemporal(started={f"dsr-{rid}"}), opened, Publisher()
    )
    await reconciler.reconcile_requests(ReconcileInput())
    group = checkpoint_group(topic.settings)
    assert await topic.committed(group, 2) == {0: 1, 1: 0}

    # Nothing new at all: both are committed again (a commit refreshes the offsets' expiry).
    commits: list[dict[TopicPartition, int]] = []
    real_reader = reconcile.requests_reader

    def reader(settings: Settings) -> AIOKafkaConsumer:
        consumer = real_reader(settings)
        real_commit = consumer.commit

        async def commit(offsets: Any = None) -> None:
            commits.append(dict(offsets))
            await real_commit(offsets)

        consumer.commit = commit
        return consumer

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reconcile, "requests_reader", reader)
        again = await reconciler.reconcile_requests(ReconcileInput())
    assert again.examined == 0
    committed = {tp.partition: offset for c in commits for tp, offset in c.items()}
    assert committed == {0: 1, 1: 0}
