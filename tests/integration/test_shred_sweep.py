"""The crypto-shredding sweep on the real stack (broker, Temporal, worker, intake, the five
sandbox systems, the SQLite store): after the sweep, a closed access request's Temporal history
payloads, its package and the DLQ copy of an event naming it are unreadable, and
`dsr shred verify` says so; an erasure whose deferred erasure is still running keeps its key.

The sweep runs on the stack's own worker, through `dsr shred sweep`, with the default policy
(readable 30 days after closing). Thirty days cannot pass in a test on a real server, so the
test moves this request's dates in the store back by 31 days (its close, its package expiry,
its key's retain_until): the one seam. Waiting on the real clock is proven on the
time-skipping server (tests/shred/test_sweep_timeskip.py).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from temporalio.client import Client, WorkflowExecutionStatus

from orchestrator.shredder import SCHEDULE_ID
from orchestrator.store import Store
from schemas.records import AuditAction
from schemas.status import RequestStatus
from tests.integration.conftest import (
    Stack,
    completed,
    dead_letters_for,
    publish_raw,
    publish_signed,
    request_event,
    topic_reader,
)
from workflows.follow_up import follow_up_workflow_id

pytestmark = pytest.mark.integration

DAYS_PASSED = timedelta(days=31)


def dsr(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devstack.cli", *args],
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _as_if_days_passed(stack: Stack, request_id: str) -> None:
    """Move the request's close, package expiry and key retention back by DAYS_PASSED."""
    path = stack.env["DSR_DATABASE_URL"].removeprefix("sqlite+aiosqlite:///")
    columns = {
        "requests": ("completed_at", "updated_at"),
        "packages": ("expires_at",),
        "data_keys": ("retain_until",),
    }
    with sqlite3.connect(path, timeout=30) as db:
        for table, names in columns.items():
            for name in names:
                (value,) = db.execute(
                    f"SELECT {name} FROM {table} WHERE request_id = ?",  # noqa: S608 - fixed names
                    (request_id,),
                ).fetchone() or (None,)
                if value is None:
                    continue
                moved = datetime.fromisoformat(value) - DAYS_PASSED
                db.execute(
                    f"UPDATE {table} SET {name} = ? WHERE request_id = ?",  # noqa: S608
                    (moved.strftime("%Y-%m-%d %H:%M:%S.%f"), request_id),
                )


def _sweep(stack: Stack) -> dict:  # type: ignore[type-arg]
    swept = dsr(stack, "shred", "sweep", "--json")
    assert swept.returncode == 0, swept.stdout + swept.stderr
    return json.loads(swept.stdout)  # type: ignore[no-any-return]


async def test_the_sweep_leaves_nothing_of_a_closed_request_readable(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    person = stack.fresh_customer(everywhere=True)
    access_id = await publish_signed(
        producer, stack, request_event("access", {"email": person.email, "name": person.name})
    )
    record = await completed(temporal, access_id)
    assert record.status is RequestStatus.COMPLETED and record.package is not None
    # A copy of an event naming the request reaches the DLQ (a tampered re-send of it).
    forged = json.dumps(request_event("erasure", {"email": person.email})).encode()
    await publish_raw(
        producer,
        stack,
        forged,
        key=access_id.encode(),
        headers=[("dsr-key-id", b"portal-1"), ("dsr-signature", b"v1=" + b"0" * 64)],
    )
    # A reader of its own, closed at once: an idle consumer kept open through the minutes of
    # CLI runs below had its fetch time out and then failed to stop (aiokafka).
    async with topic_reader(stack, stack.settings.dlq_topic) as dlq:
        letter = (await dead_letters_for(dlq, {access_id.encode()}))[access_id.encode()]
    headers = dict(letter.headers)
    assert headers["dsr-dlq-key-id"] == f"dk:{access_id}".encode()  # sealed with its key
    assert person.email.encode() not in letter.value
    letter_id = f"{letter.partition}:{letter.offset}"
    shown = dsr(stack, "dlq", "show", letter_id, "--actor", "ops-karin", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["value"]["data"]["subject"]["email"] == person.email

    # An erasure of someone else whose retained invoices wait for a deferred erasure.
    other = stack.fresh_customer(everywhere=True)
    erasure_id = await publish_signed(
        producer, stack, request_event("erasure", {"email": other.email})
    )
    erasure = await completed(temporal, erasure_id)
    assert erasure.status is RequestStatus.COMPLETED
    chain = await temporal.get_workflow_handle(follow_up_workflow_id(erasure_id)).describe()
    assert chain.status is WorkflowExecutionStatus.RUNNING

    first = _sweep(stack)  # just closed: readable for the DPO for 30 days
    assert access_id not in first["destroyed"] and erasure_id not in first["destroyed"]
    verdict = dsr(stack, "shred", "verify", access_id, "--json")
    assert verdict.returncode == 1 and json.loads(verdict.stdout)["shredded"] is False
    assert json.loads(verdict.stdout)["dlq"]["decryptable"] == 1
    # Kept from the close for the policy's readable period (set when the record was stored;
    # the sweep may push it on by the moments between the record and the closing status), or
    # to the package's expiry if that is later.
    readable = timedelta(days=30)
    retain_until = datetime.fromisoformat(json.loads(verdict.stdout)["key"]["retain_until"])
    assert record.completed_at + readable <= retain_until
    assert retain_until - max(record.completed_at + readable, record.package.expires_at) < (
        timedelta(minutes=1)
    )
    kept = dsr(stack, "shred", "verify", erasure_id, "--json")
    kept_until = datetime.fromisoformat(json.loads(kept.stdout)["key"]["retain_until"])
    assert timedelta(0) <= kept_until - (erasure.completed_at + readable) < timedelta(minutes=1)

    _as_if_days_passed(stack, access_id)
    _as_if_days_passed(stack, erasure_id)
    second = _sweep(stack)
    assert access_id in second["destroyed"]
    assert erasure_id not in second["destroyed"]  # its deferred erasure still needs it
    assert second["waiting"].get("deferred_erasure", 0) >= 1

    verified = dsr(stack, "shred", "verify", access_id, "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    shredded = json.loads(verified.stdout)
    assert shredded["shredded"] is True and shredded["key"]["destroyed"] is True
    history = shredded["history"]
    assert history["request_payloads"] > 10
    assert history["undecryptable"] == history["request_payloads"]
    assert history["decryptable"] == 0 and history["unencrypted_payloads"] == 0
    assert shredded["package"]["decryptable"] is False
    assert shredded["dlq"]["checked"] is True
    assert shredded["dlq"]["copies"] == shredded["dlq"]["undecryptable"] == 1
    assert shredded["dlq"]["decryptable"] == 0

    package = dsr(stack, "package", "show", access_id)
    assert package.returncode == 1 and "destroyed" in package.stderr
    unreadable = dsr(stack, "dlq", "show", letter_id, "--actor", "ops-karin")
    assert unreadable.returncode == 1 and "destroyed" in unreadable.stderr
    assert person.email not in unreadable.stdout + unreadable.stderr

    # The worker created the sweep's schedule at start (long since, by now).
    schedule = await temporal.get_schedule_handle(SCHEDULE_ID).describe()
    assert schedule.id == SCHEDULE_ID

    store = await Store.open(stack.env["DSR_DATABASE_URL"])
    try:
        trail = await store.audit_trail(access_id)
        kept = await store.audit_trail(erasure_id)
    finally:
        await store.close()
    destroyed = [e for e in trail if e.action is AuditAction.DATA_KEY_DESTROYED]
    assert [(e.actor, e.details["by"]) for e in destroyed] == [("shredder", "shred_sweep")]
    assert not [e for e in kept if e.action is AuditAction.DATA_KEY_DESTROYED]
