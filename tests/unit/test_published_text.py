"""A DPO's note or reason is published verbatim (the subject's portal, the audit trail): the
front door refuses one holding personal data, also in the forms a person types that the log
rule alone let through — a dash that is no hyphen, a slash or spaces inside a personnummer,
a full-width @, an IP address, a phone number without its +, a customer number or registry
handle, an address spelled out, a name in lower case — and still takes the notes a DPO
writes (dates, laws, counts, versions)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from orchestrator.dpo._common import published_text
from schemas.status import SystemOutcome
from schemas.workflow import ResolveSystem


def _note(text: str) -> ResolveSystem:
    return ResolveSystem(actor="dpo", system="billing", outcome=SystemOutcome.DONE, note=text)


@pytest.mark.parametrize(
    "note",
    [
        "pnr 19640528\u20139262",  # an en dash
        "pnr 19640528 - 9262",
        "pnr 640528/9262",
        "mail obergs31\uff20bredband.net",  # a full-width @
        "mail obergs31 at bredband dot net",
        "from IP 83.249.12.7",
        "from fe80::1ff:fe23:4567:890a",
        "phone 46708701049",
        "kund K100031",
        "ring 070-870 10 49",
        "spoke with malin johansson",
    ],
)
def test_personal_data_in_a_typed_form_is_refused(note: str) -> None:
    with pytest.raises(ValidationError) as refused:
        published_text(_note(note))
    [error] = refused.value.errors()
    assert "must not contain personal data" in error["msg"]
    assert note not in error["msg"]


@pytest.mark.parametrize(
    "note",
    [
        "accuracy verified with the customer",
        "extended per Art. 12(3), Regulation (EU) 2016/679 and 1182/71, on 2026-12-04 at 14:30",
        "kept under Bokföringslagen (1999:1078) 7 kap. 2 §",
        "complex request: 5 systems, 3 legal holds, 12 tickets",
        "credentials restored in billing v2.3.1",
        "asked the registry to redact; their case 12345",
        "billing was down 2026-12-01\u20132026-12-04; retried after the outage",
        "per IMY decision DI-2026-12345; change CHG0012345; Jira DSR-104233 fixed",
        "restored from backup 04.12.2026",
    ],
)
def test_what_a_dpo_writes_is_taken(note: str) -> None:
    assert published_text(_note(note)).note == note  # type: ignore[attr-defined]
