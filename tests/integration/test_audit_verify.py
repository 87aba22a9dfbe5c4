"""`dsr audit verify` on the running stack: a completed request's trail verifies against the
checkpoint the worker signed and published at completion; a copy of the store whose chain was
rewritten and re-hashed (triggers dropped) fails, at the first rewritten position."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from temporalio.client import Client

from orchestrator.store import GENESIS_HASH
from orchestrator.store._hashing import chain_hash, entry_document
from schemas.status import RequestStatus
from tests.integration.conftest import Stack, completed, publish_signed, request_event


def verify(stack: Stack, database: Path) -> subprocess.CompletedProcess[str]:
    env = {**stack.env, "DSR_DATABASE_URL": f"sqlite+aiosqlite:///{database}", "PATH": "/bin"}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from devstack.cli import main; main()",
            "audit",
            "verify",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def rewrite_chain_from(database: Path, request_id: str) -> int:
    """Change the request's first entry and re-hash everything after it; its sequence."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        db.execute("DROP TRIGGER audit_events_no_update")
        rows = db.execute(
            "SELECT sequence, request_id, action, actor, at, details, dedupe_key, hash "
            "FROM audit_events ORDER BY sequence"
        ).fetchall()
        target = next(r[0] for r in rows if r[1] == request_id)
        prev = GENESIS_HASH
        for sequence, rid, action, actor, at, details, dedupe_key, stored in rows:
            if sequence < target:
                prev = stored
                continue
            if sequence == target:
                actor = "someone else"
            document: dict[str, Any] = entry_document(
                request_id=rid,
                action=action,
                actor=actor,
                at=_aware(at),
                details=json.loads(details),
                dedupe_key=dedupe_key,
            )
            new = chain_hash(prev, document)
            db.execute(
                "UPDATE audit_events SET actor = ?, prev_hash = ?, hash = ? WHERE sequence = ?",
                (actor, prev, new, sequence),
            )
            prev = new
        db.commit()
    return int(target)


def _aware(text: str) -> datetime:
    """SQLite keeps the store's timestamps as naive UTC text."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def test_verify_passes_on_the_stack_and_fails_on_a_rewritten_copy(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer, tmp_path: Path
) -> None:
    person = stack.fresh_customer()
    request_id = await publish_signed(
        producer, stack, request_event("access", {"email": person.email})
    )
    record = await completed(temporal, request_id)
    assert record.status is RequestStatus.COMPLETED

    live = Path(stack.env["DSR_DATABASE_URL"].removeprefix("sqlite+aiosqlite:///"))
    intact = await asyncio.to_thread(verify, stack, live)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    report = json.loads(intact.stdout)
    assert report["ok"] and report["checkpoints"]["valid"] >= 1
    assert report["checkpoints"]["links_checked"] >= 1

    copy = tmp_path / "tampered.db"
    with (
        contextlib.closing(sqlite3.connect(live)) as source,
        contextlib.closing(sqlite3.connect(copy)) as target,
    ):
        source.backup(target)
    position = await asyncio.to_thread(rewrite_chain_from, copy, request_id)
    broken = await asyncio.to_thread(verify, stack, copy)
    assert broken.returncode == 2, broken.stdout + broken.stderr
    first = json.loads(broken.stdout)["first_break"]
    assert first["position"] == position
    assert first["request_id"] == request_id
    assert first["kind"] == "differs_from_checkpoint"
