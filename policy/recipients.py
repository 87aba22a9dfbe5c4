"""Art. 19: whom a request's erasure, rectification or restriction must be told of, and whether
it was.

Pure (importable inside the workflow sandbox). For every system whose operation ran and every
recipient the plan names for it (the policy's recipients of the categories acted on), one
`RecipientDuty`: `notified` when the connector reported telling it (the result's `notified`,
which includes what `Connector.notify_recipient` did), otherwise a person's task with what
must be done (the recipient's `task` in the policy, or the generic wording). A recipient that
the policy says its connector tells, but the connector did not report, is also a task: the law
asks that it be told, and nobody has.

The texts name systems, recipients, actions and categories, never the subject.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from policy.model import Policy
from schemas.events import RequestKind
from schemas.plan import Plan, PlanAction
from schemas.status import SystemOutcome, SystemStatus

__all__ = ["ACTION_OF", "RecipientDuty", "recipient_duties"]

# The request kinds Art. 19 is about, and the word for what was done.
ACTION_OF = {
    RequestKind.ERASURE: "erase",
    RequestKind.RECTIFICATION: "rectify",
    RequestKind.RESTRICTION: "restrict",
}
_DONE_WORDS = {"erase": "erasure", "rectify": "rectification", "restrict": "restriction"}
# Outcomes after which something changed in the system, so its recipients must be told.
_CHANGED = frozenset({SystemOutcome.DONE, SystemOutcome.RETAINED})


@dataclass(frozen=True)
class RecipientDuty:
    system: str
    recipient: str
    action: str
    notified: bool
    task: str | None = None  # what a person must do, when not notified

    def details(self) -> dict[str, object]:
        """For an audit entry (no personal data)."""
        details: dict[str, object] = {
            "system": self.system,
            "recipient": self.recipient,
            "action": self.action,
            "notified": self.notified,
        }
        if self.task is not None:
            details["task"] = self.task
        return details


def recipient_duties(
    policy: Policy,
    kind: RequestKind,
    plan: Plan | None,
    systems: Iterable[SystemStatus],
    locale: str = "en",
) -> list[RecipientDuty]:
    """One duty per (system, recipient) of a request of `kind`; none for other kinds."""
    action = ACTION_OF.get(kind)
    if action is None or plan is None:
        return []
    duties: list[RecipientDuty] = []
    for status in systems:
        changed = status.outcome in _CHANGED or (
            status.outcome is SystemOutcome.MANUAL and any(status.counts.values())
        )
        if not changed:
            continue
        system_plan = plan.for_system(status.system)
        system_policy = policy.systems.get(status.system)
        for recipient in system_plan.recipients:
            if recipient in status.notified:
                duties.append(RecipientDuty(status.system, recipient, action, notified=True))
                continue
            known = system_policy.recipients.get(recipient) if system_policy else None
            categories = sorted(
                {
                    a.category
                    for a in system_plan.actions
                    if a.action not in (PlanAction.SKIP, PlanAction.RETAIN)
                    and system_policy is not None
                    and a.category in system_policy.categories
                    and recipient in system_policy.categories[a.category].recipients
                }
            )
            what = (
                known.task.text(locale)
                if known is not None and known.task is not None
                else f"tell {recipient} of the change"
            )
            task = (
                f"Art. 19: {what} ({_DONE_WORDS[action]} in {status.system}"
                f"{': ' + ', '.join(categories) if categories else ''})"
            )
            duties.append(
                RecipientDuty(status.system, recipient, action, notified=False, task=task)
            )
    return duties
