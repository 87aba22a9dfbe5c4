"""Event contract v1: what the portal may send, and the precise reasons it is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from orchestrator.intake._validation import Rejected, validate_request
from orchestrator.signing import signature_headers
from schemas.events import DeadLetterReason, DsrRequestedEvent, Subject
from schemas.export import export_json_schemas
from schemas.identifiers import is_valid_organisation_number, is_valid_personal_identity_number

KEYS = {"k1": b"secret-one", "k2": b"secret-two"}


def document(**data_changes: object) -> dict:  # type: ignore[type-arg]
    data = {
        "request_id": "req-0001abcd",
        "kind": "erasure",
        "received_at": "2026-01-31T09:00:00+01:00",
        "channel": "portal",
        "subject": {
            "email": "anna.svensson@example.se",
            "personal_identity_number": "198112189876",
        },
        "verification": {"method": "bankid", "verified_at": "2026-01-31T08:59:00+01:00"},
    }
    data.update(data_changes)
    return {
        "specversion": "1.0",
        "id": "e-1",
        "source": "urn:portal",
        "type": "dsr.requested.v1",
        "time": "2026-01-31T09:00:01+01:00",
        "datacontenttype": "application/json",
        "data": data,
    }


def run(
    doc: object, *, key: bytes | None = b"req-0001abcd", sign_with: str | None = "k1"
) -> DsrRequestedEvent:
    value = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    headers = dict(signature_headers(value, sign_with, KEYS[sign_with])) if sign_with else {}
    return validate_request(key, value, headers, KEYS, 256 * 1024)


def reason_of(doc: object, **kwargs: object) -> DeadLetterReason:
    with pytest.raises(Rejected) as caught:
        run(doc, **kwargs)  # type: ignore[arg-type]
    return caught.value.reason


def test_a_valid_event_is_accepted_with_either_rotated_key() -> None:
    assert run(document()).data.kind.value == "erasure"
    assert run(document(), sign_with="k2").data.subject.email == "anna.svensson@example.se"


@pytest.mark.parametrize(
    ("pnr", "ok"),
    [
        ("198112189876", True),
        ("198112189877", False),
        ("19811218987", False),
        ("198113189876", False),
    ],
)
def test_personnummer_needs_a_date_and_a_luhn_digit(pnr: str, ok: bool) -> None:
    assert is_valid_personal_identity_number(pnr) is ok


@pytest.mark.parametrize(
    ("orgnr", "ok"), [("556036-0793", True), ("556036-0794", False), ("5560360793", False)]
)
def test_organisation_number_format_and_check_digit(orgnr: str, ok: bool) -> None:
    assert is_valid_organisation_number(orgnr) is ok


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"kind": "delete_everything"}, DeadLetterReason.SCHEMA_VIOLATION),
        ({"request_id": "short"}, DeadLetterReason.SCHEMA_VIOLATION),
        ({"subject": {"name": "Anna"}}, DeadLetterReason.SCHEMA_VIOLATION),
        (
            {"subject": {"personal_identity_number": "198112189877"}},
            DeadLetterReason.SCHEMA_VIOLATION,
        ),
        (
            {"subject": {"email": "a@b.se", "phone": "0701234567"}},
            DeadLetterReason.SCHEMA_VIOLATION,
        ),
        ({"received_at": "2026-01-31T09:00:00"}, DeadLetterReason.SCHEMA_VIOLATION),
        (
            {"rectification": {"changes": [{"field": "email", "value": "x@y.se"}]}},
            DeadLetterReason.SCHEMA_VIOLATION,
        ),
        ({"unexpected": 1}, DeadLetterReason.SCHEMA_VIOLATION),
    ],
)
def test_schema_violations(change: dict, reason: DeadLetterReason) -> None:  # type: ignore[type-arg]
    assert reason_of(document(**change)) is reason


def test_rectification_requires_changes() -> None:
    assert reason_of(document(kind="rectification")) is DeadLetterReason.SCHEMA_VIOLATION
    ok = run(
        document(
            kind="rectification",
            rectification={"changes": [{"field": "phone", "value": "+46701234567"}]},
        )
    )
    assert ok.data.rectification is not None


def test_envelope_type_size_signature_and_key_reasons() -> None:
    doc = document()
    assert reason_of(b"{not json") is DeadLetterReason.NOT_JSON
    assert reason_of([1, 2]) is DeadLetterReason.NOT_CLOUDEVENT
    assert reason_of({**doc, "specversion": "0.3"}) is DeadLetterReason.NOT_CLOUDEVENT
    assert reason_of({**doc, "type": "other.v1"}) is DeadLetterReason.UNSUPPORTED_TYPE
    assert reason_of(doc, sign_with=None) is DeadLetterReason.MISSING_SIGNATURE
    assert reason_of(doc, key=b"another-id") is DeadLetterReason.KEY_MISMATCH
    huge = json.dumps({**doc, "pad": "x" * 300_000}).encode()
    assert reason_of(huge) is DeadLetterReason.OVERSIZE
    value = json.dumps(doc).encode()
    forged = dict(signature_headers(value, "k1", b"wrong"))
    with pytest.raises(Rejected) as caught:
        validate_request(b"req-0001abcd", value, forged, KEYS, 256 * 1024)
    assert caught.value.reason is DeadLetterReason.BAD_SIGNATURE
    unknown = dict(signature_headers(value, "k9", b"whatever"))
    with pytest.raises(Rejected) as caught:
        validate_request(b"req-0001abcd", value, unknown, KEYS, 256 * 1024)
    assert caught.value.reason is DeadLetterReason.UNKNOWN_KEY


def test_a_signature_over_other_bytes_fails_even_if_the_json_is_equal() -> None:
    value = json.dumps(document()).encode()
    headers = dict(signature_headers(value, "k1", KEYS["k1"]))
    tampered = value.replace(b'"erasure"', b'"access"')
    with pytest.raises(Rejected) as caught:
        validate_request(b"req-0001abcd", tampered, headers, KEYS, 256 * 1024)
    assert caught.value.reason is DeadLetterReason.BAD_SIGNATURE


def test_rejection_details_never_echo_personal_data() -> None:
    doc = document(subject={"email": "not-an-address", "personal_identity_number": "198112189877"})
    with pytest.raises(Rejected) as caught:
        run(doc)
    assert "198112189877" not in caught.value.detail
    assert "not-an-address" not in caught.value.detail
    assert "subject.personal_identity_number" in caught.value.detail


def test_subject_needs_a_strong_identifier() -> None:
    with pytest.raises(ValidationError):
        Subject(name="Anna", phone="+46701234567")
    assert Subject(customer_number="K100001").customer_number == "K100001"


# The one-month deadline (Regulation 1182/71, Europe/Stockholm, holidays) is policy's:
# tests/policy/test_deadlines.py.


def test_committed_json_schemas_match_the_models(tmp_path: Path) -> None:
    """The portal team builds on the committed files: they must never drift from the code."""
    for path in export_json_schemas(tmp_path):
        committed = Path("schemas/json") / path.name
        assert committed.exists(), f"run `make schema` and commit {committed}"
        assert json.loads(committed.read_text()) == json.loads(path.read_text())


# ── strict contract: times, ids, extensions, the clock ──────────────────────────────────────
@pytest.mark.parametrize(
    "received_at",
    [
        1,  # was accepted as 1970-01-01T00:00:01Z
        1769846400.5,
        "1769846400",  # a number in a string: also a unix time to lax pydantic
        "2026-01-31T09:00:00",  # naive
        "2026-01-31",  # date only
        "2026-01-31T09:00+01:00",  # no seconds
        "31/01/2026 09:00:00+01:00",
        "2026-01-31T09:00:00+01:00\n",  # a trailing newline (`$` would have let it through)
        "\uff12\uff10\uff12\uff16-01-31T09:00:00+01:00",  # fullwidth digits
        "2026-01-31T09:00:61+01:00",  # no second 61, leap or not
        True,
        None,
    ],
)
def test_times_must_be_rfc3339_strings_with_an_offset(received_at: object) -> None:
    with pytest.raises(Rejected) as caught:
        run(document(received_at=received_at))
    assert caught.value.reason is DeadLetterReason.SCHEMA_VIOLATION
    assert "data.received_at" in caught.value.detail


@pytest.mark.parametrize(
    "verified_at", [1769846400, "2026-01-31T08:59:00", "2026-01-31T08:59:00.123"]
)
def test_verified_at_is_as_strict(verified_at: object) -> None:
    doc = document(verification={"method": "bankid", "verified_at": verified_at})
    assert reason_of(doc) is DeadLetterReason.SCHEMA_VIOLATION


def test_rfc3339_variants_are_accepted() -> None:
    for moment in (
        "2026-01-31T08:00:00Z",
        "2026-01-31t08:00:00.123456z",
        "2026-01-31 09:00:00+01:00",
    ):
        assert run(document(received_at=moment)).data.received_at == datetime(
            2026, 1, 31, 8, tzinfo=UTC
        ).replace(microsecond=123456 if "." in moment else 0)


@pytest.mark.parametrize(
    ("leap", "day"),
    [("2025-12-31T23:59:60Z", "2026-01-01"), ("2026-01-01T00:59:60.25+01:00", "2026-01-01")],
)
def test_a_leap_second_is_accepted_in_its_place_and_day(leap: str, day: str) -> None:
    """RFC 3339's grammar allows second 60; Python's datetime cannot hold it. It is read as the
    last microsecond of second 59: after every earlier instant, before the next minute, on its
    own Stockholm day (the day the legal clock counts from). (The last real one, 2016-12-31,
    is before the GDPR applied; these are the shape a future one would have.)"""
    from policy.deadlines import receipt_day

    doc = document(received_at=leap)
    doc["time"] = "2026-01-01T00:00:01Z"
    doc["data"]["verification"]["verified_at"] = "2025-12-31T23:00:00Z"
    received = run(doc).data.received_at
    assert received == datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert receipt_day(received).isoformat() == day


@pytest.mark.parametrize(
    "change",
    [
        {"request_id": 12345678},
        {"request_id": "req-0001abc\u0434"},  # Cyrillic homoglyph
        {"request_id": "req-0001abcd\n"},
        {"request_id": "req\u200b0001abcd"},  # zero-width space
        {"request_id": "req-\uff10\uff10\uff10\uff11abcd"},  # fullwidth digits
        {"subject": {"customer_number": 100123}},
        {"locale": 1},
    ],
)
def test_ids_are_strings_of_the_exact_alphabet(change: dict) -> None:  # type: ignore[type-arg]
    assert reason_of(document(**change), key=None) is DeadLetterReason.SCHEMA_VIOLATION


def test_extension_attributes_must_be_named_scalars() -> None:
    doc = document()
    assert run({**doc, "traceparent": "00-abc-def-01"}).data.kind.value == "erasure"
    assert reason_of({**doc, "nested": {"deep": [1]}}) is DeadLetterReason.NOT_CLOUDEVENT
    assert reason_of({**doc, "Bad-Name": "x"}) is DeadLetterReason.NOT_CLOUDEVENT


def test_received_at_in_the_future_is_refused_with_the_field_named() -> None:
    arrived = datetime(2026, 1, 31, 8, 0, tzinfo=UTC)
    value = json.dumps(document(received_at="2026-01-31T08:05:01Z")).encode()
    headers = dict(signature_headers(value, "k1", KEYS["k1"]))
    with pytest.raises(Rejected) as caught:
        validate_request(b"req-0001abcd", value, headers, KEYS, 256 * 1024, arrived_at=arrived)
    assert caught.value.reason is DeadLetterReason.SCHEMA_VIOLATION
    assert "data.received_at" in caught.value.detail
    # within the allowance (300 s by default): accepted
    value = json.dumps(document(received_at="2026-01-31T08:04:59Z")).encode()
    headers = dict(signature_headers(value, "k1", KEYS["k1"]))
    event = validate_request(b"req-0001abcd", value, headers, KEYS, 256 * 1024, arrived_at=arrived)
    assert event.data.received_at.minute == 4


@pytest.mark.parametrize(
    ("received_at", "accepted"),
    [
        ("2018-05-24T22:00:00Z", True),  # 00:00 on 25 May 2018 in Stockholm (CEST)
        ("2018-05-24T21:59:59Z", False),  # 23:59:59 on the 24th in Stockholm
        ("2018-05-25T00:30:00+14:00", False),  # the 24th in Stockholm, whatever its offset
        ("1970-01-01T00:00:00Z", False),
        ("0002-01-01T00:00:00Z", False),
    ],
)
def test_the_legal_clock_cannot_start_before_the_gdpr_applied(
    received_at: str, accepted: bool
) -> None:
    doc = document(received_at=received_at)
    if accepted:
        assert run(doc).data.received_at == datetime.fromisoformat(received_at)
        return
    with pytest.raises(Rejected) as caught:
        run(doc)
    assert caught.value.reason is DeadLetterReason.SCHEMA_VIOLATION
    assert "data.received_at: before_gdpr" in caught.value.detail


@pytest.mark.parametrize(
    ("where", "moment"),
    [
        ("received_at", "0001-01-01T00:00:00+14:00"),  # before year 1 in UTC
        ("received_at", "0001-01-01T00:00:00Z"),
        ("received_at", "9999-12-31T23:59:59Z"),  # year 10000 in Stockholm
        ("verified_at", "0001-01-01T05:00:00+14:00"),
        ("verified_at", "9999-12-31T23:59:59-14:00"),
        ("time", "0001-01-01T00:00:00+14:00"),
    ],
)
def test_times_no_conversion_can_represent_are_refused_not_crashed_on(
    where: str, moment: str
) -> None:
    """Valid RFC 3339, yet converting them to UTC or Stockholm time raises OverflowError: in
    the workflow's legal clock that failed every workflow task of the request, for ever."""
    doc = document()
    if where == "time":
        doc["time"] = moment
    elif where == "verified_at":
        doc["data"]["verification"] = {"method": "bankid", "verified_at": moment}
    else:
        doc["data"]["received_at"] = moment
    with pytest.raises(Rejected) as caught:
        run(doc)
    assert caught.value.reason in (
        DeadLetterReason.SCHEMA_VIOLATION,
        DeadLetterReason.NOT_CLOUDEVENT,  # `time` is the envelope's
    )
    assert "out of range" in caught.value.detail
    assert where in caught.value.detail


def test_deep_nesting_is_refused_without_recursion() -> None:
    for value in (b"[" * 100_000, b'{"a":' * 40_000, b"[" * 1025 + b"]" * 1025):
        assert reason_of(value) is DeadLetterReason.NOT_JSON
    nested: object = "x"
    for _ in range(500):  # parseable depth, inside a field: a schema violation
        nested = [nested]
    assert reason_of(document(locale=nested)) is DeadLetterReason.SCHEMA_VIOLATION


def test_an_unknown_key_named_like_personal_data_is_not_echoed() -> None:
    doc = document()
    doc["data"]["anna.svensson@example.se"] = 1
    with pytest.raises(Rejected) as caught:
        run(doc)
    assert "anna" not in caught.value.detail
    assert "extra_forbidden" in caught.value.detail


def test_values_nested_deeper_than_the_contract_are_refused_iteratively() -> None:
    """A 1000-deep list where an enum belongs made Python's enum recurse through its repr
    (RecursionError: the record went to the DLQ as `unprocessable`, not as what it is)."""
    nested: object = "erasure"
    for _ in range(300):  # (json.dumps itself recurses: the fuzz suite builds deeper as text)
        nested = [nested]
    with pytest.raises(Rejected) as caught:
        run(document(kind=nested))
    assert caught.value.reason is DeadLetterReason.SCHEMA_VIOLATION
    assert "data.kind" in caught.value.detail and "too_deep" in caught.value.detail


@pytest.mark.parametrize(
    ("request_id", "ok"),
    [
        ("198112189876", False),  # a personnummer would become the workflow id
        ("19811218-9876", False),
        ("811218-9876", False),
        ("0701234567", False),  # a mobile number
        ("556036-0793", False),  # an organisation number
        ("req-2026-000123", True),
        ("2026-00123", True),  # nine digits: too few for any personal number
        ("20261201_0001", False),  # twelve digits, whatever the separator
        ("8f0c8b8e-6c1e-4f53-9a7e-1d2f3a4b5c6d", True),
        # a personnummer in a written form inside the id
        ("req-198112189876", False),
        ("req-19811218-9876", False),
        ("case_811218-9876_b", False),
        ("req-198112189875", True),  # the wrong check digit: no personnummer
        ("req-8112189876", True),  # ten bare digits: too common by chance (a date + counter)
        ("req-2612040002", True),
        ("req-3df0ef1234567890", True),
        # a mobile number as a run of digits of its own
        ("req-0708701049", False),
        ("kund-K100021-tel-0724343439b", False),
        ("req-46701234567", False),
        ("x-0046701234567-y", False),
        ("req-07087010491", True),  # eleven digits: no mobile number
    ],
)
def test_a_request_id_shaped_like_personal_data_is_refused(request_id: str, ok: bool) -> None:
    doc = document(request_id=request_id)
    key = request_id.encode()
    if ok:
        assert run(doc, key=key).data.request_id == request_id
        return
    with pytest.raises(Rejected) as caught:
        run(doc, key=key)
    assert caught.value.reason is DeadLetterReason.SCHEMA_VIOLATION
    assert "data.request_id" in caught.value.detail
    assert request_id not in caught.value.detail


@pytest.mark.parametrize(
    ("repeat", "reason", "where"),
    [
        ('"kind": "access"', DeadLetterReason.SCHEMA_VIOLATION, "data.kind"),
        ('"email": "eve@example.se"', DeadLetterReason.SCHEMA_VIOLATION, "data.subject.email"),
        ('"type": "dsr.requested.v1"', DeadLetterReason.NOT_CLOUDEVENT, "type"),
        ('"data": {}', DeadLetterReason.NOT_CLOUDEVENT, "data"),  # the envelope's member
        ('"anna.svensson@example.se": 1', DeadLetterReason.SCHEMA_VIOLATION, "data.<key>"),
    ],
)
def test_a_name_given_twice_is_refused_not_resolved(
    repeat: str, reason: DeadLetterReason, where: str
) -> None:
    """Signed bytes with `"kind"` twice mean access to one parser and erasure to another: the
    signature cannot say which the portal meant, so neither is believed."""
    name = repeat.split(":")[0]
    text = json.dumps(document())
    if name == '"anna.svensson@example.se"':
        text = text.replace('"data": {', '"data": {' + repeat + ", " + repeat + ", ", 1)
    elif name in ('"type"', '"data"'):
        text = text.replace('"specversion"', repeat + ', "specversion"', 1)
    else:  # the name again, right after its first occurrence
        first = text.index(name)
        end = text.index(",", first) if name == '"kind"' else text.index("}", first)
        text = text[:end] + ", " + repeat + text[end:]
    with pytest.raises(Rejected) as caught:
        run(text.encode())
    assert caught.value.reason is reason
    assert caught.value.detail.startswith(f"{where}: duplicate_key"), caught.value.detail
    assert "anna" not in caught.value.detail and "eve" not in caught.value.detail


def test_the_same_name_in_different_objects_is_no_repetition() -> None:
    changes = [{"field": "email", "value": "a@b.se"}, {"field": "phone", "value": "+46701234567"}]
    doc = document(kind="rectification", rectification={"changes": changes})
    assert len(run(doc).data.rectification.changes) == 2  # type: ignore[union-attr]


def test_a_record_without_a_key_breaks_the_contract_as_a_wrong_key_does() -> None:
    """Keyless, it lands on a random partition: two copies of one request would race on two
    consumers instead of queueing on one."""
    with pytest.raises(Rejected) as caught:
        run(document(), key=None)
    assert caught.value.reason is DeadLetterReason.KEY_MISMATCH
    assert "no Kafka key" in caught.value.detail
    value = json.dumps(document()).encode()
    headers = dict(signature_headers(value, "k1", KEYS["k1"]))
    redriven = validate_request(None, value, headers, KEYS, 256 * 1024, key_required=False)
    assert redriven.data.request_id == "req-0001abcd"  # `dsr dlq redrive` keys it itself


@pytest.mark.parametrize(
    "key_id",
    ["anna.lindqvist@exempel.se", "198112189876", "+46701234567", "Anna Lindqvist", "x" * 65],
)
def test_an_unknown_signing_key_id_that_could_be_personal_data_is_not_quoted(key_id: str) -> None:
    """The refusal's detail is kept in clear (a DLQ header, `dsr dlq list`); the key id header
    is the producer's free text."""
    value = json.dumps(document()).encode()
    headers = {"dsr-key-id": key_id.encode(), "dsr-signature": b"v1=00"}
    with pytest.raises(Rejected) as caught:
        validate_request(b"req-0001abcd", value, headers, KEYS, 256 * 1024)
    assert caught.value.reason is DeadLetterReason.UNKNOWN_KEY
    assert key_id not in caught.value.detail and key_id[:12] not in caught.value.detail
    assert f"{len(key_id)} characters" in caught.value.detail


def test_an_unknown_signing_key_id_of_a_key_ids_shape_is_quoted() -> None:
    """A sibling of a configured id (a key not rotated in yet) is quoted; any other free text,
    however harmless its shape, only counted (`siv.soderberg1` is an e-mail's local part)."""
    value = json.dumps(document()).encode()
    for key_id, shown in ((b"portal-2027", True), (b"siv.soderberg1", False)):
        headers = {"dsr-key-id": key_id, "dsr-signature": b"v1=00"}
        with pytest.raises(Rejected) as caught:
            validate_request(b"req-0001abcd", value, headers, {"portal-2026": b"s"}, 256 * 1024)
        assert (caught.value.detail == f"unknown signing key id {key_id.decode()!r}") is shown


def test_a_request_id_naming_another_requests_follow_up_is_refused() -> None:
    """`dsr-req-2026-0001-deferred-erasure` is request req-2026-0001's deferred erasures: as a
    request of its own it would have been taken for a duplicate of them, and lost."""
    from schemas.events import is_valid_request_id
    from schemas.workflow import workflow_id_for
    from workflows.follow_up import follow_up_workflow_id

    taken = "req-2026-0001-deferred-erasure"
    assert workflow_id_for(taken) == follow_up_workflow_id("req-2026-0001")
    assert not is_valid_request_id(taken)
    with pytest.raises(Rejected) as caught:
        run(document(request_id=taken), key=taken.encode())
    assert caught.value.reason is DeadLetterReason.SCHEMA_VIOLATION
    assert "data.request_id" in caught.value.detail and "deferred-erasure" in caught.value.detail
    assert is_valid_request_id("req-2026-0001-deferred-erasure-2")  # only the ending is taken
