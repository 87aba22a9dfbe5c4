"""Checkpoints through the real broker: the worker's completion hook signs and publishes, an
auditor holding only the public key reads them back and proves a later rewrite; `dsr audit
verify` exits 0 on the intact store and 2, naming the first bad position, on a tampered one."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from orchestrator.audit import (
    BreakKind,
    CheckpointKind,
    CheckpointOnCompletion,
    KafkaCheckpointPublisher,
    VerificationReport,
    audit_checkpoints,
    open_checkpoint,
    public_key_b64,
    public_key_from_settings,
    read_published_checkpoints,
    run_periodic_checkpoints,
    signing_key_from_settings,
    verify_chain,
)
from orchestrator.cli import console
from orchestrator.cli_audit import _print_report
from orchestrator.settings import Settings
from orchestrator.store import Store
from schemas.records import AuditAction, AuditEvent
from tests.conftest import Infra

Make = Callable[..., AuditEvent]


def settings_for(infra: Infra, tmp_path: Path, seed: str, **extra: object) -> Settings:
    return Settings(
        kafka_bootstrap_servers=infra.kafka,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'store.db'}",
        audit_signing_key=seed,
        audit_checkpoint_topic=f"dsr.audit-checkpoints.test-{secrets.token_hex(4)}",
        **extra,
    )


async def test_completion_hook_publishes_and_an_auditor_proves_a_rewrite(
    infra: Infra, tmp_path: Path, seed_b64: str, make_event: Make
) -> None:
    settings = settings_for(infra, tmp_path, seed_b64)
    async with await Store.open(settings.database_url) as store, contextlib.AsyncExitStack() as st:
        hooked = await audit_checkpoints(settings, store, st)
        assert isinstance(hooked, CheckpointOnCompletion)
        for request_id in ("req-1", "req-2"):
            await hooked.append_audit(make_event(request_id))
            await hooked.append_audit(
                make_event(request_id, action=AuditAction.COMPLETION_RECORDED)
            )
        assert await hooked.audit_trail("req-1") == await store.audit_trail("req-1")

    # The auditor: only the public key, and the topic.
    auditor = Settings(
        kafka_bootstrap_servers=infra.kafka,
        audit_checkpoint_topic=settings.audit_checkpoint_topic,
        audit_public_key=public_key_b64(_key(settings).public_key()),
    )
    public = public_key_from_settings(auditor)
    assert public is not None
    published = await read_published_checkpoints(auditor)
    kinds = [open_checkpoint(raw, public).body.kind for raw in published]
    # one periodic head at start (the hourly task), one per completion
    assert kinds.count(CheckpointKind.COMPLETION) == 2
    assert kinds.count(CheckpointKind.PERIODIC) >= 1
    completion = [open_checkpoint(r, public).body for r in published]
    trails = {b.request_id: [link.sequence for link in b.trail] for b in completion if b.trail}
    assert trails == {"req-1": [1, 2], "req-2": [3, 4]}

    async with await Store.open(settings.database_url) as store:
        assert (await verify_chain(store.iter_audit_rows(), published, public)).ok
        async with store.engine.begin() as conn:
            await conn.exec_driver_sql("DROP TRIGGER audit_events_no_update")
            await conn.execute(sa.text("UPDATE audit_events SET hash = 'f' || substr(hash, 2)"))
            await conn.execute(
                sa.text("UPDATE audit_events SET prev_hash = 'f' || substr(prev_hash, 2)")
            )
        report = await verify_chain(store.iter_audit_rows(), published, public)
    assert not report.ok
    assert report.first_break is not None and report.first_break.position == 1


async def test_periodic_task_publishes_until_stopped(
    infra: Infra, tmp_path: Path, seed_b64: str
) -> None:
    settings = settings_for(infra, tmp_path, seed_b64)
    calls = 0

    async with (
        await Store.open(settings.database_url) as store,
        KafkaCheckpointPublisher(settings, store, _key(settings)) as publisher,
    ):

        async def publish() -> object:
            nonlocal calls
            calls += 1
            if calls == 3:
                stop.set()
            return await publisher.checkpoint_head()

        stop = asyncio.Event()
        await asyncio.wait_for(run_periodic_checkpoints(publish, 0.01, stop), 10)
    assert calls == 3
    assert len(await read_published_checkpoints(settings)) == 3


def _key(settings: Settings) -> Ed25519PrivateKey:
    key = signing_key_from_settings(settings)
    assert key is not None
    return key


async def test_cli_verify_exit_codes_and_json(
    infra: Infra, tmp_path: Path, seed_b64: str, make_event: Make
) -> None:
    settings = settings_for(infra, tmp_path, seed_b64)
    async with await Store.open(settings.database_url) as store, contextlib.AsyncExitStack() as st:
        hooked = await audit_checkpoints(settings, store, st)
        for n in range(3):
            await hooked.append_audit(make_event(f"req-{n}"))
            await hooked.append_audit(
                make_event(f"req-{n}", action=AuditAction.COMPLETION_RECORDED)
            )
    env = {
        "DSR_ENV_FILE": "/nonexistent/dsr-test.env",
        "DSR_KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
        "DSR_DATABASE_URL": settings.database_url,
        "DSR_AUDIT_CHECKPOINT_TOPIC": settings.audit_checkpoint_topic,
        "DSR_AUDIT_PUBLIC_KEY": public_key_b64(_key(settings).public_key()),
        "PATH": "/usr/bin:/bin",
    }
    dsr = [sys.executable, "-c", "from devstack.cli import main; main()", "audit", "verify"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*dsr, *args], env=env, capture_output=True, text=True, timeout=180)

    intact = await asyncio.to_thread(run, "--json")
    assert intact.returncode == 0, intact.stderr
    assert json.loads(intact.stdout)["checkpoints"]["valid"] >= 3

    async with await Store.open(settings.database_url) as store, store.engine.begin() as conn:
        await conn.exec_driver_sql("DROP TRIGGER audit_events_no_delete")
        await conn.execute(sa.text("DELETE FROM audit_events WHERE sequence = 3"))
    broken = await asyncio.to_thread(run, "--json")
    assert broken.returncode == 2, broken.stderr
    first = json.loads(broken.stdout)["first_break"]
    assert (first["position"], first["kind"], first["request_id"]) == (
        3,
        BreakKind.MISSING.value,
        "req-1",
    )
    # the same report for people (printed in-process: one CLI start less)
    with console.capture() as captured:
        _print_report(VerificationReport.model_validate_json(broken.stdout))
    assert "BROKEN at position 3 (request req-1" in captured.get()
