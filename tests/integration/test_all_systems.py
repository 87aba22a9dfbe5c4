"""A subject known to all five systems: every system reports, and the completion record says
per system what was found, exported, erased, retained (with reason and until-date) or left."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from temporalio.client import Client

from devstack.estate import SYSTEMS
from orchestrator.datakeys import DataKeyRing
from orchestrator.dpo import _decide
from orchestrator.package import FilesystemStorage, PackageService
from orchestrator.store._keys import KeyStore
from policy.loader import load_policy
from schemas.status import RequestStatus, RetentionReason, SystemOutcome
from tests.integration.conftest import (
    Stack,
    completed,
    publish_signed,
    request_event,
    status_becomes,
    wait_for_workflow,
)

pytestmark = pytest.mark.integration


async def test_access_reaches_all_five_systems_with_an_export_from_each(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    person = stack.fresh_customer(everywhere=True)
    request_id = await publish_signed(
        producer, stack, request_event("access", {"email": person.email})
    )
    record = await completed(temporal, request_id)

    assert record.status is RequestStatus.COMPLETED
    by_system = {s.system: s for s in record.systems}
    assert set(by_system) == set(SYSTEMS)
    for name, status in by_system.items():
        assert status.outcome is SystemOutcome.DONE, (name, status.reason)
        assert status.export is not None and status.export.records > 0, name
        assert status.export.uri.startswith("dsr-parts:"), name  # encrypted where written
    # One encrypted package holds every system's categories (JSON + CSV each).
    assert record.package is not None
    async with await KeyStore.open(stack.env["DSR_DATABASE_URL"]) as key_store:
        manifest = await PackageService(
            FilesystemStorage(Path(stack.env["DSR_PACKAGE_DIR"])),
            DataKeyRing(stack.settings.payload_key_ring(), store=key_store),
            key_store,
            load_policy(None),
        ).manifest(request_id)
    packaged = {(f.system, f.category) for f in manifest.files if f.system}
    for name, status in by_system.items():
        held = {c for c, n in status.counts.items() if n}
        in_package = {c for s, c in packaged if s == name}
        assert in_package and in_package <= held, name


async def test_erasure_across_all_five_keeps_exactly_what_the_law_requires(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    person = stack.fresh_customer(everywhere=True)
    request_id = await publish_signed(
        producer,
        stack,
        request_event("erasure", {"email": person.email, "name": person.name}),
    )
    record = await completed(temporal, request_id)

    by_system = {s.system: s for s in record.systems}
    assert set(by_system) == set(SYSTEMS)
    assert record.status is RequestStatus.COMPLETED, {
        n: (s.outcome, s.reason) for n, s in by_system.items()
    }
    for name, status in by_system.items():
        assert status.outcome in (SystemOutcome.DONE, SystemOutcome.RETAINED), (name, status)
        for item in status.retained:
            assert item.legal_basis and item.count > 0, (name, item)
    reasons = {
        (name, item.category): item.reason
        for name, status in by_system.items()
        for item in status.retained
    }
    assert reasons[("billing", "invoices")] is RetentionReason.BOOKKEEPING
    # An active customer: the record billing invoices the running services to is kept with
    # them, as hosting keeps the running account (not blanked while the services run).
    assert reasons[("billing", "contact")] is RetentionReason.CONTRACT
    assert ("newsletter", "blocklist") in reasons
    assert reasons[("newsletter", "blocklist")] is RetentionReason.SUPPRESSION
    backups = [i for i in by_system["hosting"].retained if i.category == "backups"]
    assert backups and backups[0].reason is RetentionReason.BACKUP_EXPIRY
    assert backups[0].until is not None


async def test_objection_unsubscribes_and_puts_legitimate_interest_before_the_dpo(
    stack: Stack, temporal: Client, producer: AIOKafkaProducer
) -> None:
    """Art. 21: the newsletter stops at once (direct marketing); what rests on legitimate
    interest (billing's login sessions, hosting's access logs, support's call recordings and
    ratings) waits for the DPO's assessment of compelling grounds; contract data is not
    concerned. Nothing is erased. The DPO records the assessment and the request completes."""
    person = stack.fresh_customer(everywhere=True)
    request_id = await publish_signed(
        producer, stack, request_event("objection", {"email": person.email})
    )
    handle = await wait_for_workflow(temporal, request_id)
    attention = await status_becomes(handle, RequestStatus.NEEDS_ATTENTION)
    by_system = {s.system: s for s in attention.systems}
    assert by_system["newsletter"].outcome is SystemOutcome.DONE
    assert sum(by_system["newsletter"].counts.values()) > 0
    assert by_system["registrar"].outcome is SystemOutcome.SKIPPED  # contract only
    held = sorted(n for n, s in by_system.items() if s.outcome is SystemOutcome.MANUAL)
    assert "support" in held, {n: (s.outcome, s.reason) for n, s in by_system.items()}
    for name in held:
        reason = by_system[name].reason or ""
        assert "Art. 21(1)" in reason and person.email not in reason, (name, reason)
        assert not any(k.startswith(("deleted.", "anonymised.")) for k in by_system[name].counts)
        await _decide.resolve_system(
            temporal,
            request_id,
            actor="dpo@example.se",
            system=name,
            outcome=SystemOutcome.DONE,
            note="compelling grounds assessed: processing stopped",
        )
    record = await handle.result()
    assert record.status is RequestStatus.COMPLETED
    assert {d.system for d in record.decisions} == set(held)
