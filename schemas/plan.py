"""The plan: what the policy decided to do with each system's records for one request.

Connectors report facts (`schemas.results.RecordFacts`); `policy.planner.plan_request` turns
them into a `Plan`; each connector receives its `SystemPlan` and executes it; verification
compares what remains against the plan. The plan holds categories, counts, dates and opaque
record references (a connector's own ids, e.g. "invoice:1042") — never personal data — so it
can be stored with the completion record and shown to auditors.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import RequestKind
from schemas.status import RetainedItem, RetentionReason

__all__ = ["Plan", "PlanAction", "PlannedAction", "RetainedGroup", "SystemPlan"]


class PlanAction(StrEnum):
    EXPORT = "export"
    DELETE = "delete"
    ANONYMISE = "anonymise"
    RESTRICT = "restrict"
    RETAIN = "retain"
    UNSUBSCRIBE = "unsubscribe"
    RECTIFY = "rectify"
    MANUAL = "manual"  # the system holds the data but cannot do it: a person must
    SKIP = "skip"  # the policy says this category is not concerned by the request


# Actions after which the subject's data is expected to be gone from the category.
REMOVING_ACTIONS = frozenset({PlanAction.DELETE, PlanAction.ANONYMISE})


class PlannedAction(BaseModel):
    """One decision for one group of records: a category, optionally narrowed to `refs`.

    `refs` empty means "every record of the category the subject has"; otherwise exactly those
    records (e.g. the invoices of one financial year, which share one until-date).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    system: str
    category: str
    action: PlanAction
    count: int = Field(default=0, ge=0)
    reason: RetentionReason | None = None  # for retain: why the records are kept
    legal_basis: str = ""
    until: date | None = None  # for retain: when the records become erasable (None: open-ended)
    refs: tuple[str, ...] = ()
    note: str = ""  # what happens, in words (for manual: what a person must do)

    def retained_item(self) -> RetainedItem:
        """The record-facing form of a retain action (status events, completion record)."""
        return RetainedItem(
            category=self.category,
            count=self.count,
            reason=self.reason or RetentionReason.CONTRACT,
            until=self.until,
            legal_basis=self.legal_basis,
        )


class SystemPlan(BaseModel):
    """One system's slice of the plan: what its connector is asked to do."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    system: str
    actions: tuple[PlannedAction, ...] = ()
    created_on: date | None = None
    # Art. 19: recipients of the affected categories to tell of the change; `notified_by` says
    # whether the connector does it (the rest is a person's task, listed with the outcome).
    recipients: tuple[str, ...] = ()
    recipients_notified_by_connector: tuple[str, ...] = ()

    def with_action(self, action: PlanAction) -> tuple[PlannedAction, ...]:
        return tuple(a for a in self.actions if a.action is action)

    def for_category(self, category: str) -> tuple[PlannedAction, ...]:
        return tuple(a for a in self.actions if a.category == category)

    def refs(self, category: str, action: PlanAction) -> tuple[str, ...]:
        """The record references the plan gives `action` in `category` (flattened)."""
        return tuple(r for a in self.for_category(category) if a.action is action for r in a.refs)

    def acts_on(self, category: str, action: PlanAction) -> bool:
        return any(a.action is action for a in self.for_category(category))

    @property
    def retained(self) -> tuple[PlannedAction, ...]:
        return self.with_action(PlanAction.RETAIN)

    def retained_items(self) -> list[RetainedItem]:
        return [a.retained_item() for a in self.retained]

    def retained_count(self, category: str) -> int:
        return sum(a.count for a in self.retained if a.category == category)

    @property
    def manual(self) -> tuple[PlannedAction, ...]:
        return self.with_action(PlanAction.MANUAL)

    @property
    def concerned(self) -> bool:
        """False when every action is `skip`: the policy says the system is not concerned."""
        return any(a.action is not PlanAction.SKIP for a in self.actions)

    @property
    def skipped(self) -> tuple[str, ...]:
        """The categories held that the plan leaves out (`skip`), by name, sorted: an export
        writes none of their records (portability: what the policy does not mark portable)."""
        return tuple(sorted({a.category for a in self.with_action(PlanAction.SKIP)}))


class RetainedGroup(BaseModel):
    """Retained items that fall due on the same day: one deferred erasure per group."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    until: date
    actions: tuple[PlannedAction, ...]

    def system_plans(self) -> list[SystemPlan]:
        """The deletions to run on the day after `until`, when the records become erasable
        (`policy.retention.erasable_at`): each retained group turned into a delete. The plans
        are dated that day, as the follow-up's `ConnectorCall.today` is: connectors date their
        evidence by `created_on`, and vouchers kept until 2033-12-31 are erased on 2034-01-01,
        not on the last day the law still required them."""
        by_system: dict[str, list[PlannedAction]] = defaultdict(list)
        for action in self.actions:
            by_system[action.system].append(
                action.model_copy(
                    update={
                        "action": PlanAction.DELETE,
                        "note": f"retention ended {self.until.isoformat()}",
                    }
                )
            )
        return [
            SystemPlan(system=s, actions=tuple(a), created_on=self.until + timedelta(days=1))
            for s, a in sorted(by_system.items())
        ]


class Plan(BaseModel):
    """The whole plan for one request, under one policy version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: RequestKind
    policy_version: str
    policy_digest: str = ""
    created_on: date
    systems: tuple[SystemPlan, ...] = ()

    def for_system(self, system: str) -> SystemPlan:
        for plan in self.systems:
            if plan.system == system:
                return plan
        return SystemPlan(system=system, created_on=self.created_on)

    @property
    def actions(self) -> tuple[PlannedAction, ...]:
        return tuple(a for s in self.systems for a in s.actions)

    def retained_by_until(self) -> list[RetainedGroup]:
        """Retained items with an until-date, grouped by that date, earliest first.

        Open-ended retention (a legal hold, a suppression hash) has no date to wait for and is
        not in any group. Neither is a contract's end (a domain's expiry): a renewal moves it,
        so it is re-examined by a later request rather than erased by a timer set today.
        """
        groups: dict[date, list[PlannedAction]] = defaultdict(list)
        for action in self.actions:
            if (
                action.action is PlanAction.RETAIN
                and action.until is not None
                and action.reason is not RetentionReason.CONTRACT
            ):
                groups[action.until].append(action)
        return [RetainedGroup(until=u, actions=tuple(groups[u])) for u in sorted(groups)]
