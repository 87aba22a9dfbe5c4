"""Verification of an erasure: what remains, compared against the plan (not against what the
connector says it did). Pure: the workflow locates again and hands the result here."""

from __future__ import annotations

from policy.model import ErasureEffect, Policy, RetentionKind
from schemas.plan import PlanAction, SystemPlan
from schemas.results import LocateResult

__all__ = ["leftovers"]


def leftovers(policy: Policy, plan: SystemPlan, after: LocateResult) -> list[str]:
    """Categories holding more of the subject's records than the plan retains, in words
    without personal data (e.g. "invoices: 2 remain, the plan retains 1"). Empty: verified.

    Allowed to remain: what the plan retains (by count, and by ref where the connector reports
    refs), what the plan leaves to a person (`manual`) or does not touch (`skip`), and what the
    policy keeps by design (a suppression hash the erasure itself creates).
    """
    problems: list[str] = []
    for category, remaining in sorted(after.counts.items()):
        if not remaining or _kept_by_design(policy, plan.system, category):
            continue
        if any(plan.acts_on(category, action) for action in (PlanAction.MANUAL, PlanAction.SKIP)):
            continue
        allowed = plan.retained_count(category)
        if remaining > allowed:
            problems.append(f"{category}: {remaining} remain, the plan retains {allowed}")
            continue
        kept_refs = set(plan.refs(category, PlanAction.RETAIN))
        stray = [
            ref
            for fact in after.facts
            if fact.category == category
            for ref in fact.refs
            if kept_refs and ref not in kept_refs
        ]
        if stray:
            problems.append(f"{category}: {len(stray)} record groups remain that the plan erases")
    return problems


def _kept_by_design(policy: Policy, system: str, category: str) -> bool:
    if not policy.covers(system, category):
        return False
    rule = policy.category(system, category)
    return (
        rule.erasure is ErasureEffect.RETAIN
        or rule.retention.kind is RetentionKind.INDEFINITE
        or rule.erasure_appends
    )
