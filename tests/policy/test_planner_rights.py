"""Objection (Art. 21) and consent withdrawal (Art. 7(3)) are different rights, planned apart.

A withdrawal stops what rests on consent — the newsletter, and a private holder's publication
in WHOIS, which is a consent-based use of contract data — and says the records stay until an
erasure is asked for. An objection stops direct marketing and the profiling that serves it
without a question asked, and puts every processing under legitimate interest before a person
(Art. 21(1): it stops unless compelling legitimate grounds are shown), never "not concerned".
Workflows planned under the first rules (both kinds: direct marketing only) keep them.
"""

from __future__ import annotations

from datetime import date

import pytest

from policy.loader import load_policy
from policy.model import LegalBasis
from policy.planner import RIGHTS_ORIGINAL, plan_request
from schemas.events import RequestKind
from schemas.plan import PlanAction
from schemas.results import LocateResult
from schemas.status import RetentionReason

POLICY = load_policy(None)
TODAY = date(2026, 12, 1)

# One subject found everywhere, a few records of every category the policy names.
LOCATED = {
    system: LocateResult(system=system, counts=dict.fromkeys(policy.categories, 2))
    for system, policy in POLICY.systems.items()
}


def _actions(kind: RequestKind, rights: int | None = None) -> dict[tuple[str, str], PlanAction]:
    plan = (
        plan_request(POLICY, kind, LOCATED, TODAY)
        if rights is None
        else plan_request(POLICY, kind, LOCATED, TODAY, rights=rights)
    )
    return {(a.system, a.category): a.action for a in plan.actions}


def test_a_withdrawal_stops_exactly_what_rests_on_consent() -> None:
    actions = _actions(RequestKind.CONSENT_WITHDRAWAL)
    for (system, category), action in actions.items():
        policy = POLICY.category(system, category)
        by_consent = policy.legal_basis is LegalBasis.CONSENT or policy.consent_use is not None
        assert action is (PlanAction.UNSUBSCRIBE if by_consent else PlanAction.SKIP), category
    assert actions[("registrar", "contacts")] is PlanAction.UNSUBSCRIBE  # WHOIS publication
    assert actions[("newsletter", "subscriber")] is PlanAction.UNSUBSCRIBE
    assert actions[("billing", "invoices")] is PlanAction.SKIP


def test_a_withdrawal_says_the_records_stay_until_an_erasure_is_asked_for() -> None:
    plan = plan_request(POLICY, RequestKind.CONSENT_WITHDRAWAL, LOCATED, TODAY)
    subscriber = next(a for a in plan.actions if a.category == "subscriber")
    assert "until the subject asks for their erasure" in (subscriber.note or "")
    contacts = next(a for a in plan.actions if a.category == "contacts")
    assert "WHOIS" in (contacts.note or "") and "contract" in (contacts.note or "")


def test_an_objection_stops_direct_marketing_and_puts_legitimate_interest_before_a_person() -> None:
    actions = _actions(RequestKind.OBJECTION)
    for (system, category), action in actions.items():
        policy = POLICY.category(system, category)
        if policy.direct_marketing:
            expected = PlanAction.UNSUBSCRIBE
        elif policy.retention.reason is RetentionReason.SUPPRESSION:
            expected = PlanAction.SKIP  # the blocklist is what honours the objection
        elif policy.legal_basis is LegalBasis.LEGITIMATE_INTEREST:
            expected = PlanAction.MANUAL
        else:
            expected = PlanAction.SKIP
        assert action is expected, (system, category)
    # the newsletter's read measurements serve the marketing: stopped with it, not assessed
    assert actions[("newsletter", "campaign_views")] is PlanAction.UNSUBSCRIBE
    assert actions[("support", "call_recordings")] is PlanAction.MANUAL
    assert actions[("billing", "contact")] is PlanAction.SKIP
    assert actions[("newsletter", "blocklist")] is PlanAction.SKIP


def test_the_objections_task_says_what_the_dpo_must_decide() -> None:
    plan = plan_request(POLICY, RequestKind.OBJECTION, LOCATED, TODAY).for_system("support")
    assert plan.concerned
    (recordings,) = [a for a in plan.manual if a.category == "call_recordings"]
    assert "Art. 21(1)" in (recordings.note or "")
    assert "compelling legitimate grounds" in (recordings.note or "")


@pytest.mark.parametrize("kind", [RequestKind.OBJECTION, RequestKind.CONSENT_WITHDRAWAL])
def test_the_original_rules_stop_direct_marketing_only(kind: RequestKind) -> None:
    actions = _actions(kind, rights=RIGHTS_ORIGINAL)
    for (system, category), action in actions.items():
        policy = POLICY.category(system, category)
        assert action is (PlanAction.UNSUBSCRIBE if policy.direct_marketing else PlanAction.SKIP), (
            category
        )
