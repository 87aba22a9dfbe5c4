"""The planner: facts in, decisions out — what to do with each group of the subject's records.

Connectors report facts (`LocateResult.facts`: category, dates, legal hold, opaque refs); the
planner applies the policy to them and returns a `Plan` per system and category: export,
delete, anonymise, restrict, rectify, unsubscribe, retain(reason, legal basis, until), manual
(the system holds the data but cannot do it) or skip (the policy says it is not concerned).
Pure and deterministic: `today` comes from the workflow clock, the policy from an activity.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date

from policy.model import CategoryPolicy, ErasureEffect, LegalBasis, Policy, RetentionKind
from policy.retention import retention_for
from schemas.connectors import Operation
from schemas.events import RequestKind
from schemas.plan import Plan, PlanAction, PlannedAction, SystemPlan
from schemas.results import LocateResult, RecordFacts
from schemas.status import RetentionReason

__all__ = [
    "OPERATION_FOR_ACTION",
    "RIGHTS_ORIGINAL",
    "RIGHTS_SEPARATED",
    "plan_request",
    "plan_system",
]

# The connector operation that carries out each action.
OPERATION_FOR_ACTION: dict[PlanAction, Operation] = {
    PlanAction.EXPORT: Operation.EXPORT,
    PlanAction.DELETE: Operation.ERASE,
    PlanAction.ANONYMISE: Operation.ERASE,
    PlanAction.RESTRICT: Operation.RESTRICT,
    PlanAction.RECTIFY: Operation.RECTIFY,
    PlanAction.UNSUBSCRIBE: Operation.UNSUBSCRIBE,
}
# How objection and consent withdrawal are planned. A workflow planned under the first rules
# keeps them when it replays (workflows/dsr.py passes the one it was started under):
# - RIGHTS_ORIGINAL: both stop direct marketing only, everything else "not concerned".
# - RIGHTS_SEPARATED: a withdrawal stops what rests on consent (the category's legal basis, or
#   a consent-based use of it such as publication in WHOIS: `consent_use`); an objection stops
#   direct marketing (Art. 21(2)-(3), absolute) and puts processing under legitimate interest
#   before a person (Art. 21(1): it stops unless compelling legitimate grounds are shown).
RIGHTS_ORIGINAL = 1
RIGHTS_SEPARATED = 2
# Kinds whose change must be told to recipients (Art. 19).
_TELLS_RECIPIENTS = frozenset(
    {RequestKind.ERASURE, RequestKind.RECTIFICATION, RequestKind.RESTRICTION}
)


def plan_request(
    policy: Policy,
    kind: RequestKind,
    located: Mapping[str, LocateResult],
    today: date,
    operations: Mapping[str, Collection[Operation]] | None = None,
    rights: int = RIGHTS_SEPARATED,
) -> Plan:
    """The plan for one request. `operations` (per system, from the connector registry) turns
    an action a connector cannot perform into a `manual` task instead of a silent skip;
    `rights` is the generation of the objection / withdrawal rules (see RIGHTS_SEPARATED)."""
    systems = tuple(
        plan_system(
            policy,
            kind,
            located[name],
            today,
            None if operations is None else operations.get(name, ()),
            rights,
        )
        for name in sorted(located)
    )
    return Plan(
        kind=kind,
        policy_version=policy.version,
        policy_digest=policy.digest,
        created_on=today,
        systems=systems,
    )


def plan_system(
    policy: Policy,
    kind: RequestKind,
    result: LocateResult,
    today: date,
    operations: Collection[Operation] | None = None,
    rights: int = RIGHTS_SEPARATED,
) -> SystemPlan:
    system = result.system
    actions: list[PlannedAction] = []
    for group in _fact_groups(result):
        if not policy.covers(system, group.category):
            actions.append(
                PlannedAction(
                    system=system,
                    category=group.category,
                    action=PlanAction.MANUAL,
                    count=group.count,
                    refs=group.refs,
                    note=f"the policy does not cover {system}.{group.category}: "
                    "a person must decide (and the policy be amended)",
                )
            )
            continue
        category = policy.category(system, group.category)
        action = _decide(kind, system, group, category, today, rights)
        actions.append(_feasible(action, operations))
    merged = _merge(actions)
    recipients: set[str] = set()
    if kind in _TELLS_RECIPIENTS:
        system_policy = policy.systems.get(system)
        for action in merged:
            if system_policy is None or action.action in (PlanAction.SKIP, PlanAction.RETAIN):
                continue
            category_policy = system_policy.categories.get(action.category)
            if category_policy is None:  # not covered: a MANUAL action a person decides above
                continue
            recipients.update(category_policy.recipients)
    by_connector = tuple(
        sorted(r for r in recipients if policy.systems[system].recipients[r].notified_by_connector)
    )
    return SystemPlan(
        system=system,
        actions=merged,
        created_on=today,
        recipients=tuple(sorted(recipients)),
        recipients_notified_by_connector=by_connector,
    )


def _fact_groups(result: LocateResult) -> list[RecordFacts]:
    """The connector's facts; a counted category without facts is one group of its count."""
    described = {f.category for f in result.facts}
    groups = [f for f in result.facts if f.count]
    groups += [
        RecordFacts(category=category, count=count)
        for category, count in sorted(result.counts.items())
        if count and category not in described
    ]
    return groups


def _decide(
    kind: RequestKind,
    system: str,
    group: RecordFacts,
    category: CategoryPolicy,
    today: date,
    rights: int,
) -> PlannedAction:
    base = PlannedAction(
        system=system,
        category=group.category,
        action=PlanAction.SKIP,
        count=group.count,
        refs=group.refs,
    )
    match kind:
        case RequestKind.ACCESS:
            return base.model_copy(update={"action": PlanAction.EXPORT})
        case RequestKind.PORTABILITY:
            if category.portable:
                return base.model_copy(update={"action": PlanAction.EXPORT})
            return base.model_copy(
                update={"note": "not portable (Art. 20: only consent or contract data)"}
            )
        case RequestKind.ERASURE:
            return _erasure(base, group, category, today)
        case RequestKind.RECTIFICATION:
            if category.rectifiable:
                return base.model_copy(update={"action": PlanAction.RECTIFY})
            return base.model_copy(update={"note": "holds no rectifiable fields"})
        case RequestKind.RESTRICTION:
            return base.model_copy(update={"action": PlanAction.RESTRICT})
        case RequestKind.OBJECTION | RequestKind.CONSENT_WITHDRAWAL if rights == RIGHTS_ORIGINAL:
            if category.direct_marketing:
                return base.model_copy(update={"action": PlanAction.UNSUBSCRIBE})
            return base.model_copy(update={"note": "not used for direct marketing or by consent"})
        case RequestKind.CONSENT_WITHDRAWAL:
            return _withdrawal(base, category)
        case RequestKind.OBJECTION:
            return _objection(base, category)
    raise AssertionError(f"unplanned request kind {kind}")  # pragma: no cover - exhaustive


def _withdrawal(base: PlannedAction, category: CategoryPolicy) -> PlannedAction:
    """Art. 7(3): what rests on consent stops. The data itself stays until the subject asks for
    its erasure (the policy: "rätt att få dina personuppgifter raderade ... om behandlingen
    baseras på ditt samtycke och du återkallar detta"), and the note says so."""
    if category.legal_basis is LegalBasis.CONSENT:
        return base.model_copy(
            update={
                "action": PlanAction.UNSUBSCRIBE,
                "note": f"consent withdrawn: {category.purpose.en.lower()} stops; the records "
                "stay until the subject asks for their erasure (Art. 17(1)(b))",
            }
        )
    if category.consent_use is not None:
        return base.model_copy(
            update={
                "action": PlanAction.UNSUBSCRIBE,
                "note": f"consent withdrawn: {category.consent_use.en} stops; the records "
                f"themselves rest on {category.legal_basis.value.replace('_', ' ')}",
            }
        )
    return base.model_copy(
        update={"note": f"rests on {category.legal_basis.value.replace('_', ' ')}, not on consent"}
    )


def _objection(base: PlannedAction, category: CategoryPolicy) -> PlannedAction:
    """Art. 21: direct marketing (and the profiling that serves it) stops without a question
    asked; processing under legitimate interest stops unless the controller demonstrates
    compelling legitimate grounds, which is a person's assessment, so it is a `manual` task
    with what to decide — never a silent "not concerned"."""
    if category.direct_marketing:
        return base.model_copy(update={"action": PlanAction.UNSUBSCRIBE})
    if category.retention.reason is RetentionReason.SUPPRESSION:
        return base.model_copy(
            update={
                "note": "a suppression record: it is what keeps the subject's objection or "
                "erasure honoured (Art. 21(3)), so an objection does not reach it"
            }
        )
    if category.legal_basis is LegalBasis.LEGITIMATE_INTEREST:
        return base.model_copy(
            update={
                "action": PlanAction.MANUAL,
                "note": f"objection (Art. 21(1)) to {base.system}.{base.category} "
                f"({category.purpose.en.lower()}): stop this processing and erase or restrict "
                "the records, unless compelling legitimate grounds override the subject's "
                "interests or they are needed for legal claims — a DPO's assessment, recorded "
                "when resolving",
            }
        )
    return base.model_copy(
        update={
            "note": f"rests on {category.legal_basis.value.replace('_', ' ')}: "
            "no right to object (Art. 21 covers legitimate interest and direct marketing)"
        }
    )


def _erasure(
    base: PlannedAction, group: RecordFacts, category: CategoryPolicy, today: date
) -> PlannedAction:
    rule = category.retention
    kept = retention_for(rule, group, today)
    if kept.keep or category.erasure is ErasureEffect.RETAIN:
        return base.model_copy(
            update={
                "action": PlanAction.RETAIN,
                "reason": rule.reason,
                "legal_basis": rule.legal_basis,
                "until": kept.until,
                "note": _retain_note(rule.kind, kept.until),
            }
        )
    match category.erasure:
        case ErasureEffect.ANONYMISE:
            return base.model_copy(update={"action": PlanAction.ANONYMISE})
        case ErasureEffect.MANUAL:
            return base.model_copy(
                update={"action": PlanAction.MANUAL, "note": category.erasure_note or "erase"}
            )
        case _:
            return base.model_copy(update={"action": PlanAction.DELETE})


def _retain_note(kind: RetentionKind, until: date | None) -> str:
    """What the DPO reads beside a retained group. Only dated retention that is not a contract's
    is erased by a timer (`Plan.retained_by_until`); a contract's end moves with a renewal and an
    open-ended reason has no day, so the note says they wait for a new request, not a date."""
    if kind is RetentionKind.WHILE_CONTRACT:
        ends = f" (it ends {until.isoformat()} unless renewed)" if until else ""
        return (
            f"kept ({kind.value}) while the contract runs{ends}; not erased automatically "
            "when it ends: a new erasure request erases it then"
        )
    if until is None:
        return f"kept ({kind.value}) with no end date yet; a new erasure request re-examines it"
    return f"kept ({kind.value}) until {until.isoformat()}, erased on the day after"


def _feasible(action: PlannedAction, operations: Collection[Operation] | None) -> PlannedAction:
    """An action the system's connector cannot perform becomes a person's task: the data is
    there, so it is not 'skipped'."""
    needed = OPERATION_FOR_ACTION.get(action.action)
    if operations is None or needed is None or needed in operations:
        return action
    return action.model_copy(
        update={
            "action": PlanAction.MANUAL,
            "note": f"{action.system} has no {needed.value} operation: a person must "
            f"{action.action.value} the {action.category} records by hand",
        }
    )


def _merge(actions: list[PlannedAction]) -> tuple[PlannedAction, ...]:
    """Groups with the same decision become one action (counts added, refs joined), so the
    plan stays small: one entry per category and until-date, not one per record."""
    merged: dict[tuple[object, ...], PlannedAction] = {}
    for action in actions:
        key = (action.category, action.action, action.until, action.reason, action.note)
        if key in merged:
            previous = merged[key]
            merged[key] = previous.model_copy(
                update={
                    "count": previous.count + action.count,
                    "refs": previous.refs + action.refs,
                }
            )
        else:
            merged[key] = action
    return tuple(merged.values())
