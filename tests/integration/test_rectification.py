"""Rectification (Art. 16) on the real stack: five sandbox systems, broker, Temporal, worker.

A valid correction reaches every system that holds the field and the request completes; a
value no system can store, or a field only a person changes, holds the request for the DPO
with which field and why (never the value) instead of telling the subject it is done.
"""

from __future__ import annotations

import sqlite3

import pytest
from aiokafka import AIOKafkaProducer
from temporalio.client import Client

from devstack.estate import SYSTEMS
from schemas.status import RequestStatus, SystemOutcome
from tests.integration.conftest import (
    Stack,
    completed,
    publish_signed,
    request_event,
    status_becomes,
    wait_for_workflow,
)

pytestmark = pytest.mark.integration

ROWS_WITH_EMAIL = {
    "billing": "SELECT count(*) FROM customers WHERE lower(email) = ?",
    "hosting": "SELECT count(*) FROM accounts WHERE lower(email) = ?",
    "newsletter": "SELECT count(*) FROM subscribers WHERE lower(email) = ?",
    "support": "SELECT count(*) FROM users WHERE lower(email) = ?",
    "registrar": "SELECT count(*) FROM contacts WHERE lower(email) = ?",
}


def _rows_with(stack: Stack, email: str) -> dict[str, int]:
    found = {}
    for system, sql in ROWS_WITH_EMAIL.items():
        with sqlite3.connect(stack.root / "sandbox" / f"{system}.db") as conn:
            found[system] = int(conn.execute(sql, (email.lower(),)).fetchone()[0])
    return found


async def test_a_valid_correction_reaches_every_system_that_holds_the_field(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    person = stack.fresh_customer(everywhere=True)
    new_email = f"rattad.{person.index}@example.se"
    request_id = await publish_signed(
        producer,
        stack,
        request_event(
            "rectification",
            {"email": person.email, "name": person.name},
            rectification={
                "changes": [
                    {"field": "email", "value": new_email},
                    {"field": "phone", "value": "0701112233"},
                ]
            },
        ),
    )
    record = await completed(temporal, request_id)
    by_system = {s.system: s for s in record.systems}
    assert record.status is RequestStatus.COMPLETED, {
        n: (s.outcome, s.reason) for n, s in by_system.items()
    }
    assert set(by_system) == set(SYSTEMS)
    for name, status in by_system.items():
        assert status.outcome is SystemOutcome.DONE and sum(status.counts.values()) > 0, name
    assert all(_rows_with(stack, new_email).values()), _rows_with(stack, new_email)
    assert not any(_rows_with(stack, person.email).values())
    # the registries that hold a copy of the contact were told (Art. 19), with their references
    with sqlite3.connect(stack.root / "sandbox" / "registrar.db") as conn:
        held_by = {
            registry
            for (registries,) in conn.execute(
                "SELECT registries FROM contacts WHERE lower(email) = ?", (new_email,)
            )
            for registry in str(registries).split()
        }
    told = {recipient.removesuffix("-registry") for recipient in by_system["registrar"].notified}
    assert told == held_by


async def test_a_value_no_system_can_store_holds_the_request_for_the_dpo(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    person = stack.fresh_customer(everywhere=True)
    bad = "anna.lind(at)example.se"
    request_id = await publish_signed(
        producer,
        stack,
        request_event(
            "rectification",
            {"email": person.email, "name": person.name},
            rectification={
                "changes": [
                    {"field": "email", "value": bad},
                    {"field": "personal_identity_number", "value": "198112189876"},
                ]
            },
        ),
    )
    handle = await wait_for_workflow(temporal, request_id)
    summary = await status_becomes(handle, RequestStatus.NEEDS_ATTENTION, timeout=90)
    by_system = {s.system: s for s in summary.systems}
    for name, status in by_system.items():
        reason = status.reason or ""
        assert status.outcome is SystemOutcome.MANUAL, (name, status.outcome, reason)
        assert "could not be stored here for email" in reason, (name, reason)
        assert bad not in reason and "198112189876" not in reason
    # billing and the registrar hold the personnummer: a person's to change, and they say so
    for name in ("billing", "registrar"):
        assert "personal_identity_number held here" in (by_system[name].reason or ""), name
    assert all(_rows_with(stack, person.email).values())  # nothing was changed
    await handle.terminate("test over")
