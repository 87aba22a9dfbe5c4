"""Verifying the audit trail without trusting the database.

Three independent checks, in one pass over the chain in sequence order:

1. content: each entry's stored hash is SHA-256(prev_hash || canonical entry): an altered
   entry is found at its own position (per request, too: each request's entries check on
   their own, whatever the rest of the chain says);
2. links: each entry names the hash of the entry before it: a deleted, inserted or reordered
   entry breaks the link at the first entry after it;
3. checkpoints: every (sequence, hash) that a valid signed checkpoint published must still be
   in the chain, with that hash: a chain rewritten and re-hashed from some entry on (after
   dropping the append-only triggers) differs at the first published link at or after that
   entry, and entries deleted from the end are missing a published head.

The report names the first break (position = sequence number, the request, and the entry's
position within that request's trail) and all breaks up to a cap.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from orchestrator.audit._checkpoint import ChainHead, CheckpointRejected, open_checkpoint
from orchestrator.store import GENESIS_HASH
from orchestrator.store._hashing import chain_hash, entry_document

__all__ = [
    "BreakKind",
    "ChainBreak",
    "CheckpointSummary",
    "VerificationReport",
    "verify_chain",
]

MAX_REPORTED_BREAKS = 50


class BreakKind(StrEnum):
    ALTERED = "altered"  # content does not hash to the stored hash
    BROKEN_LINK = "broken_link"  # prev_hash is not the hash of the entry before it
    DIFFERS_FROM_CHECKPOINT = "differs_from_checkpoint"  # a published hash is not in the chain
    MISSING = "missing"  # a published entry is no longer in the chain


class ChainBreak(BaseModel):
    model_config = ConfigDict(frozen=True)

    position: int  # the entry's sequence number
    request_id: str | None
    request_position: int | None  # 1-based position within the request's own trail
    kind: BreakKind
    reason: str


class CheckpointSummary(BaseModel):
    checked: bool  # False when no public key was available
    published: int = 0
    valid: int = 0
    rejected: int = 0
    rejected_reasons: dict[str, int] = Field(default_factory=dict)
    latest_head: ChainHead | None = None
    links_checked: int = 0


class VerificationReport(BaseModel):
    ok: bool
    entries: int
    requests: int
    requests_broken: int
    head: ChainHead | None
    checkpoints: CheckpointSummary
    first_break: ChainBreak | None
    breaks: list[ChainBreak]
    breaks_total: int


def _published_links(
    raw_checkpoints: Iterable[bytes], public: Ed25519PublicKey | None
) -> tuple[CheckpointSummary, dict[int, tuple[str, str | None]]]:
    """Valid checkpoints → {sequence: (hash, request id if known)} and a summary."""
    raw = list(raw_checkpoints)
    summary = CheckpointSummary(checked=public is not None, published=len(raw))
    expected: dict[int, tuple[str, str | None]] = {}
    if public is None:
        return summary, expected
    for value in raw:
        try:
            checkpoint = open_checkpoint(value, public)
        except CheckpointRejected as exc:
            summary.rejected += 1
            reason = exc.reason if exc.key is None else "signed with another key"
            summary.rejected_reasons[reason] = summary.rejected_reasons.get(reason, 0) + 1
            continue
        summary.valid += 1
        body = checkpoint.body
        for link in body.trail:
            expected[link.sequence] = (link.hash, body.request_id)
        if body.head is not None:
            expected.setdefault(body.head.sequence, (body.head.hash, None))
            latest = summary.latest_head
            if latest is None or body.head.sequence > latest.sequence:
                summary.latest_head = body.head
    return summary, expected


async def verify_chain(
    rows: AsyncIterable[dict[str, Any]],
    raw_checkpoints: Iterable[bytes] = (),
    public: Ed25519PublicKey | None = None,
) -> VerificationReport:
    """Verify the stored chain (`Store.iter_audit_rows()`) against itself and the published
    checkpoints (raw values from the topic), which count only with a valid signature."""
    summary, expected = _published_links(raw_checkpoints, public)
    breaks: list[ChainBreak] = []
    total_breaks = 0
    per_request: dict[str, int] = {}
    broken_requests: set[str] = set()
    expected_prev, previous_sequence = GENESIS_HASH, None
    entries, last = 0, None

    def report(
        sequence: int, request_id: str | None, position: int | None, kind: BreakKind, why: str
    ) -> None:
        nonlocal total_breaks
        total_breaks += 1
        if request_id is not None:
            broken_requests.add(request_id)
        if len(breaks) < MAX_REPORTED_BREAKS:
            breaks.append(
                ChainBreak(
                    position=sequence,
                    request_id=request_id,
                    request_position=position,
                    kind=kind,
                    reason=why,
                )
            )

    async for row in rows:
        sequence, request_id = int(row["sequence"]), str(row["request_id"])
        entries += 1
        position = per_request[request_id] = per_request.get(request_id, 0) + 1
        stored_hash, prev_hash = str(row["hash"]), str(row["prev_hash"])
        try:
            recomputed: str | None = chain_hash(
                prev_hash,
                entry_document(
                    request_id=request_id,
                    action=str(row["action"]),
                    actor=str(row["actor"]),
                    at=row["at"],
                    details=row["details"],
                    dedupe_key=str(row["dedupe_key"]),
                ),
            )
        except (TypeError, ValueError, UnicodeEncodeError) as exc:
            recomputed = None
            report(
                sequence,
                request_id,
                position,
                BreakKind.ALTERED,
                f"entry cannot be hashed: {type(exc).__name__}",
            )
        if recomputed is not None and recomputed != stored_hash:
            report(
                sequence,
                request_id,
                position,
                BreakKind.ALTERED,
                "content does not hash to the stored hash (the entry was altered)",
            )
        if prev_hash != expected_prev:
            after = (
                "the start of the chain"
                if previous_sequence is None
                else (f"entry {previous_sequence}")
            )
            report(
                sequence,
                request_id,
                position,
                BreakKind.BROKEN_LINK,
                f"does not link to {after}: an entry before it was deleted, inserted, "
                "reordered or re-hashed",
            )
        published = expected.pop(sequence, None)
        if published is not None:
            summary.links_checked += 1
            if published[0] != stored_hash:
                report(
                    sequence,
                    request_id,
                    position,
                    BreakKind.DIFFERS_FROM_CHECKPOINT,
                    "hash differs from the signed checkpoint (the chain was rewritten)",
                )
        expected_prev, previous_sequence = stored_hash, sequence
        last = (sequence, stored_hash)

    for sequence, (_, missing_request) in sorted(expected.items()):
        summary.links_checked += 1
        report(
            sequence,
            missing_request,
            None,
            BreakKind.MISSING,
            "entry published in a signed checkpoint is no longer in the chain (deleted)",
        )

    breaks.sort(key=lambda b: (b.position, list(BreakKind).index(b.kind)))
    return VerificationReport(
        ok=total_breaks == 0,
        entries=entries,
        requests=len(per_request),
        requests_broken=len(broken_requests),
        head=None if last is None else ChainHead(sequence=last[0], hash=last[1], entries=entries),
        checkpoints=summary,
        first_break=breaks[0] if breaks else None,
        breaks=breaks,
        breaks_total=total_breaks,
    )
