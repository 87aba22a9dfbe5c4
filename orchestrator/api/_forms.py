"""The dashboard's decision forms: for each decision the workflow currently accepts (and the
caller's role may take), its label, confirmation text and input fields. The field names are the
decision's own (the JSON body of `POST /api/requests/{id}/{decision}`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.auth import Principal, Role
from orchestrator.dpo import RequestView
from orchestrator.dpo._read import OPERATOR_DECISIONS
from schemas.status import SystemOutcome

__all__ = ["DecisionForm", "FormField", "decision_forms", "may_decide"]

DENY_CODES = (
    "insufficient_verification",
    "no_match",
    "manifestly_unfounded",
    "excessive",
    "legal_exemption",
    "other",
)
# What a system handled by hand can be recorded as (skipping is its own decision).
RESOLVED_OUTCOMES = ("done", "not_found")
NARROWING_IDENTIFIERS = ("personal_identity_number", "organisation_number", "customer_number")


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: str = "text"  # text | number | select
    required: bool = False
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class DecisionForm:
    name: str
    label: str
    confirm: str
    fields: tuple[FormField, ...] = field(default_factory=tuple)


def may_decide(principal: Principal, decision: str) -> bool:
    """dpo: every decision; operator: resolve / retry / skip a system, retry a deferred
    erasure; auditor: none."""
    if principal.has_role(Role.DPO):
        return True
    return principal.has_role(Role.OPERATOR) and decision in OPERATOR_DECISIONS


def decision_forms(view: RequestView, principal: Principal) -> list[DecisionForm]:
    systems = view.summary.systems
    stuck = tuple(
        s.system for s in systems if s.outcome in (SystemOutcome.FAILED, SystemOutcome.MANUAL)
    ) or tuple(s.system for s in systems)
    rid = view.summary.request_id
    forms = {
        "confirm_identity": DecisionForm(
            "confirm_identity",
            "Confirm identity",
            f"Confirm that the subject of {rid} is who they say they are?",
            (
                FormField(
                    "method",
                    "how",
                    "select",
                    True,
                    ("manual_check", "bankid", "email_link", "portal_login"),
                ),
            ),
        ),
        "approve": DecisionForm(
            "approve",
            "Approve",
            f"Approve {rid} and let it proceed?",
            (FormField("note", "note"),),
        ),
        "deny": DecisionForm(
            "deny",
            "Deny",
            f"Deny {rid}? The subject is told the reason.",
            (
                FormField("reason_code", "reason", "select", True, DENY_CODES),
                FormField("note", "note (needed for 'other')"),
            ),
        ),
        "extend": DecisionForm(
            "extend",
            "Extend deadline",
            f"Extend the deadline of {rid}? This can be done once.",
            (
                FormField("months", "by months", "select", True, ("1", "2")),
                FormField("reason", "reason (told to the subject)", required=True),
            ),
        ),
        "cancel": DecisionForm(
            "cancel",
            "Cancel request",
            f"Cancel {rid}? Nothing more is done for it.",
            (FormField("reason", "reason", required=True),),
        ),
        "resolve_system": DecisionForm(
            "resolve_system",
            "Resolve a system",
            "Record this system's outcome as resolved by hand?",
            (
                FormField("system", "system", "select", True, stuck),
                FormField("outcome", "outcome", "select", True, RESOLVED_OUTCOMES),
                FormField("note", "what was done", required=True),
            ),
        ),
        "retry_system": DecisionForm(
            "retry_system",
            "Retry a system",
            "Run this system again?",
            (FormField("system", "system", "select", True, stuck),),
        ),
        "skip_system": DecisionForm(
            "skip_system",
            "Skip a system",
            "Skip this system for this request?",
            (
                FormField("system", "system", "select", True, stuck),
                FormField("reason", "reason", required=True),
            ),
        ),
        "narrow_subject": DecisionForm(
            "narrow_subject",
            "Narrow to one person",
            "Continue this request for the person with this identifier only?",
            (
                FormField("identifier_type", "identifier", "select", True, NARROWING_IDENTIFIERS),
                FormField("identifier_value", "value (e.g. the personnummer)", required=True),
            ),
        ),
        "lift_restriction": DecisionForm(
            "lift_restriction",
            "Lift restriction",
            f"Lift the restriction of {rid}? The subject is told first (Art. 18(3)), then "
            "every restricted system is lifted. This is done once.",
            (FormField("note", "why (e.g. accuracy verified; told the subject)", required=True),),
        ),
        "retry_deferred_erasure": DecisionForm(
            "retry_deferred_erasure",
            "Retry deferred erasure now",
            f"Try the failed deferred erasure of {rid} again now (the cause is fixed)?",
            (FormField("note", "what was fixed"),),
        ),
    }
    return [
        forms[name]
        for name in view.allowed_decisions
        if name in forms and may_decide(principal, name)
    ]
