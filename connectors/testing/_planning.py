"""What the contract tests share: the erasure planned as the workflow plans it, and the
privacy assertion (how many personal values leaked, never which)."""

from __future__ import annotations

import re
from datetime import date

from connectors.base import Connector
from connectors.testing._support import leaked_values, personal_values
from policy.loader import load_policy
from policy.model import Policy
from policy.planner import plan_request
from schemas.events import RequestKind
from schemas.identifiers import IdentifierType
from schemas.plan import Plan, PlanAction, PlannedAction, SystemPlan
from schemas.results import EraseResult
from schemas.subject import SubjectRef

__all__ = [
    "NAME",
    "assert_clean",
    "erase_everything",
    "erase_planned",
    "planned_erasure",
    "positive",
]

NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# The company's own reference numbers may appear in evidence; nothing else about the subject may.
_EVIDENCE_MAY_NAME = (IdentifierType.CUSTOMER_NUMBER, IdentifierType.ACCOUNT_NAME)


def positive(counts: dict[str, int]) -> dict[str, int]:
    return {category: n for category, n in counts.items() if n}


def assert_clean(text: str, subject: SubjectRef, what: str, *, allow_references: bool) -> None:
    values = personal_values(subject, except_types=_EVIDENCE_MAY_NAME if allow_references else ())
    leaked = leaked_values(text, values)
    # Report how many leaked, never which: the assertion message ends up in CI logs.
    assert not leaked, f"{what} contains {len(leaked)} of the subject's personal values"


def erase_everything(connector: Connector, today: date) -> SystemPlan:
    """A plan deleting every category by subject (for the refusal and outage tests)."""
    return SystemPlan(
        system=connector.name,
        created_on=today,
        actions=tuple(
            PlannedAction(system=connector.name, category=c.name, action=PlanAction.DELETE)
            for c in connector.categories
        ),
    )


async def planned_erasure(
    connector: Connector, subject: SubjectRef, today: date, policy: Policy | None = None
) -> SystemPlan:
    """The connector's slice of an erasure plan, as the workflow makes it: locate (facts),
    then the policy's planner (the shipped policy unless another is given)."""
    located = await connector.locate(subject)
    plan: Plan = plan_request(
        policy or load_policy(None),
        RequestKind.ERASURE,
        {connector.name: located},
        today,
        {connector.name: connector.operations},
    )
    system_plan: SystemPlan = plan.for_system(connector.name)
    return system_plan


async def erase_planned(
    connector: Connector, subject: SubjectRef, today: date, policy: Policy | None = None
) -> EraseResult:
    """Plan the erasure as the workflow would, then let the connector carry it out."""
    return await connector.erase(subject, await planned_erasure(connector, subject, today, policy))
