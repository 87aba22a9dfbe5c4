"""Masking personal data in text: the rule behind the log processor, span sanitising and the
DPO's published-reason check (one rule, so what a log would mask is what they refuse).

`scrub(text)` masks, in this order: a personal field's value written into text (`name='...'`,
`"email": "..."`) → `[redacted]`; e-mail addresses → `[email]`; Swedish street addresses →
`[address]` and postcodes with their town → `[postcode]`; personnummer, samordningsnummer and
organisationsnummer in every common format → `[id-number]`; +46/0046/07x/landline phone
numbers → `[phone]`; personal names (`_names`) → `[name]`.

`scrub_id(kind, value)` is the same for a field that carries an id (`id_kind`): a value that
is a validated id keeps its digits readable (`_ids`). In free text, an id written after its
label (`request_id=req-2026-1234567890`, Temporal's `'workflow_id': 'dsr-…'`) is treated the
same way.

`published_problems` holds a hand-typed text that is published or kept verbatim (a DPO's note)
to more than the log rule (`_published`): disguised forms folded first, any long number, IP
addresses, spelled-out addresses, lower-case names.
"""

from __future__ import annotations

import re

from orchestrator.redaction._ids import IdKind, id_is_safe, id_kind, split_workflow_id
from orchestrator.redaction._names import mask_names
from orchestrator.redaction._patterns import NUMBER_PATTERNS, SHAPE_PATTERNS, labelled_pattern
from orchestrator.redaction._published import capitalised_names, normalised, published_problems

__all__ = [
    "PERSONAL_FIELDS",
    "REDACTED",
    "IdKind",
    "capitalised_names",
    "id_kind",
    "normalised",
    "published_problems",
    "scrub",
    "scrub_id",
]

REDACTED = "[redacted]"

PERSONAL_FIELDS = frozenset(
    {
        "email",
        "emails",
        "name",
        "names",
        "first_name",
        "last_name",
        "full_name",
        "given_name",
        "family_name",
        "surname",
        "phone",
        "phone_number",
        "mobile",
        "personal_identity_number",
        "personnummer",
        "pnr",
        "organisation_number",
        "subject",
        "address",
        "street",
        "street_address",
        "postal_address",
        "postcode",
        "postal_code",
        "ip_address",
        "value",  # identifier values and field changes
        "changes",
        "input_value",  # pydantic's echo of the offending input
    }
)

_LABELLED = labelled_pattern(PERSONAL_FIELDS - {"value", "changes", "subject"})
_ID_LABELLED = re.compile(
    r"(?<![\w])((?:[a-z_]*_)?(?:request_id|workflow_id|run_id)|event_id|trace_id|span_id|key)"
    r"([\"']?\s*[=:]\s*[\"']?)([A-Za-z0-9_\-./:]{1,200})"
)
# A request's workflow id is recognisable by its template wherever it is written (Temporal's
# "Failed activation on workflow DsrWorkflowV2 with ID dsr-req-…").
_WORKFLOW_ID_IN_TEXT = re.compile(r"(?<![\w\-./])(?:dsr|package-expiry)-[A-Za-z0-9_\-]{8,90}")
# Private-use characters: no pattern matches them, and they are not word characters.
_HOLD_OPEN, _HOLD_CLOSE, _HOLD_BASE = "\ue000", "\ue001", 0xE100


def _masked(text: str, *, numbers: bool) -> str:
    text = _LABELLED.sub(lambda m: m.group(1) + REDACTED, text)
    for hint, mask in SHAPE_PATTERNS + (NUMBER_PATTERNS if numbers else ()):
        if hint(text):
            text = mask(text)
    return mask_names(text)


class _Held:
    """Validated ids taken out of a text while the digit masks run, then put back."""

    def __init__(self) -> None:
        self.values: list[str] = []

    def hold(self, safe: str) -> str:
        self.values.append(_masked(safe, numbers=False))
        return f"{_HOLD_OPEN}{chr(_HOLD_BASE + len(self.values) - 1)}{_HOLD_CLOSE}"

    def labelled(self, match: re.Match[str]) -> str:
        label, separator, value = match.groups()
        kind = id_kind(label)
        if kind is None:
            return match.group(0)
        if kind == "workflow":
            split = split_workflow_id(value)
            if split is None:
                return match.group(0)
            return f"{label}{separator}{self.hold(split[0])}{split[2]}"
        return f"{label}{separator}{self.hold(value)}" if id_is_safe(kind, value) else match[0]

    def workflow_id(self, match: re.Match[str]) -> str:
        split = split_workflow_id(match.group(0))
        return self.hold(split[0]) + split[2] if split is not None else match.group(0)

    def restore(self, text: str) -> str:
        for index, value in enumerate(self.values):
            text = text.replace(f"{_HOLD_OPEN}{chr(_HOLD_BASE + index)}{_HOLD_CLOSE}", value, 1)
        return text


def scrub(text: str) -> str:
    """Mask e-mail addresses, Swedish identity numbers, phone numbers, street addresses,
    postcodes, personal names and labelled personal values (`name='...'`) in free text."""
    held = _Held()
    if "_id" in text or "key" in text:
        text = _ID_LABELLED.sub(held.labelled, text)
    if "dsr-" in text or "package-expiry-" in text:
        text = _WORKFLOW_ID_IN_TEXT.sub(held.workflow_id, text)
    text = _masked(text, numbers=True)
    return held.restore(text) if held.values else text


def scrub_id(kind: IdKind, value: str) -> str:
    """`scrub` for the value of an id field: a validated id keeps its digits."""
    if kind == "workflow":
        split = split_workflow_id(value)
        if split is None:
            return scrub(value)
        return _masked(split[0], numbers=False) + (scrub(split[2]) if split[2] else "")
    if not id_is_safe(kind, value):
        return scrub(value)
    return value if kind in ("run", "hex") else _masked(value, numbers=False)
