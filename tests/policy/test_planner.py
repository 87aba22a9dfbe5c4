"""The policy as data: the planner turns connectors' facts into decisions, per record.

Pure functions over the shipped policy (policy/default.yaml) and variants of it written to a
temporary file: a policy change changes behaviour with no code change.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.base import connector_classes
from orchestrator.cli import app
from policy.check import policy_problems
from policy.loader import DEFAULT_POLICY_FILE, load_policy, parse_policy
from policy.model import Policy, PolicyError
from policy.planner import plan_request
from policy.retention import bookkeeping_until
from policy.verification import leftovers
from schemas.connectors import Operation
from schemas.events import RequestKind
from schemas.plan import PlanAction, SystemPlan
from schemas.results import LocateResult, RecordFacts
from schemas.status import RetentionReason

POLICY = load_policy(None)
TODAY = date(2026, 12, 1)


def _billing(years: range = range(2022, 2027)) -> LocateResult:
    """A customer with one invoice (and its payment) per financial year."""
    facts = [
        RecordFacts(
            category=c, refs=(f"customer:1/fy:{y}-12-31",), financial_year_end=date(y, 12, 31)
        )
        for y in years
        for c in ("invoices", "payments")
    ]
    counts = {"contact": 1, "invoices": len(years), "payments": len(years), "card_tokens": 1}
    return LocateResult(system="billing", counts=counts, facts=facts)


def _erase(policy: Policy, located: LocateResult, today: date = TODAY) -> SystemPlan:
    return plan_request(policy, RequestKind.ERASURE, {located.system: located}, today).for_system(
        located.system
    )


def _with(tmp_path: Path, old: str, new: str) -> Policy:
    """The shipped policy with one text changed, loaded from a file like a deployment's."""
    text = DEFAULT_POLICY_FILE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "policy.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return load_policy(path)


# ── retention per record ───────────────────────────────────────────────────────────────────


def test_bookkeeping_until_end_of_seventh_year_after_the_calendar_year_the_fy_ended() -> None:
    assert bookkeeping_until(date(2024, 12, 31), 7) == date(2031, 12, 31)
    assert bookkeeping_until(date(2024, 6, 30), 7) == date(2031, 12, 31)  # broken FY
    assert bookkeeping_until(date(2025, 4, 30), 7) == date(2032, 12, 31)


def test_each_invoice_is_kept_until_its_own_financial_years_date() -> None:
    plan = _erase(POLICY, _billing())
    invoices = sorted(
        (a for a in plan.retained if a.category == "invoices"), key=lambda a: a.until or TODAY
    )
    assert [a.until for a in invoices] == [date(y, 12, 31) for y in range(2029, 2034)]
    assert all(a.reason is RetentionReason.BOOKKEEPING for a in invoices)
    assert all(a.legal_basis == "Bokföringslagen (1999:1078) 7 kap. 2 §" for a in invoices)
    assert invoices[0].refs == ("customer:1/fy:2022-12-31",)
    assert plan.acts_on("contact", PlanAction.ANONYMISE)
    assert plan.acts_on("card_tokens", PlanAction.DELETE)
    # Retained items are grouped by until-date: one group (invoice + payment) per year.
    groups = plan_request(
        POLICY, RequestKind.ERASURE, {"billing": _billing()}, TODAY
    ).retained_by_until()
    assert [(g.until.year, len(g.actions)) for g in groups] == [(y, 2) for y in range(2029, 2034)]


def test_the_2022_invoice_is_erasable_from_2030_01_01_and_not_a_day_before() -> None:
    on_last_day = _erase(POLICY, _billing(), date(2029, 12, 31))
    assert "customer:1/fy:2022-12-31" in on_last_day.refs("invoices", PlanAction.RETAIN)
    next_day = _erase(POLICY, _billing(), date(2030, 1, 1))
    assert next_day.refs("invoices", PlanAction.DELETE) == ("customer:1/fy:2022-12-31",)
    assert len(next_day.refs("invoices", PlanAction.RETAIN)) == 4


def test_a_policy_change_changes_the_until_dates_with_no_code_change(tmp_path: Path) -> None:
    ten_years = _with(tmp_path, "years: 7", "years: 10")
    seven = {a.until for a in _erase(POLICY, _billing()).retained if a.category == "invoices"}
    ten = {a.until for a in _erase(ten_years, _billing()).retained if a.category == "invoices"}
    assert min(seven) == date(2029, 12, 31)
    assert min(ten) == date(2032, 12, 31)
    assert ten == {d.replace(year=d.year + 3) for d in seven}
    assert ten_years.digest != POLICY.digest
    # And what is erasable changes with it: in 2031 the 2022 invoice goes under 7 years only.
    assert _erase(POLICY, _billing(), date(2031, 6, 1)).refs("invoices", PlanAction.DELETE)
    assert not _erase(ten_years, _billing(), date(2031, 6, 1)).refs("invoices", PlanAction.DELETE)


def test_hosting_backups_are_kept_three_months_after_they_were_taken() -> None:
    located = LocateResult(
        system="hosting",
        counts={"backups": 2, "access_logs": 3},
        facts=[
            RecordFacts(category="backups", refs=("backup:1",), created_on=date(2026, 8, 31)),
            RecordFacts(category="backups", refs=("backup:2",), created_on=date(2026, 11, 30)),
        ],
    )
    plan = _erase(POLICY, located)
    assert plan.refs("backups", PlanAction.DELETE) == ("backup:1",)  # ended 2026-11-30
    (kept,) = (a for a in plan.retained if a.category == "backups")
    assert kept.until == date(2027, 2, 28)  # no 30 February: the month's last day
    assert kept.reason is RetentionReason.BACKUP_EXPIRY
    assert plan.acts_on("access_logs", PlanAction.DELETE)


def test_active_contract_data_is_kept_while_it_runs_and_erased_after() -> None:
    located = LocateResult(
        system="registrar",
        counts={"contacts": 2, "domains": 2},
        facts=[
            RecordFacts(
                category="contacts", count=1, contract_active=True, contract_end=date(2027, 5, 1)
            ),
            RecordFacts(category="contacts", count=1, contract_active=False),
            RecordFacts(
                category="domains", count=1, contract_active=True, contract_end=date(2027, 5, 1)
            ),
            RecordFacts(category="domains", count=1, contract_active=False),
        ],
    )
    plan = _erase(POLICY, located)
    retained = {(a.category, a.until) for a in plan.retained}
    assert retained == {("contacts", date(2027, 5, 1)), ("domains", date(2027, 5, 1))}
    assert plan.acts_on("contacts", PlanAction.DELETE)
    # A contract's end moves on renewal: no timer is set for it.
    whole = plan_request(POLICY, RequestKind.ERASURE, {"registrar": located}, TODAY)
    assert whole.retained_by_until() == []
    # ... and the plan does not promise the DPO one.
    for kept in plan.retained:
        assert "not erased automatically" in kept.note and "2027-05-01 unless renewed" in kept.note
        assert "erased on the day after" not in kept.note
    # The hosting account of a running service is kept with no end date.
    hosting = LocateResult(
        system="hosting",
        counts={"account": 1},
        facts=[RecordFacts(category="account", refs=("account:3",), contract_active=True)],
    )
    (kept,) = _erase(POLICY, hosting).retained
    assert (kept.reason, kept.until) == (RetentionReason.CONTRACT, None)


def test_support_tickets_under_legal_hold_are_kept_the_rest_erased() -> None:
    located = LocateResult(
        system="support",
        counts={"user": 1, "tickets": 3},
        facts=[
            RecordFacts(category="tickets", count=1, legal_hold=True),
            RecordFacts(category="tickets", count=2),
        ],
    )
    plan = _erase(POLICY, located)
    (held,) = plan.retained
    assert (held.category, held.count, held.reason) == ("tickets", 1, RetentionReason.LEGAL_CLAIM)
    assert [a.count for a in plan.for_category("tickets") if a.action is PlanAction.DELETE] == [2]
    assert plan.acts_on("user", PlanAction.DELETE)


# ── the other rights ───────────────────────────────────────────────────────────────────────


def test_portability_exports_only_what_the_subject_provided_or_generated() -> None:
    located = LocateResult(
        system="newsletter",
        counts={"subscriber": 1, "subscriptions": 2, "campaign_views": 5, "link_clicks": 1},
    )
    plan = plan_request(POLICY, RequestKind.PORTABILITY, {"newsletter": located}, TODAY)
    exported = {a.category for a in plan.actions if a.action is PlanAction.EXPORT}
    assert exported == {"subscriber", "subscriptions"}
    skipped = {a.category for a in plan.actions if a.action is PlanAction.SKIP}
    assert skipped == {"campaign_views", "link_clicks"}
    access = plan_request(POLICY, RequestKind.ACCESS, {"newsletter": located}, TODAY)
    assert {a.action for a in access.actions} == {PlanAction.EXPORT}


def test_a_system_that_cannot_do_it_is_manual_and_one_not_concerned_is_skipped() -> None:
    located = {"support": LocateResult(system="support", counts={"user": 1, "tickets": 1})}
    operations = {"support": [Operation.LOCATE, Operation.EXPORT, Operation.ERASE]}
    restrict = plan_request(POLICY, RequestKind.RESTRICTION, located, TODAY, operations)
    slice_ = restrict.for_system("support")
    assert {a.action for a in slice_.actions} == {PlanAction.MANUAL}
    assert slice_.concerned
    assert "support has no restrict operation" in slice_.actions[0].note
    objection = plan_request(POLICY, RequestKind.OBJECTION, located, TODAY, operations)
    assert not objection.for_system("support").concerned  # no direct marketing there


def test_rectification_and_restriction_tell_the_registries_through_the_connector() -> None:
    located = {"registrar": LocateResult(system="registrar", counts={"contacts": 1})}
    plan = plan_request(POLICY, RequestKind.RECTIFICATION, located, TODAY).for_system("registrar")
    assert plan.recipients == ("gtld-registry", "se-registry")
    assert plan.recipients_notified_by_connector == plan.recipients


# ── verification against the plan ──────────────────────────────────────────────────────────


def test_verification_compares_what_remains_with_the_plan() -> None:
    plan = _erase(POLICY, _billing())
    as_planned = LocateResult(
        system="billing",
        counts={"invoices": 5, "payments": 5},
        facts=_billing().facts,
    )
    assert leftovers(POLICY, plan, as_planned) == []
    kept_tokens = as_planned.model_copy(update={"counts": {**as_planned.counts, "card_tokens": 1}})
    assert leftovers(POLICY, plan, kept_tokens) == ["card_tokens: 1 remain, the plan retains 0"]
    later = _erase(POLICY, _billing(), date(2030, 1, 1))  # the 2022 vouchers are to go
    assert leftovers(POLICY, later, as_planned) == [
        "invoices: 5 remain, the plan retains 4",
        "payments: 5 remain, the plan retains 4",
    ]


# ── the policy file and `dsr policy check` ─────────────────────────────────────────────────


def test_the_shipped_policy_covers_every_registered_connector_exactly() -> None:
    declared = {n: [c.name for c in cls.categories] for n, cls in connector_classes().items()}
    assert policy_problems(POLICY, declared) == []


def test_check_lists_missing_categories_and_unknown_systems(tmp_path: Path) -> None:
    broken = _with(tmp_path, "  newsletter:\n", "  newsleter:\n")
    declared = {n: [c.name for c in cls.categories] for n, cls in connector_classes().items()}
    assert policy_problems(broken, declared) == [
        "newsletter: connector is registered but the policy has no entry for it",
        "newsleter: in the policy, but no such connector is registered",
    ]
    result = CliRunner().invoke(app, ["policy", "check", str(tmp_path / "policy.yaml")])
    assert result.exit_code == 1
    assert "newsleter: in the policy, but no such connector is registered" in result.output


def test_check_passes_the_shipped_policy_and_show_prints_it() -> None:
    result = CliRunner().invoke(app, ["policy", "check", str(DEFAULT_POLICY_FILE)])
    assert result.exit_code == 0, result.output
    shown = CliRunner().invoke(app, ["policy", "show", "--json"])
    assert shown.exit_code == 0, shown.output
    assert '"bookkeeping"' in shown.output


def test_an_invalid_policy_is_refused_with_the_field_named() -> None:
    text = DEFAULT_POLICY_FILE.read_bytes().replace(b"years: 7", b"years: -7")
    with pytest.raises(PolicyError, match=r"retention\.years"):
        parse_policy(text)
    with pytest.raises(PolicyError, match="YAML mapping"):
        parse_policy(b"- just a list")


def test_a_category_the_policy_does_not_cover_is_a_persons_task_not_a_crash() -> None:
    """A connector reporting a category the policy lacks (a new table, a policy not yet
    amended): the plan says a person decides, in every request kind that tells recipients;
    the planner raising would fail the request's workflow task on every retry, a request
    stuck where nobody sees it."""
    located = LocateResult(system="billing", counts={"contact": 1, "loyalty_points": 4}, facts=[])
    for kind in RequestKind:
        plan = plan_request(POLICY, kind, {"billing": located}, TODAY)
        (unknown,) = (a for a in plan.actions if a.category == "loyalty_points")
        assert unknown.action is PlanAction.MANUAL
        assert "does not cover billing.loyalty_points" in unknown.note
