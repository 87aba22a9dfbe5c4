"""The store: request summaries, completion records and the append-only, hash-chained audit trail.

All three are written by workflow activities, which Temporal may retry after a crash, so every
write is idempotent: upserting a summary again is harmless, a completion record is written once,
and an audit entry is appended once per `dedupe_key`.

Audit chain: each entry's `hash` is SHA-256 over the previous entry's hash and the canonical JSON
of the entry (see `_hashing`); appends are serialised (PostgreSQL: a transaction-level advisory
lock; SQLite: BEGIN IMMEDIATE), so concurrent writers in several processes never fork the chain.
Triggers in the database reject UPDATE, DELETE (and on PostgreSQL TRUNCATE) of audit entries.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from orchestrator.store._engine import POOL_SIZE, create_engine, normalise_url, write_transaction
from orchestrator.store._errors import AuditChainBroken, SchemaOutOfDate
from orchestrator.store._hashing import GENESIS_HASH, canonical_json, chain_hash, entry_document
from orchestrator.store._migrate import (
    current_revision,
    head_revision,
    known_revisions,
    upgrade_engine,
)
from orchestrator.store._queries import (
    RequestQuery,
    build_count,
    build_select,
    encode_cursor,
)
from orchestrator.store._tables import (
    audit_events,
    completion_records,
    request_system_outcomes,
    requests,
    subject_fingerprints,
)
from schemas.events import RequestKind
from schemas.records import (
    AuditAction,
    AuditEvent,
    CompletionRecord,
    FollowUpEntry,
    RequestSummary,
    RestrictionLiftRecord,
)
from schemas.status import RequestStatus

__all__ = ["Store"]


class _Append:
    """One audit append waiting for its group (and, for `record_status`, its summary)."""

    __slots__ = ("at", "details", "document", "done", "event", "summary")

    def __init__(
        self,
        event: AuditEvent,
        document: dict[str, Any],
        details: Any,
        at: datetime,
        summary: RequestSummary | None = None,
    ) -> None:
        self.event, self.document, self.details, self.at = event, document, details, at
        self.summary = summary
        self.done: asyncio.Future[AuditEvent] = asyncio.get_running_loop().create_future()


# pg_advisory_xact_lock key serialising audit appends ("dsr-aud" as a 56-bit number).
AUDIT_LOCK_KEY = 0x6473722D617564

_M = TypeVar("_M", bound=BaseModel)


def _utc_fields(model: _M) -> _M:
    """The model with its top-level datetimes converted to `datetime.UTC`."""
    update = {
        name: value.astimezone(UTC)
        for name, value in model
        if isinstance(value, datetime) and value.tzinfo is not None
    }
    return model.model_copy(update=update) if update else model


_LIFECYCLE = frozenset({"extension", "reminders", "decisions"})


def _lifecycle_columns(summary: RequestSummary) -> dict[str, Any]:
    document = summary.model_dump(mode="json", include=set(_LIFECYCLE))
    return {name: document[name] for name in _LIFECYCLE}


def _with_follow_up(
    entries: list[FollowUpEntry], entry: FollowUpEntry
) -> list[FollowUpEntry] | None:
    """The record's follow-ups with `entry` in its date's place (None: nothing changes). Only a
    later attempt replaces a date's entry: a retried activity re-sends the same attempt, and an
    attempt is never recorded after the next one has been. The systems the earlier attempts
    erased are not tried again, so their counts are kept under the new entry's."""
    for index, earlier in enumerate(entries):
        if earlier.due_on != entry.due_on:
            continue
        if entry.attempt <= earlier.attempt:
            return None
        merged = entry.model_copy(update={"erased": earlier.erased | entry.erased})
        return [*entries[:index], merged, *entries[index + 1 :]]
    return [*entries, entry]


def _require_aware(name: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} is a naive datetime; the store needs timezone-aware datetimes")


class Store:
    """Async access to the store. Open with `await Store.open(url)` (or `async with`), close with
    `await store.close()`. One instance per process is enough: it pools connections and is safe
    for concurrent use by many tasks of one event loop."""

    def __init__(self, engine: AsyncEngine) -> None:
        """Wrap an engine from `_engine.create_engine`; most callers want `Store.open`."""
        self._engine = engine
        self._dialect = engine.dialect.name
        # Appends from one process queue here instead of all waiting on the database lock.
        self._append_lock = asyncio.Lock()
        self._pending: list[_Append] = []  # appends waiting for the lock (group commit)

    # -- lifecycle -----------------------------------------------------------------------------

    @classmethod
    async def open(
        cls, database_url: str, *, migrate: bool = True, pool_size: int = POOL_SIZE
    ) -> Store:
        """Connect to `database_url` (SQLite file or PostgreSQL) and, unless `migrate=False`,
        upgrade its schema to the newest migration. With `migrate=False` the schema must
        already be current, or `SchemaOutOfDate` is raised. `pool_size`: the most connections
        it holds (a service passes `Settings.store_pool_size`)."""
        engine = create_engine(normalise_url(database_url), pool_size=pool_size)
        try:
            if migrate:
                await upgrade_engine(engine)
            else:
                current, head = await current_revision(engine), head_revision()
                if current != head:
                    known = current is None or current in known_revisions()
                    raise SchemaOutOfDate(current, head, known=known)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine)

    async def close(self) -> None:
        await self._engine.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def engine(self) -> AsyncEngine:
        """The underlying engine (for health checks and tests; write through the methods)."""
        return self._engine

    def _insert(self, table: sa.Table) -> Any:
        dialect_module = postgresql if self._dialect == "postgresql" else sqlite
        return dialect_module.insert(table)

    # -- request summaries ---------------------------------------------------------------------

    async def upsert_request(self, summary: RequestSummary) -> None:
        """Insert or replace the request's current state.

        A summary older than the stored one (smaller `updated_at`, e.g. from a delayed retry) does
        not overwrite it; one with the same `updated_at` does (a retry writes the same state).
        """
        async with write_transaction(self._engine) as conn:
            await self._write_request(conn, summary)

    async def record_status(self, summary: RequestSummary, event: AuditEvent) -> AuditEvent:
        """`upsert_request` and `append_audit` in one transaction: a state is never stored
        without its audit entry, nor the entry without the state. Idempotent like both."""
        return await self._grouped(_Append(event, *self._audit_document(event), summary))

    async def _write_request(self, conn: AsyncConnection, summary: RequestSummary) -> None:
        """The upsert and, when it took effect, the request's per-system outcomes (0005, the
        desk's outcome filter) replaced in the same transaction: the two never disagree."""
        statement = self._upsert_statement(summary).returning(requests.c.request_id)
        if (await conn.execute(statement)).first() is None:
            return  # an older summary than the stored one: nothing was written
        outcomes = request_system_outcomes
        await conn.execute(sa.delete(outcomes).where(outcomes.c.request_id == summary.request_id))
        rows = {s.system: s.outcome.value for s in summary.systems}  # one row per system
        if rows:
            await conn.execute(
                sa.insert(outcomes),
                [
                    {"request_id": summary.request_id, "system": system, "outcome": outcome}
                    for system, outcome in rows.items()
                ],
            )

    def _upsert_statement(self, summary: RequestSummary) -> Any:
        for name in ("received_at", "due_at", "updated_at", "completed_at"):
            _require_aware(name, getattr(summary, name))
        row = summary.model_dump(mode="python", exclude={"systems"})
        row["systems"] = [system.model_dump(mode="json") for system in summary.systems]
        row.update(_lifecycle_columns(summary))  # 0002: JSON columns hold JSON-mode documents
        row["package"] = summary.package.model_dump(mode="json") if summary.package else None
        restriction = summary.restriction
        row["restriction"] = restriction.model_dump(mode="json") if restriction else None
        for name in ("kind", "channel", "status"):
            row[name] = str(row[name])
        insert = self._insert(requests).values(**row)
        statement = insert.on_conflict_do_update(
            index_elements=[requests.c.request_id],
            set_={name: insert.excluded[name] for name in row if name != "request_id"},
            where=requests.c.updated_at <= insert.excluded.updated_at,
        )
        return statement

    async def has_request(self, request_id: str) -> bool:
        """Whether a request with this id was ever stored (cheaper than `get_request`)."""
        async with self._engine.connect() as conn:
            result = await conn.execute(
                sa.select(requests.c.request_id).where(requests.c.request_id == request_id)
            )
            return result.first() is not None

    async def get_request(self, request_id: str) -> RequestSummary | None:
        async with self._engine.connect() as conn:
            result = await conn.execute(
                sa.select(requests).where(requests.c.request_id == request_id)
            )
            row = result.mappings().one_or_none()
        return None if row is None else self._summary(row)

    async def list_requests(
        self, status: RequestStatus | None = None, limit: int = 100
    ) -> list[RequestSummary]:
        """Requests, newest received first, optionally only those with `status`."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        query = (
            sa.select(requests)
            .order_by(requests.c.received_at.desc(), requests.c.request_id.desc())
            .limit(limit)
        )
        if status is not None:
            query = query.where(requests.c.status == str(RequestStatus(status)))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [self._summary(row) for row in rows]

    async def query_requests(self, query: RequestQuery) -> tuple[list[RequestSummary], str | None]:
        """One page of the desk's list (filters, sort, cursor; see `_queries`) and the cursor
        of the next page (None on the last). An invalid cursor raises `InvalidCursor`."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(build_select(query))).mappings().all()
        more = query.limit is not None and len(rows) > query.limit
        page = rows[: query.limit] if more else rows
        cursor = encode_cursor(query, page[-1]) if more and page else None
        return [self._summary(row) for row in page], cursor

    async def count_requests(self, query: RequestQuery, cap: int | None = None) -> int:
        """How many requests match the query's filters (at most `cap + 1` with a cap)."""
        async with self._engine.connect() as conn:
            return int((await conn.execute(build_count(query, cap))).scalar_one())

    async def count_by_status(self) -> dict[str, int]:
        """Requests per status (the desk's overview)."""
        statement = sa.select(requests.c.status, sa.func.count()).group_by(requests.c.status)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(statement)).all()
        return {str(status): int(count) for status, count in rows}

    @staticmethod
    def _summary(row: sa.RowMapping) -> RequestSummary:
        # Only the model's fields: anything derived that a row may carry is not state.
        document = {k: v for k, v in row.items() if k in RequestSummary.model_fields}
        # 0002's columns are NULL on rows written before it: the model's defaults apply then.
        document = {k: v for k, v in document.items() if v is not None or k not in _LIFECYCLE}
        return _utc_fields(RequestSummary.model_validate(document))

    # -- subject fingerprints (0002) -----------------------------------------------------------

    async def remember_subject(
        self,
        request_id: str,
        kind: RequestKind,
        received_at: datetime,
        fingerprints: list[str],
        identity: Collection[str] = (),
    ) -> None:
        """Keep the request's subject fingerprints (keyed hashes, see `_fingerprints`), marking
        those of `identity` (its personnummer). Idempotent: a retried
        activity inserts nothing twice."""
        _require_aware("received_at", received_at)
        if not fingerprints:
            return
        marked = set(identity)
        rows = [
            {
                "fingerprint": fingerprint,
                "request_id": request_id,
                "kind": str(kind),
                "received_at": received_at,
                "identity": fingerprint in marked,
            }
            for fingerprint in fingerprints
        ]
        statement = (
            self._insert(subject_fingerprints)
            .values(rows)
            .on_conflict_do_nothing(index_elements=list(subject_fingerprints.primary_key))
        )
        async with write_transaction(self._engine) as conn:
            await conn.execute(statement)

    async def earlier_requests_of_subject(
        self,
        fingerprints: list[str],
        *,
        kinds: list[RequestKind],
        since: datetime,
        before: datetime,
        exclude_request_id: str,
        identity: Collection[str] = (),
    ) -> list[str]:
        """Ids of other requests of these `kinds` received in [since, before) of the same
        subject (`_requests_sharing`), leaving out requests that were denied or cancelled (no
        copy was given). Oldest first."""
        _require_aware("since", since)
        _require_aware("before", before)
        fp = subject_fingerprints
        window = [fp.c.received_at >= since, fp.c.received_at < before]
        return await self._requests_sharing(
            fingerprints, kinds, exclude_request_id, window, identity
        )

    async def requests_of_subject(
        self,
        fingerprints: list[str],
        *,
        kinds: list[RequestKind],
        exclude_request_id: str,
        identity: Collection[str] = (),
    ) -> list[str]:
        """Ids of other requests of these `kinds`, received at any time, of the same subject
        (the other restrictions of a subject whose restriction is being lifted), leaving out
        requests that were denied or cancelled. Oldest first."""
        return await self._requests_sharing(fingerprints, kinds, exclude_request_id, [], identity)

    async def _requests_sharing(
        self,
        fingerprints: list[str],
        kinds: list[RequestKind],
        exclude_request_id: str,
        window: list[sa.ColumnElement[bool]],
        identity: Collection[str] = (),
    ) -> list[str]:
        """Requests whose subject shares a fingerprint — unless both name a personnummer and
        none is shared: then they share an e-mail address or a customer number, not a person
        (a household's address; `identity` is this subject's personnummer fingerprints, given
        by the repeat check only). Rows from before 0007 know no identity: kept."""
        if not fingerprints:
            return []
        fp = subject_fingerprints
        query = (
            sa.select(fp.c.request_id, sa.func.min(fp.c.received_at).label("first"))
            .select_from(fp.outerjoin(requests, requests.c.request_id == fp.c.request_id))
            .where(
                fp.c.fingerprint.in_(fingerprints),
                fp.c.kind.in_([str(k) for k in kinds]),
                *window,
                fp.c.request_id != exclude_request_id,
                sa.or_(
                    requests.c.status.is_(None),
                    requests.c.status.not_in(
                        [str(RequestStatus.DENIED), str(RequestStatus.CANCELLED)]
                    ),
                ),
            )
            .group_by(fp.c.request_id)
            .order_by(sa.text("first"), fp.c.request_id)
        )
        async with self._engine.connect() as conn:
            found = [str(row.request_id) for row in (await conn.execute(query)).all()]
            if not identity or not found:
                return found
            numbers = (
                await conn.execute(
                    sa.select(fp.c.request_id, fp.c.fingerprint).where(
                        fp.c.request_id.in_(found), fp.c.identity.is_(True)
                    )
                )
            ).all()
        theirs: dict[str, set[str]] = {}
        for row in numbers:
            theirs.setdefault(str(row.request_id), set()).add(str(row.fingerprint))
        mine = set(identity)
        return [r for r in found if r not in theirs or theirs[r] & mine]

    # -- completion records --------------------------------------------------------------------

    async def save_completion_record(self, record: CompletionRecord) -> CompletionRecord:
        """Store the request's completion record once. Saving again (a retried activity) changes
        nothing and returns the record stored first, even if the new one differs."""
        for name in ("received_at", "due_at", "completed_at"):
            _require_aware(name, getattr(record, name))
        document = _utc_fields(record).model_dump(mode="json")
        statement = (
            self._insert(completion_records)
            .values(request_id=record.request_id, record=document, created_at=datetime.now(UTC))
            .on_conflict_do_nothing(index_elements=[completion_records.c.request_id])
        )
        async with write_transaction(self._engine) as conn:
            await conn.execute(statement)
            stored = (
                await conn.execute(
                    sa.select(completion_records.c.record).where(
                        completion_records.c.request_id == record.request_id
                    )
                )
            ).scalar_one()
        return _utc_fields(CompletionRecord.model_validate(stored))

    async def append_follow_up(
        self, request_id: str, entry: FollowUpEntry
    ) -> CompletionRecord | None:
        """Add a deferred erasure's entry to a completion record (the record is otherwise
        written once): one entry per `due_on`. A later attempt for a date replaces that date's
        entry, keeping the counts of the systems an earlier attempt erased, so the record ends
        showing the truth; the same or an earlier attempt again (a retried activity) changes
        nothing."""

        def add(record: CompletionRecord) -> CompletionRecord | None:
            follow_ups = _with_follow_up(record.follow_ups, entry)
            return (
                None if follow_ups is None else record.model_copy(update={"follow_ups": follow_ups})
            )

        return await self._amend_completion_record(request_id, add)

    async def record_restriction_lift(
        self, request_id: str, lift: RestrictionLiftRecord
    ) -> CompletionRecord | None:
        """Put a restriction lift's record into the request's completion record (otherwise
        written once), replacing an earlier one only if this one finished later (a retried
        activity writes the same record again: nothing changes). None: no completion record."""

        def put(record: CompletionRecord) -> CompletionRecord | None:
            earlier = record.restriction_lift
            if earlier is not None and earlier.finished_at >= lift.finished_at:
                return None
            return record.model_copy(update={"restriction_lift": lift})

        return await self._amend_completion_record(request_id, put)

    async def _amend_completion_record(
        self,
        request_id: str,
        amend: Callable[[CompletionRecord], CompletionRecord | None],
    ) -> CompletionRecord | None:
        """Read, amend and write back a completion record in one write transaction (it is
        otherwise written once). `amend` returns the new record, or None to leave it as it is.
        Returns the record as stored; None: the request has no completion record."""
        async with write_transaction(self._engine) as conn:
            stored = (
                await conn.execute(
                    sa.select(completion_records.c.record).where(
                        completion_records.c.request_id == request_id
                    )
                )
            ).scalar_one_or_none()
            if stored is None:
                return None
            record = CompletionRecord.model_validate(stored)
            amended = amend(record)
            if amended is None:
                return _utc_fields(record)
            record = amended
            await conn.execute(
                sa.update(completion_records)
                .where(completion_records.c.request_id == request_id)
                .values(record=_utc_fields(record).model_dump(mode="json"))
            )
        return _utc_fields(record)

    async def get_completion_record(self, request_id: str) -> CompletionRecord | None:
        async with self._engine.connect() as conn:
            stored = (
                await conn.execute(
                    sa.select(completion_records.c.record).where(
                        completion_records.c.request_id == request_id
                    )
                )
            ).scalar_one_or_none()
        return None if stored is None else _utc_fields(CompletionRecord.model_validate(stored))

    # -- audit trail ---------------------------------------------------------------------------

    async def append_audit(self, event: AuditEvent) -> AuditEvent:
        """Append `event` to the audit trail and return it with `sequence`, `prev_hash` and
        `hash` set. `at` must be timezone-aware and comes back in UTC; `details` come back as
        stored, i.e. as pydantic writes them to JSON (datetimes as ISO strings, sets as lists,
        NaN as null; unserialisable values raise `ValueError`). If an entry with the same
        `dedupe_key` exists, nothing is appended and that entry is returned."""
        return await self._grouped(_Append(event, *self._audit_document(event)))

    async def _grouped(self, append: _Append) -> AuditEvent:
        """Group commit: appends that arrive while another is being written wait for the lock
        and are then written together, in arrival order, in one write transaction — one
        commit (one fsync) for the group instead of one each. Under a burst every status change
        of every running request queues here (the chain is one sequence), so this is where the
        store's throughput is decided. A group that fails is written again one by one, so one
        bad append fails only its own caller."""
        self._pending.append(append)
        try:
            async with self._append_lock:
                if not append.done.done():
                    group, self._pending = self._pending, []
                    try:
                        await self._write_group(group)
                    except BaseException:
                        # Cancelled part-way: nothing of the group was committed; the others'
                        # appends go back for the next holder of the lock (they wait for it).
                        self._pending[:0] = [
                            a for a in group if a is not append and not a.done.done()
                        ]
                        raise
        except asyncio.CancelledError:
            if append in self._pending:  # cancelled while waiting: not written at all
                self._pending.remove(append)
            raise
        return append.done.result()

    async def _write_group(self, group: list[_Append]) -> None:
        try:
            async with write_transaction(self._engine) as conn:
                results = [await self._write_one(conn, a) for a in group]
        except Exception as error:
            if len(group) == 1:
                group[0].done.set_exception(error)
                return
            for append in group:  # isolate the failing append: each in its own transaction
                try:
                    async with write_transaction(self._engine) as conn:
                        append.done.set_result(await self._write_one(conn, append))
                except Exception as error:
                    append.done.set_exception(error)
            return
        for append, result in zip(group, results, strict=True):
            append.done.set_result(result)

    async def _write_one(self, conn: AsyncConnection, append: _Append) -> AuditEvent:
        if append.summary is not None:
            await self._write_request(conn, append.summary)
        return await self._append_locked(
            conn, append.event, append.document, append.details, append.at
        )

    @staticmethod
    def _audit_document(event: AuditEvent) -> tuple[dict[str, Any], Any, datetime]:
        _require_aware("at", event.at)
        details = event.model_dump(mode="json", include={"details"})["details"]
        at = event.at.astimezone(UTC)
        document = entry_document(
            request_id=event.request_id,
            action=str(event.action),
            actor=event.actor,
            at=at,
            details=details,
            dedupe_key=event.dedupe_key,
        )
        canonical_json(document)  # fail before locking anything if it cannot be hashed
        return document, details, at

    async def _append_locked(
        self,
        conn: AsyncConnection,
        event: AuditEvent,
        document: dict[str, Any],
        details: Any,
        at: datetime,
    ) -> AuditEvent:
        """The append itself; the caller holds `_append_lock` and a write transaction."""
        if self._dialect == "postgresql":
            await conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY}
            )
        existing = (
            (
                await conn.execute(
                    sa.select(audit_events).where(audit_events.c.dedupe_key == event.dedupe_key)
                )
            )
            .mappings()
            .one_or_none()
        )
        if existing is not None:
            return self._event(existing)
        last_hash = (
            await conn.execute(
                sa.select(audit_events.c.hash).order_by(audit_events.c.sequence.desc()).limit(1)
            )
        ).scalar_one_or_none()
        prev_hash = last_hash or GENESIS_HASH
        entry_hash = chain_hash(prev_hash, document)
        sequence = (
            await conn.execute(
                sa.insert(audit_events)
                .values(
                    request_id=event.request_id,
                    action=str(event.action),
                    actor=event.actor,
                    at=at,
                    details=details,
                    dedupe_key=event.dedupe_key,
                    prev_hash=prev_hash,
                    hash=entry_hash,
                )
                .returning(audit_events.c.sequence)
            )
        ).scalar_one()
        return event.model_copy(
            update={
                "at": at,
                "details": details,
                "sequence": sequence,
                "prev_hash": prev_hash,
                "hash": entry_hash,
            }
        )

    async def audit_by_dedupe_key(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The entries with these dedupe keys (`dedupe_key`, `details`, `at`), by key: one
        indexed read, for a writer that marks its own progress in the trail (the reconciler's
        claim and result entries)."""
        if not keys:
            return {}
        async with self._engine.connect() as conn:
            rows = (
                (
                    await conn.execute(
                        sa.select(
                            audit_events.c.dedupe_key, audit_events.c.details, audit_events.c.at
                        ).where(audit_events.c.dedupe_key.in_(list(keys)))
                    )
                )
                .mappings()
                .all()
            )
        return {row["dedupe_key"]: dict(row) for row in rows}

    async def audit_trail(self, request_id: str) -> list[AuditEvent]:
        """The request's audit entries in sequence order."""
        async with self._engine.connect() as conn:
            rows = (
                (
                    await conn.execute(
                        sa.select(audit_events)
                        .where(audit_events.c.request_id == request_id)
                        .order_by(audit_events.c.sequence)
                    )
                )
                .mappings()
                .all()
            )
        return [self._event(row) for row in rows]

    async def verify_audit_chain(self) -> int:
        """Recompute the whole chain in sequence order; return the number of entries verified.
        Raises `AuditChainBroken(sequence)` at the first entry that does not match its hash or
        does not link to the hash of the entry before it."""
        verified = 0
        expected_prev = GENESIS_HASH
        async with self._engine.connect() as conn, conn.begin():
            result = await conn.stream(
                sa.select(audit_events)
                .order_by(audit_events.c.sequence)
                .execution_options(yield_per=1000)
            )
            async for row in result.mappings():
                sequence = row["sequence"]
                if row["prev_hash"] != expected_prev:
                    raise AuditChainBroken(
                        sequence,
                        f"prev_hash {row['prev_hash']} is not the hash of the entry before it "
                        f"({expected_prev})",
                    )
                try:
                    recomputed = chain_hash(
                        row["prev_hash"],
                        entry_document(
                            request_id=row["request_id"],
                            action=row["action"],
                            actor=row["actor"],
                            at=row["at"],
                            details=row["details"],
                            dedupe_key=row["dedupe_key"],
                        ),
                    )
                except (TypeError, ValueError) as exc:
                    raise AuditChainBroken(sequence, f"entry cannot be hashed: {exc}") from exc
                if recomputed != row["hash"]:
                    raise AuditChainBroken(
                        sequence, f"content hashes to {recomputed}, stored hash is {row['hash']}"
                    )
                expected_prev = row["hash"]
                verified += 1
        return verified

    async def audit_head(self) -> tuple[int, str, int] | None:
        """The chain's head: (sequence, hash, number of entries), None while it is empty. What
        `orchestrator.audit` signs and publishes as a checkpoint."""
        async with self._engine.connect() as conn, conn.begin():
            last = (
                await conn.execute(
                    sa.select(audit_events.c.sequence, audit_events.c.hash)
                    .order_by(audit_events.c.sequence.desc())
                    .limit(1)
                )
            ).one_or_none()
            if last is None:
                return None
            count = (
                await conn.execute(
                    sa.select(sa.func.count()).where(audit_events.c.sequence <= last.sequence)
                )
            ).scalar_one()
        return int(last.sequence), str(last.hash), int(count)

    async def iter_audit_rows(self, batch: int = 1000) -> AsyncIterator[dict[str, Any]]:
        """Every audit entry as stored (raw column values, nothing interpreted), in sequence
        order, streamed: for verifiers that must not trust a row to be well-formed."""
        async with self._engine.connect() as conn, conn.begin():
            result = await conn.stream(
                sa.select(audit_events)
                .order_by(audit_events.c.sequence)
                .execution_options(yield_per=batch)
            )
            # A batch per await: one switch into the driver's thread per `batch` rows, not per row.
            async for rows in result.mappings().partitions(batch):
                for row in rows:
                    yield dict(row)

    @staticmethod
    def _event(row: sa.RowMapping) -> AuditEvent:
        return AuditEvent(
            request_id=row["request_id"],
            action=AuditAction(row["action"]),
            actor=row["actor"],
            at=row["at"],
            details=row["details"],
            dedupe_key=row["dedupe_key"],
            sequence=row["sequence"],
            prev_hash=row["prev_hash"],
            hash=row["hash"],
        )
