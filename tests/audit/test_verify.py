"""`verify_chain`: an altered, deleted or reordered entry, or a chain rewritten and re-hashed
after dropping the append-only triggers, is found at its first bad position — the last one only
thanks to the signed checkpoints. On SQLite and PostgreSQL (the `store` fixture)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from orchestrator.audit import (
    BreakKind,
    ChainHead,
    ChainLink,
    CheckpointKind,
    VerificationReport,
    seal_checkpoint,
    verify_chain,
)
from orchestrator.store import GENESIS_HASH, Store
from orchestrator.store._hashing import chain_hash, entry_document
from schemas.records import AuditEvent

Make = Callable[..., AuditEvent]
Disable = Callable[[Store], Awaitable[None]]
REQUESTS = ["req-a", "req-b", "req-c"]


async def build_chain(
    store: Store, make_event: Make, private: Ed25519PrivateKey
) -> tuple[list[AuditEvent], list[bytes]]:
    """Three requests of four entries each, interleaved; a completion checkpoint after each
    request's last entry (as the workflow's record_completion does) and a periodic one."""
    events: list[AuditEvent] = []
    checkpoints: list[bytes] = []
    for round_ in range(4):
        for request_id in REQUESTS:
            events.append(await store.append_audit(make_event(request_id)))
            if round_ == 3:
                checkpoints.append(await completion_checkpoint(store, private, request_id))
    head = await store.audit_head()
    assert head is not None
    checkpoints.append(
        seal_checkpoint(
            private,
            kind=CheckpointKind.PERIODIC,
            issued_at=datetime.now(UTC),
            head=ChainHead(sequence=head[0], hash=head[1], entries=head[2]),
        ).to_bytes()
    )
    return events, checkpoints


async def completion_checkpoint(store: Store, private: Ed25519PrivateKey, request_id: str) -> bytes:
    head = await store.audit_head()
    assert head is not None
    trail = [
        ChainLink(sequence=e.sequence or 0, hash=e.hash or "")
        for e in await store.audit_trail(request_id)
    ]
    return seal_checkpoint(
        private,
        kind=CheckpointKind.COMPLETION,
        issued_at=datetime.now(UTC),
        head=ChainHead(sequence=head[0], hash=head[1], entries=head[2]),
        request_id=request_id,
        trail=trail,
    ).to_bytes()


async def verify(
    store: Store, checkpoints: list[bytes] | None = None, private: Ed25519PrivateKey | None = None
) -> VerificationReport:
    public = private.public_key() if private is not None else None
    return await verify_chain(store.iter_audit_rows(), checkpoints or [], public)


async def execute(store: Store, *statements: tuple[str, dict[str, object]]) -> None:
    async with store.engine.begin() as conn:
        for sql, params in statements:
            await conn.execute(sa.text(sql), params)


async def rewrite_from(store: Store, sequence: int) -> None:
    """What someone with write access does: change one entry, then recompute every hash after
    it so the chain is self-consistent again."""
    rows = [row async for row in store.iter_audit_rows()]
    prev = GENESIS_HASH
    updates = []
    for row in rows:
        if row["sequence"] == sequence:
            row["actor"] = "mallory"
        if row["sequence"] >= sequence:
            document = entry_document(
                request_id=row["request_id"],
                action=row["action"],
                actor=row["actor"],
                at=row["at"],
                details=row["details"],
                dedupe_key=row["dedupe_key"],
            )
            new_hash = chain_hash(prev, document)
            updates.append(
                (
                    "UPDATE audit_events SET actor = :a, prev_hash = :p, hash = :h "
                    "WHERE sequence = :s",
                    {"a": row["actor"], "p": prev, "h": new_hash, "s": row["sequence"]},
                )
            )
            prev = new_hash
        else:
            prev = row["hash"]
    await execute(store, *updates)


async def test_intact_chain_verifies_with_its_checkpoints(
    store: Store, make_event: Make, private_key: Ed25519PrivateKey
) -> None:
    events, checkpoints = await build_chain(store, make_event, private_key)
    report = await verify(store, checkpoints, private_key)
    assert report.ok, report.first_break
    assert (report.entries, report.requests, report.requests_broken) == (12, 3, 0)
    assert report.head is not None and report.head.hash == events[-1].hash
    assert report.checkpoints.valid == 4
    assert report.checkpoints.links_checked == 12  # every entry is in some completion trail
    assert report.first_break is None


async def test_altered_entry_is_found_at_its_position(
    store: Store, make_event: Make, private_key: Ed25519PrivateKey, disable_append_only: Disable
) -> None:
    events, checkpoints = await build_chain(store, make_event, private_key)
    target = events[4]  # req-b's second entry
    await disable_append_only(store)
    await execute(
        store,
        ("UPDATE audit_events SET actor = 'mallory' WHERE sequence = :s", {"s": target.sequence}),
    )
    for published in ([], checkpoints):
        report = await verify(store, published, private_key)
        assert not report.ok
        first = report.first_break
        assert first is not None
        assert (first.position, first.request_id, first.request_position) == (
            target.sequence,
            "req-b",
            2,
        )
        assert first.kind is BreakKind.ALTERED
        assert report.requests_broken == 1


async def test_deleted_entry_breaks_the_next_link_and_misses_its_checkpoint(
    store: Store, make_event: Make, private_key: Ed25519PrivateKey, disable_append_only: Disable
) -> None:
    events, checkpoints = await build_chain(store, make_event, private_key)
    target, after = events[6], events[7]
    await disable_append_only(store)
    await execute(store, ("DELETE FROM audit_events WHERE sequence = :s", {"s": target.sequence}))

    alone = await verify(store)
    assert alone.first_break is not None
    assert (alone.first_break.position, alone.first_break.kind) == (
        after.sequence,
        BreakKind.BROKEN_LINK,
    )

    proven = await verify(store, checkpoints, private_key)
    assert proven.first_break is not None
    assert (proven.first_break.position, proven.first_break.kind) == (
        target.sequence,
        BreakKind.MISSING,
    )
    assert proven.first_break.request_id == target.request_id


async def test_deleting_the_newest_entries_is_only_caught_by_the_checkpoints(
    store: Store, make_event: Make, private_key: Ed25519PrivateKey, disable_append_only: Disable
) -> None:
    events, checkpoints = await build_chain(store, make_event, private_key)
    await disable_append_only(store)
    await execute(
        store,
        ("DELETE FROM audit_events WHERE sequence >= :s", {"s": events[-2].sequence}),
    )
    assert (await verify(store)).ok  # a truncated chain is self-consistent
    report = await verify(store, checkpoints, private_key)
    assert not report.ok
    assert report.first_break is not None
    assert report.first_break.position == events[-2].sequence
    assert report.first_break.kind is BreakKind.MISSING
    assert report.head is not None and report.checkpoints.latest_head is not None
    assert report.head.sequence < report.checkpoints.latest_head.sequence


async def test_reordered_entries_break_the_link_at_the_first_moved_position(
    store: Store, make_event: Make, private_key: Ed25519PrivateKey, disable_append_only: Disable
) -> None:
    events, checkpoints = await build_chain(store, make_event, private_key)
    first, second = events[3].sequence, events[4].sequence
    await disable_append_only(store)
    await execute(
        store,
        ("UPDATE audit_events SET sequence = -1 WHERE sequence = :s", {"s": first}),
        ("UPDATE audit_events SET sequence = :a WHERE sequence = :b", {"a": first, "b": second}),
        ("UPDATE audit_events SET sequence = :b WHERE sequence = -1", {"b": second}),
    )
    for published in ([], checkpoints):
        report = await verify(store, published, private_key)
        assert report.first_break is not None
        assert report.first_break.position == first
        assert report.first_break.kind in (BreakKind.BROKEN_LINK, BreakKind.ALTERED)


async def test_rewritten_chain_is_self_consistent_but_differs_from_the_checkpoints(
    store: Store, make_event: Make, private_key: Ed25519PrivateKey, disable_append_only: Disable
) -> None:
    events, checkpoints = await build_chain(store, make_event, private_key)
    target = events[5]
    await disable_append_only(store)
    await rewrite_from(store, target.sequence or 0)

    assert (await verify(store)).ok  # recomputed hashes fool the chain alone
    report = await verify(store, checkpoints, private_key)
    assert not report.ok
    assert report.first_break is not None
    assert report.first_break.position == target.sequence
    assert report.first_break.kind is BreakKind.DIFFERS_FROM_CHECKPOINT
    assert report.first_break.request_id == target.request_id
    # every entry from the rewritten one on differs from what was published
    assert report.breaks_total == len(events) - 5


async def test_forged_and_tampered_checkpoints_count_for_nothing(
    store: Store, make_event: Make, private_key: Ed25519PrivateKey, disable_append_only: Disable
) -> None:
    events, checkpoints = await build_chain(store, make_event, private_key)
    await disable_append_only(store)
    await rewrite_from(store, events[0].sequence or 0)
    # the forger publishes checkpoints of the rewritten chain with their own key …
    mallory = Ed25519PrivateKey.generate()
    forged = [await completion_checkpoint(store, mallory, r) for r in REQUESTS]
    # … or edits a genuine checkpoint's body to match the rewritten chain
    rewritten_head = await store.audit_head()
    assert rewritten_head is not None
    tampered = checkpoints[-1].replace(
        checkpoints[-1].split(b'"hash":"')[1][:64], rewritten_head[1].encode()
    )
    report = await verify(store, [*forged, tampered], private_key)
    assert report.ok  # nothing valid was published: no proof either way …
    assert report.checkpoints.valid == 0
    assert report.checkpoints.rejected == 4
    assert report.checkpoints.rejected_reasons == {
        "signed with another key": 3,
        "signature does not verify": 1,
    }
    # … while the genuine ones still expose the rewrite
    assert not (await verify(store, [*forged, *checkpoints], private_key)).ok
