"""Art. 19 for every connector: after an erasure, rectification or restriction, each recipient
the plan names is told through the connector where it can be.

Why here and not in each connector: the rule is the same for all (ask the connector for every
planned recipient its operation did not already report), and the connector activity applies it
once, after the operation, so a connector only implements `Connector.notify_recipient` for the
recipients it can reach. What a person must do for the others is the policy's
(`policy.recipients`), recorded with the completion record.
"""

from __future__ import annotations

from connectors.base._protocol import Connector
from schemas.plan import SystemPlan
from schemas.results import RecipientNotification
from schemas.subject import SubjectRef

__all__ = ["tell_recipients"]


async def tell_recipients(
    connector: Connector,
    subject: SubjectRef,
    plan: SystemPlan | None,
    action: str,
    notified: list[RecipientNotification],
) -> list[RecipientNotification]:
    """`notified` (what the operation reported) plus what `notify_recipient` did for the plan's
    other recipients, in a stable order. Typed errors of the connector pass through (a
    retryable one retries the activity; `notify_recipient` is idempotent)."""
    told = {n.recipient for n in notified}
    added: list[RecipientNotification] = []
    for recipient in () if plan is None else plan.recipients:
        if recipient in told:
            continue
        notification = await connector.notify_recipient(subject, recipient, action)
        if notification is not None:
            added.append(notification)
            told.add(recipient)
    if not added:
        return notified
    return sorted([*notified, *added], key=lambda n: (n.recipient, n.reference))
