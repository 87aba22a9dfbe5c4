"""Portability (Art. 20) covers only data processed on consent or for a contract: Art. 20(1)(a),
and the policy text ("Om ... den lagliga grunden för behandlingen utgörs av samtycke eller att
behandlingen har varit nödvändig för att fullgöra ett avtal"). The shipped policy keeps to it,
and a policy file that marks anything else `portable` is refused when it is loaded — by the
worker at start and by `dsr policy check` — rather than exporting bookkeeping or security logs
as "the data you provided"."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from orchestrator.cli import app
from policy.loader import DEFAULT_POLICY_FILE, load_policy, parse_policy
from policy.model import LegalBasis, Policy, PolicyError
from policy.planner import plan_request
from schemas.events import RequestKind
from schemas.plan import PlanAction
from schemas.results import LocateResult

POLICY = load_policy(None)


def _shipped_with_portable(system: str, category: str) -> bytes:
    """The shipped policy, as a deployment's file, with one more category marked portable."""
    document = yaml.safe_load(DEFAULT_POLICY_FILE.read_bytes())
    document["systems"][system]["categories"][category]["portable"] = True
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False).encode()


def test_the_shipped_policy_makes_only_consent_or_contract_data_portable() -> None:
    """Each flag is a legal claim: a wrong `true` exports data the subject has no right to
    carry elsewhere (invoices kept under Bokföringslagen, login and access logs kept for
    security), a wrong `false` withholds data they have (the stored cards of their contract)."""
    wrong = [
        f"{system}.{name}: {category.legal_basis.value}"
        for system, system_policy in POLICY.systems.items()
        for name, category in system_policy.categories.items()
        if category.portable
        and category.legal_basis not in (LegalBasis.CONSENT, LegalBasis.CONTRACT)
    ]
    assert wrong == []

    located = {
        "billing": LocateResult(
            system="billing",
            counts={
                "contact": 1,
                "invoices": 4,
                "payments": 4,
                "card_tokens": 1,
                "login_sessions": 9,
            },
        ),
        "hosting": LocateResult(system="hosting", counts={"account": 1, "access_logs": 30}),
        "support": LocateResult(system="support", counts={"user": 1, "satisfaction_ratings": 2}),
    }
    plan = plan_request(POLICY, RequestKind.PORTABILITY, located, date(2026, 12, 1))
    by_action = {
        action: sorted(f"{a.system}.{a.category}" for a in plan.actions if a.action is action)
        for action in (PlanAction.EXPORT, PlanAction.SKIP)
    }
    assert by_action == {
        PlanAction.EXPORT: [
            "billing.card_tokens",
            "billing.contact",
            "hosting.account",
            "support.user",
        ],
        PlanAction.SKIP: [
            "billing.invoices",
            "billing.login_sessions",
            "billing.payments",
            "hosting.access_logs",
            "support.satisfaction_ratings",
        ],
    }
    (skipped, *_) = (a for a in plan.actions if a.action is PlanAction.SKIP)
    assert "consent or contract" in skipped.note


def test_a_portable_category_on_another_basis_is_refused_with_its_name(tmp_path: Path) -> None:
    """A deployment's policy file is where such a flag would come from: it must not load, and
    the message names the category, its basis and the rule, as the other policy errors do."""
    text = _shipped_with_portable("billing", "login_sessions")
    with pytest.raises(PolicyError) as refused:
        parse_policy(text)
    assert str(refused.value) == (
        "invalid policy: systems.billing.categories.login_sessions: `portable: true` needs "
        "legal_basis consent or contract (Art. 20(1)(a)), not legitimate_interest"
    )

    path = tmp_path / "policy.yaml"
    path.write_bytes(text)
    result = CliRunner().invoke(app, ["policy", "check", str(path)])
    assert result.exit_code == 1
    assert "systems.billing.categories.login_sessions" in result.output
    assert "consent or contract" in result.output


def test_every_offending_category_is_named_also_through_a_yaml_anchor() -> None:
    """payments takes its fields from invoices by a YAML anchor (`<<: *bookkeeping`): flagging
    invoices flags both, and both are named."""
    text = DEFAULT_POLICY_FILE.read_bytes()
    anchor = b"      invoices: &bookkeeping\n"
    assert anchor in text
    flagged = text.replace(anchor, anchor + b"        portable: true\n")
    with pytest.raises(PolicyError) as refused:
        parse_policy(flagged)
    message = str(refused.value)
    assert "systems.billing.categories.invoices: `portable: true`" in message
    assert "systems.billing.categories.payments: `portable: true`" in message
    assert message.count("not legal_obligation") == 2


def test_a_policy_in_flight_is_not_judged_again() -> None:
    """The rule is the loader's, not the model's: a workflow receives its policy as an activity
    result and decodes it into `Policy`, and the histories of requests started under the old
    flags (tests/test_replay.py) must still decode, or they could not replay."""
    document = POLICY.model_dump(mode="json")
    document["systems"]["billing"]["categories"]["invoices"]["portable"] = True
    decoded = Policy.model_validate(document)
    assert decoded.category("billing", "invoices").portable
