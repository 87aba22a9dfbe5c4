"""The spine, end to end through the real broker, real Temporal and real processes:
signed event → intake agent → DsrWorkflow → billing connector → store + status topic."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from temporalio.client import Client

from orchestrator.datakeys import DataKeyRing
from orchestrator.package import FilesystemStorage, PackageService
from orchestrator.store import Store
from orchestrator.store._keys import KeyStore
from policy.loader import load_policy
from schemas.status import RequestStatus, RetentionReason, SystemOutcome
from tests.integration.conftest import (
    Stack,
    completed,
    publish_signed,
    request_event,
    topic_reader,
)
from tests.integration.conftest import (
    billing_db as _billing_db,
)

pytestmark = pytest.mark.integration


def _system(record, name: str):  # type: ignore[no-untyped-def]
    return next(s for s in record.systems if s.system == name)


async def test_access_request_completes_with_billing_export(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer, tmp_path: Path
) -> None:
    person = stack.fresh_customer()
    request_id = await publish_signed(
        producer, stack, request_event("access", {"email": person.email})
    )

    record = await completed(temporal, request_id)

    assert record.status is RequestStatus.COMPLETED
    billing = _system(record, "billing")
    assert billing.outcome is SystemOutcome.DONE
    assert billing.counts["contact"] >= 1 and billing.counts["invoices"] >= 1
    artifact = billing.export
    assert artifact is not None and artifact.uri.startswith("dsr-parts:")  # encrypted parts
    assert artifact.records == sum(billing.counts.values())
    # The export reaches the subject through the encrypted package (tests/package for the rest).
    assert record.package is not None
    package_file = Path(stack.env["DSR_PACKAGE_DIR"]) / record.package.location
    assert hashlib.sha256(package_file.read_bytes()).hexdigest() == record.package.sha256
    assert package_file.stat().st_mode & 0o077 == 0, "packages are owner-only"
    async with await KeyStore.open(stack.env["DSR_DATABASE_URL"]) as key_store:
        service = PackageService(
            FilesystemStorage(Path(stack.env["DSR_PACKAGE_DIR"])),
            DataKeyRing(stack.settings.payload_key_ring(), store=key_store),
            key_store,
            load_policy(None),
        )
        await service.extract(request_id, tmp_path)
    contacts = json.loads((tmp_path / "billing" / "contact.json").read_text())
    assert any(contact["email"] == person.email for contact in contacts)

    store = await Store.open(stack.env["DSR_DATABASE_URL"])
    try:
        stored = await store.get_completion_record(request_id)
        assert stored is not None and stored.status is RequestStatus.COMPLETED
        summary = await store.get_request(request_id)
        assert summary is not None and summary.status is RequestStatus.COMPLETED
        trail = await store.audit_trail(request_id)
        assert [e.action.value for e in trail][0] == "request_accepted"
        assert trail[-1].action.value in ("status_changed", "completion_recorded")
        assert await store.verify_audit_chain() >= len(trail)
    finally:
        await store.close()


async def test_erasure_keeps_bookkeeping_until_its_date_and_the_running_contract(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    """An active customer: the vouchers are kept until their own years' dates; the customer
    row (its running services are invoiced to it) and stored cards are kept for the contract,
    with no date; the logins go."""
    person = stack.fresh_customer(needs=("contact", "invoices", "payments", "login_sessions"))
    request_id = await publish_signed(
        producer,
        stack,
        request_event("erasure", {"email": person.email, "name": person.name}),
    )

    record = await completed(temporal, request_id)

    assert record.status is RequestStatus.COMPLETED
    billing = _system(record, "billing")
    assert billing.outcome is SystemOutcome.RETAINED
    # per record: one retained item per category and until-date (each financial year its own)
    kept: dict[str, int] = {}
    for item in billing.retained:
        kept[item.category] = kept.get(item.category, 0) + item.count
    assert (
        {"invoices", "payments", "contact"}
        <= set(kept)
        <= {
            "invoices",
            "payments",
            "contact",
            "card_tokens",
        }
    )
    assert kept["contact"] == 1
    for item in billing.retained:
        if item.category in ("contact", "card_tokens"):
            assert item.reason is RetentionReason.CONTRACT
            assert item.until is None  # a renewal moves a contract's end: no timer
            assert item.legal_basis.startswith("Avtal (GDPR art. 6.1 b)")
            continue
        assert item.reason is RetentionReason.BOOKKEEPING
        assert item.until is not None and item.until.month == 12 and item.until.day == 31
        assert "Bokföringslagen" in item.legal_basis

    with _billing_db(stack) as db:
        (customers_left,) = db.execute(
            "select count(*) from customers where lower(email) = ?", (person.email,)
        ).fetchone()
        (sessions_left,) = db.execute(
            "select count(*) from login_sessions s join customers c on c.id = s.customer_id "
            "where c.customer_number = ?",
            (person.customer_number,),
        ).fetchone()
        (invoices_kept,) = db.execute(
            "select count(*) from invoices i join customers c on c.id = i.customer_id "
            "where c.customer_number = ?",
            (person.customer_number,),
        ).fetchone()
    assert customers_left == 1  # kept, active: the services run and are invoiced to it
    assert sessions_left == 0
    assert invoices_kept == kept["invoices"]


async def test_the_same_event_twice_is_one_workflow_and_one_record(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    person = stack.fresh_customer()
    document = request_event("access", {"email": person.email})
    request_id = await publish_signed(producer, stack, document)
    first = await completed(temporal, request_id)
    await publish_signed(producer, stack, document)  # the portal retried

    log = stack.root / "logs" / "intake.log"
    from tests.conftest import wait_for_file_text

    wait_for_file_text(log, '"outcome": "duplicate"')
    runs = [w async for w in temporal.list_workflows(f"WorkflowId = 'dsr-{request_id}'")]
    assert len(runs) == 1
    assert runs[0].run_id == first.workflow_run_id
    store = await Store.open(stack.env["DSR_DATABASE_URL"])
    try:
        trail = await store.audit_trail(request_id)
    finally:
        await store.close()
    assert [e.action.value for e in trail].count("request_accepted") == 1
    assert [e.action.value for e in trail].count("completion_recorded") == 1


async def test_status_events_reach_the_portal_topic_without_personal_data(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    person = stack.fresh_customer()
    request_id = await publish_signed(
        producer, stack, request_event("access", {"email": person.email, "name": person.name})
    )
    await completed(temporal, request_id)

    statuses: list[str] = []
    raw: list[bytes] = []
    async with topic_reader(stack, stack.settings.status_topic) as consumer:
        while "completed" not in statuses:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for rec in records:
                    if rec.key == request_id.encode():
                        raw.append(rec.value)
                        statuses.append(json.loads(rec.value)["data"]["status"])
    assert statuses[0] == "received" and statuses[-1] == "completed"
    assert "in_progress" in statuses
    event = json.loads(raw[-1])
    assert event["type"] == "dsr.status_changed.v1" and event["specversion"] == "1.0"
    for value in raw:
        assert person.email.encode() not in value
        assert person.name.encode() not in value


async def test_no_personal_data_from_the_event_appears_in_any_log_line(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    """E-mail, personnummer and name from a request never reach the logs of any process —
    intake, worker, Temporal server or broker — including when the request is rejected."""
    person = stack.fresh_customer()
    assert person.personal_identity_number is not None
    subject = {
        "email": person.email,
        "personal_identity_number": person.personal_identity_number,
        "name": person.name,
        "phone": person.phone,
    }
    request_id = await publish_signed(producer, stack, request_event("access", subject))
    await completed(temporal, request_id)
    # and a rejected one carrying the same data (a bad kind): the DLQ path logs too
    bad = request_event("access", subject)
    bad["data"]["kind"] = "everything"
    from orchestrator.signing import signature_headers
    from tests.integration.conftest import publish_raw

    value = json.dumps(bad).encode()
    key_id, secret = next(iter(stack.settings.signing_key_ring().items()))
    await publish_raw(
        producer,
        stack,
        value,
        key=bad["data"]["request_id"].encode(),
        headers=signature_headers(value, key_id, secret),
    )
    from tests.conftest import wait_for_file_text

    wait_for_file_text(stack.root / "logs" / "intake.log", bad["data"]["request_id"])

    logs = stack.log_text() + "\n".join(
        p.read_text(errors="replace") for p in (stack.infra.root / "logs").glob("*.log")
    )
    assert request_id in logs, "the logs do say which request they are about"
    for value_ in (person.email, person.personal_identity_number, person.name, person.phone):
        assert value_ not in logs
