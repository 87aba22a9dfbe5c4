"""DPO decisions as Updates on the time-skipping server: each accepted one is audited with actor,
time and reason; each invalid one is rejected with a clear message and changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from policy.deadlines import deadline, verification_deadline
from schemas.identifiers import IdentifierType
from schemas.status import DecisionKind, DenialCode, RequestStatus, SystemOutcome
from schemas.subject import Identifier
from schemas.workflow import (
    Approve,
    Cancel,
    Deny,
    Extend,
    IdentityConfirmation,
    NarrowSubject,
    ResolveSystem,
    RetrySystem,
    SkipSystem,
)
from tests.workflows.conftest import Harness
from workflows.dsr import DsrWorkflow

DPO = "dpo@company.se"


async def _rejected(
    harness: Harness, handle: WorkflowHandle[Any, Any], update: Any, arg: Any, message: str
) -> None:
    """The update is refused with `message`, and neither the state nor the trail moved."""
    before, published = await harness.status(handle), len(harness.updates)
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(update, arg)
    assert message in str(caught.value.cause)
    assert await harness.status(handle) == before
    assert len(harness.updates) == published


async def test_unverified_request_waits_and_proceeds_on_confirmation(harness: Harness) -> None:
    handle = await harness.start("erasure", verified=False)
    waiting = await harness.reaches(handle, RequestStatus.AWAITING_VERIFICATION)
    assert waiting.systems == [], "nothing is searched before identity is confirmed"

    await _rejected(harness, handle, DsrWorkflow.approve, Approve(actor=DPO), "only in")
    await _rejected(
        harness,
        handle,
        DsrWorkflow.confirm_identity,
        IdentityConfirmation(actor=" "),
        "needs an actor",
    )
    receipt = await handle.execute_update(
        DsrWorkflow.confirm_identity, IdentityConfirmation(actor=DPO, method="bankid")
    )
    assert receipt.decision == "confirm_identity"
    record = await handle.result()
    assert record.status is RequestStatus.COMPLETED
    [decision] = record.decisions
    assert (decision.decision, decision.actor) == (DecisionKind.CONFIRM_IDENTITY, DPO)
    [audited] = harness.audit("decision")
    assert audited.actor == DPO and audited.details["decision"] == "confirm_identity"


async def test_deny_needs_a_code_and_other_needs_a_note(harness: Harness) -> None:
    handle = await harness.start("access", verified=False)
    await harness.reaches(handle, RequestStatus.AWAITING_VERIFICATION)
    await _rejected(harness, handle, DsrWorkflow.deny, Deny(actor=DPO), "needs a reason code")
    await _rejected(
        harness,
        handle,
        DsrWorkflow.deny,
        Deny(actor=DPO, reason_code=DenialCode.OTHER),
        "'other' needs a note",
    )
    await handle.execute_update(
        DsrWorkflow.deny, Deny(actor=DPO, reason_code=DenialCode.MANIFESTLY_UNFOUNDED)
    )
    record = await handle.result()
    assert record.status is RequestStatus.DENIED
    assert record.reason == "manifestly_unfounded"
    assert record.systems == []
    assert harness.updates[-1].summary.status is RequestStatus.DENIED


async def test_cancel_needs_a_reason_and_ends_the_request(harness: Harness) -> None:
    handle = await harness.start("access", verified=False)
    await harness.reaches(handle, RequestStatus.AWAITING_VERIFICATION)
    await _rejected(harness, handle, DsrWorkflow.cancel, Cancel(actor=DPO), "needs a reason")
    await handle.execute_update(
        DsrWorkflow.cancel, Cancel(actor=DPO, reason="withdrawn by the subject")
    )
    record = await handle.result()
    assert (record.status, record.reason) == (RequestStatus.CANCELLED, "withdrawn by the subject")


async def test_unverified_request_is_denied_after_thirty_days(harness: Harness) -> None:
    handle = await harness.start("erasure", verified=False)
    record = await handle.result()  # the server skips the 30 days
    assert record.status is RequestStatus.DENIED
    assert record.reason is not None
    assert record.reason.startswith("insufficient_verification")
    assert record.systems == []
    [decision] = record.decisions
    assert decision.actor == "workflow"
    assert decision.details == {"reason_code": "insufficient_verification"}
    # 30 days, or less when the month of receipt is shorter (test_company_calendar.py).
    limit = verification_deadline(record.received_at, 30)
    assert limit <= decision.at < limit + timedelta(minutes=1)


async def test_repeated_copy_request_waits_for_a_decision(harness: Harness) -> None:
    harness.earlier_requests = ["req-earlier-1"]
    handle = await harness.start("access")
    waiting = await harness.reaches(handle, RequestStatus.AWAITING_DECISION)
    assert waiting.reason is not None and "repeated request" in waiting.reason
    assert waiting.systems == [], "nothing is exported before the DPO decides"
    [check] = harness.repeat_checks
    assert check.since < check.received_at
    await handle.execute_update(DsrWorkflow.approve, Approve(actor=DPO, note="free copy"))
    record = await handle.result()
    assert record.status is RequestStatus.COMPLETED
    assert record.reason is None


async def test_repeated_copy_request_can_be_denied_as_excessive(harness: Harness) -> None:
    harness.earlier_requests = ["req-earlier-1"]
    handle = await harness.start("portability")
    await harness.reaches(handle, RequestStatus.AWAITING_DECISION)
    await handle.execute_update(
        DsrWorkflow.deny, Deny(actor=DPO, reason_code=DenialCode.EXCESSIVE, note="third copy")
    )
    record = await handle.result()
    assert (record.status, record.reason) == (RequestStatus.DENIED, "excessive: third copy")


async def test_an_erasure_scoped_to_purposes_waits_for_the_dpo(harness: Harness) -> None:
    """Carried out as if unscoped, it would erase more than the customer asked: which data a
    purpose covers is the DPO's call, made before anything is touched."""
    handle = await harness.start("erasure", scope={"purposes": ["direct marketing"]})
    waiting = await harness.reaches(handle, RequestStatus.AWAITING_DECISION)
    assert waiting.reason is not None and "1 purpose(s)" in waiting.reason
    assert "marketing" not in waiting.reason  # the customer's own words stay out of it
    assert all(system.calls == [] for system in harness.systems)
    await handle.execute_update(DsrWorkflow.approve, Approve(actor=DPO, note="all of it"))
    record = await handle.result()
    assert record.status is RequestStatus.COMPLETED and record.reason is None
    assert all(("erase" in [op for op, _ in system.calls]) for system in harness.systems)


async def test_an_access_request_scoped_to_purposes_is_served_whole(harness: Harness) -> None:
    """A copy reaching beyond the purposes named takes nothing from the subject: no gate."""
    handle = await harness.start("access", scope={"purposes": ["billing"]})
    record = await handle.result()
    assert record.status is RequestStatus.COMPLETED
    assert RequestStatus.AWAITING_DECISION not in [u.summary.status for u in harness.updates]


async def test_a_scope_naming_a_system_without_a_connector_waits_for_the_dpo(
    harness: Harness,
) -> None:
    """Carried out without it, the request completed with nothing done there, nobody told."""
    handle = await harness.start("erasure", scope={"systems": ["billing", "crm"]})
    waiting = await harness.reaches(handle, RequestStatus.AWAITING_DECISION)
    assert waiting.reason is not None and "1 of the 2 system(s)" in waiting.reason
    assert all(system.calls == [] for system in harness.systems)
    await handle.execute_update(
        DsrWorkflow.cancel, Cancel(actor=DPO, reason="asked the customer which system")
    )
    record = await handle.result()
    assert record.status is RequestStatus.CANCELLED
    assert all(system.calls == [] for system in harness.systems)

    # Every system it names exists: no gate.
    harness.updates.clear()
    record = await (await harness.start("erasure", scope={"systems": ["billing"]})).result()
    assert record.status is RequestStatus.COMPLETED
    assert RequestStatus.AWAITING_DECISION not in [u.summary.status for u in harness.updates]


async def test_a_repeated_request_with_a_scope_problem_names_both(harness: Harness) -> None:
    harness.earlier_requests = ["req-earlier-1"]
    handle = await harness.start("access", scope={"systems": ["crm"]})
    waiting = await harness.reaches(handle, RequestStatus.AWAITING_DECISION)
    assert waiting.reason is not None
    assert waiting.reason.startswith("repeated request: 1 earlier")
    assert "1 of the 1 system(s) it names have no connector here" in waiting.reason
    await handle.execute_update(DsrWorkflow.approve, Approve(actor=DPO, note="free copy"))
    assert (await handle.result()).status is RequestStatus.COMPLETED


async def test_failed_system_is_retried_resolved_or_skipped_per_system(harness: Harness) -> None:
    billing, newsletter = harness.systems
    billing.fail_export = 1
    newsletter.fail_export = 5
    handle = await harness.start("access")
    stuck = await harness.reaches(handle, RequestStatus.NEEDS_ATTENTION)
    assert {s.system: s.outcome for s in stuck.systems} == {
        "billing": SystemOutcome.FAILED,
        "newsletter": SystemOutcome.FAILED,
    }
    await _rejected(
        harness,
        handle,
        DsrWorkflow.resolve_system,
        ResolveSystem(actor=DPO, system="crm", outcome=SystemOutcome.DONE, note="x"),
        "unknown system 'crm'",
    )
    await _rejected(
        harness,
        handle,
        DsrWorkflow.resolve_system,
        ResolveSystem(actor=DPO, system="billing", outcome=SystemOutcome.DONE),
        "needs a note",
    )
    await _rejected(
        harness, handle, DsrWorkflow.skip_system, SkipSystem(actor=DPO, system="billing"), "reason"
    )
    await handle.execute_update(DsrWorkflow.retry_system, RetrySystem(actor=DPO, system="billing"))
    again = await harness.reaches(handle, RequestStatus.NEEDS_ATTENTION)
    while {s.system: s.outcome for s in again.systems}["billing"] is not SystemOutcome.DONE:
        again = await harness.reaches(handle, RequestStatus.NEEDS_ATTENTION)
    await handle.execute_update(
        DsrWorkflow.skip_system,
        SkipSystem(actor=DPO, system="newsletter", reason="decommissioned; nothing to export"),
    )
    record = await handle.result()
    assert record.status is RequestStatus.COMPLETED
    outcomes = {s.system: (s.outcome, s.reason) for s in record.systems}
    assert outcomes["billing"][0] is SystemOutcome.DONE
    assert outcomes["newsletter"] == (
        SystemOutcome.SKIPPED,
        "skipped: decommissioned; nothing to export",
    )
    assert [d.decision for d in record.decisions] == [
        DecisionKind.RETRY_SYSTEM,
        DecisionKind.SKIP_SYSTEM,
    ]


async def test_resolved_by_hand(harness: Harness) -> None:
    harness.systems[0].fail_export = 5
    handle = await harness.start("access")
    await harness.reaches(handle, RequestStatus.NEEDS_ATTENTION)
    await handle.execute_update(
        DsrWorkflow.resolve_system,
        ResolveSystem(
            actor=DPO, system="billing", outcome=SystemOutcome.DONE, note="exported by hand"
        ),
    )
    record = await handle.result()
    billing = next(s for s in record.systems if s.system == "billing")
    assert (billing.outcome, billing.reason) == (SystemOutcome.DONE, "by hand: exported by hand")


async def test_ambiguous_subject_is_narrowed_to_one_person(harness: Harness) -> None:
    harness.systems[0].ambiguous = True
    handle = await harness.start("erasure")
    held = await harness.reaches(handle, RequestStatus.NEEDS_ATTENTION)
    assert all(s.outcome is SystemOutcome.MANUAL for s in held.systems), held.systems
    assert not any(op == "erase" for system in harness.systems for op, _ in system.calls)
    await _rejected(
        harness,
        handle,
        DsrWorkflow.narrow_subject,
        NarrowSubject(actor=DPO, identifier=Identifier(type=IdentifierType.EMAIL, value="a@b.se")),
        "singles out one person",
    )
    await _narrow_to_personnummer(handle)
    record = await handle.result()
    assert record.status is RequestStatus.COMPLETED
    erased_with = [ids for system in harness.systems for op, ids in system.calls if op == "erase"]
    assert erased_with == [["personal_identity_number"]] * 2, "that person only"
    audit = [u for u in harness.updates if u.details.get("decision") == "narrow_subject"]
    assert audit and "198112189876" not in str([u.details for u in harness.updates])


async def test_a_narrowed_subject_is_found_by_its_own_numbers_where_no_personnummer_is_held(
    harness: Harness,
) -> None:
    """Household e-mail, two people: narrowed by her personnummer, billing's record of her gives
    away her customer number, and support — which holds no personnummer — is searched by it and
    erased, not reported "not found". The shared e-mail billing also knows is never learned
    again (it would make the request ambiguous once more)."""
    billing, support = harness.systems  # the second holds no personnummer here
    billing.ambiguous = support.ambiguous = True
    billing.learns = {
        IdentifierType.PERSONAL_IDENTITY_NUMBER: [
            Identifier(type=IdentifierType.CUSTOMER_NUMBER, value="K100031"),
            Identifier(type=IdentifierType.EMAIL, value="obergs@example.se"),
        ]
    }
    support.search_identifiers = (IdentifierType.EMAIL, IdentifierType.CUSTOMER_NUMBER)
    support.unambiguous_by = IdentifierType.CUSTOMER_NUMBER
    handle = await harness.start("erasure")
    await harness.reaches(handle, RequestStatus.NEEDS_ATTENTION)
    await _narrow_to_personnummer(handle)
    record = await handle.result()
    assert record.status is RequestStatus.COMPLETED
    assert {s.system: s.outcome for s in record.systems} == {
        "billing": SystemOutcome.DONE,
        support.name: SystemOutcome.DONE,
    }
    erased_with = {
        system.name: ids for system in harness.systems for op, ids in system.calls if op == "erase"
    }
    assert erased_with[support.name] == ["customer_number", "personal_identity_number"]
    assert all("email" not in ids for ids in erased_with.values())


async def test_a_system_that_can_search_by_none_of_the_identifiers_is_a_person_s_task(
    harness: Harness,
) -> None:
    """A request by personnummer alone that no system learns more from: a system searching by
    e-mail only was never asked, so its "nothing found" would be a false record."""
    _, newsletter = harness.systems
    newsletter.search_identifiers = (IdentifierType.EMAIL,)
    handle = await harness.start("erasure", subject={"personal_identity_number": "198112189876"})
    held = await harness.reaches(handle, RequestStatus.NEEDS_ATTENTION)
    outcomes = {s.system: (s.outcome, s.reason) for s in held.systems}
    assert outcomes["billing"][0] is SystemOutcome.DONE
    outcome, reason = outcomes[newsletter.name]
    assert outcome is SystemOutcome.MANUAL
    assert reason is not None and "searches by email" in reason
    assert not any(op == "erase" for op, _ in newsletter.calls)


async def test_identifiers_learned_in_the_last_round_do_not_count_as_searched(
    harness: Harness,
) -> None:
    """Discovery stops at its round limit (two here) while it still learns: the account name
    billing gave away in the last round was searched nowhere, so a system that searches by
    nothing else was never asked and is a person's task, not "not found"."""
    billing, other = harness.systems
    billing.learns = {
        IdentifierType.PERSONAL_IDENTITY_NUMBER: [
            Identifier(type=IdentifierType.CUSTOMER_NUMBER, value="K100031")
        ],
        IdentifierType.CUSTOMER_NUMBER: [
            Identifier(type=IdentifierType.ACCOUNT_NAME, value="nourober31")
        ],
    }
    billing.search_identifiers = (
        IdentifierType.PERSONAL_IDENTITY_NUMBER,
        IdentifierType.CUSTOMER_NUMBER,
    )
    other.search_identifiers = (IdentifierType.ACCOUNT_NAME,)
    handle = await harness.start("erasure", subject={"personal_identity_number": "198112189876"})
    held = await harness.reaches(handle, RequestStatus.NEEDS_ATTENTION)
    outcome = next(s for s in held.systems if s.system == other.name)
    assert outcome.outcome is SystemOutcome.MANUAL, outcome
    assert [ids for op, ids in other.calls if op == "locate"] == [
        ["personal_identity_number"],
        ["customer_number", "personal_identity_number"],
    ]


async def _narrow_to_personnummer(handle: WorkflowHandle[Any, Any]) -> None:
    """The DPO's narrowing to the person with the test's personnummer."""
    await handle.execute_update(
        DsrWorkflow.narrow_subject,
        NarrowSubject(
            actor=DPO,
            identifier=Identifier(
                type=IdentifierType.PERSONAL_IDENTITY_NUMBER, value="198112189876"
            ),
        ),
    )


async def test_extension_once_with_reason_before_the_due_date(harness: Harness) -> None:
    harness.systems[0].fail_export = 5
    handle = await harness.start("access")
    stuck = await harness.reaches(handle, RequestStatus.NEEDS_ATTENTION)
    for bad, message in (
        (Extend(actor=DPO, months=3, reason="complex"), "1 or 2 months"),
        (Extend(actor=DPO, months=0, reason="complex"), "1 or 2 months"),
        (Extend(actor=DPO, months=2, reason=" "), "needs a reason"),
    ):
        await _rejected(harness, handle, DsrWorkflow.extend, bad, message)
    receipt = await handle.execute_update(
        DsrWorkflow.extend, Extend(actor=DPO, months=2, reason="many systems; complex")
    )
    due_day, due_at = deadline(stuck.received_at, 3)
    assert (receipt.due_date, receipt.due_at) == (due_day, due_at)
    extended = await harness.status(handle)
    assert extended.extension is not None
    assert (extended.extension.original_due_date, extended.due_date) == (stuck.due_date, due_day)
    published = harness.audit("deadline_extended")[-1]
    assert published.summary.extension == extended.extension  # the portal is told
    assert published.details["reason"] == "many systems; complex"
    await _rejected(
        harness,
        handle,
        DsrWorkflow.extend,
        Extend(actor=DPO, months=1, reason="again"),
        "already extended",
    )
    await handle.execute_update(DsrWorkflow.cancel, Cancel(actor=DPO, reason="end of test"))
    record = await handle.result()
    assert record.extension == extended.extension and record.due_date == due_day


async def test_no_extension_after_the_due_date(harness: Harness) -> None:
    harness.systems[0].fail_export = 5
    now = await harness.now()
    handle = await harness.start("access", received_at=now - timedelta(days=40))
    await harness.reaches(handle, RequestStatus.NEEDS_ATTENTION)
    await _rejected(
        harness,
        handle,
        DsrWorkflow.extend,
        Extend(actor=DPO, months=2, reason="complex"),
        "has passed",
    )
    await handle.execute_update(DsrWorkflow.cancel, Cancel(actor=DPO, reason="end of test"))
    await handle.result()
