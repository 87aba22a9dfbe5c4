"""The redaction processor against generated Swedish personal data in every common format.

Personnummer (YYYYMMDD-NNNN, YYMMDD-NNNN, `+` for the over-100s, with and without separator,
samordningsnummer), organisationsnummer, e-mails (Swedish letters, tags, sub-domains,
URL-encoded), +46 / 0046 / 07x / landline numbers with the usual separators, names and street
addresses: as log fields (top-level and nested), in free text, in reprs and JSON, in pydantic's
error text, in stdlib library logs and in exception tracebacks. Whatever the context, none of
the generated values may survive into the rendered line.
"""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.logging import configure_logging, redact_personal_data, scrub
from sandbox._swedish import (
    EMAIL_PROVIDERS,
    FEMALE_FIRST_NAMES,
    LAST_NAMES,
    MALE_FIRST_NAMES,
    STREETS,
    TOWNS,
)

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _luhn(digits: str) -> int:
    total = 0
    for i, c in enumerate(digits):
        d = int(c) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return (10 - total % 10) % 10


@st.composite
def personnummer(draw: st.DrawFn) -> str:
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)))
    day = born.day + (60 if draw(st.booleans()) and draw(st.booleans()) else 0)  # samordning
    serial = f"{draw(st.integers(0, 999)):03d}"
    short = f"{born:%y%m}{day:02d}{serial}"
    number = short + str(_luhn(short))
    century = f"{born.year // 100}"
    old = date.today() - born > timedelta(days=365 * 100)
    form = draw(st.sampled_from(["long-dash", "long", "short-dash", "short", "short-space"]))
    return {
        "long-dash": f"{century}{number[:6]}-{number[6:]}",
        "long": f"{century}{number}",
        "short-dash": f"{number[:6]}{'+' if old else '-'}{number[6:]}",
        "short": number,
        "short-space": f"{number[:6]} {number[6:]}",
    }[form]


@st.composite
def organisation_number(draw: st.DrawFn) -> str:
    group = draw(st.sampled_from("25789"))
    body = f"{group}{draw(st.integers(20, 99))}{draw(st.integers(0, 999999)):06d}"
    number = body + str(_luhn(body))
    return draw(st.sampled_from([f"{number[:6]}-{number[6:]}", number, f"16{number}"]))


_ASCII = str.maketrans("åäöéüÅÄÖÉÜ", "aaoeuAAOEU")


@st.composite
def full_name(draw: st.DrawFn) -> str:
    first = draw(st.sampled_from(FEMALE_FIRST_NAMES + MALE_FIRST_NAMES))
    return f"{first} {draw(st.sampled_from(LAST_NAMES))}"


@st.composite
def email(draw: st.DrawFn) -> str:
    name = draw(full_name())
    first, last = name.lower().split(" ", 1)
    if draw(st.booleans()):
        first, last = first.translate(_ASCII), last.translate(_ASCII)
    sep = draw(st.sampled_from([".", "_", "-", ""]))
    tag = draw(st.sampled_from(["", "+dsr", f"{draw(st.integers(1, 99))}"]))
    provider = draw(st.sampled_from([p for p, _ in EMAIL_PROVIDERS] + ["mail.foretag.se"]))
    address = f"{first}{sep}{last}{tag}@{provider}".replace(" ", "")
    return address.upper() if draw(st.integers(0, 9)) == 0 else address


@st.composite
def phone(draw: st.DrawFn) -> str:
    mobile = f"7{draw(st.sampled_from('02369'))}"
    rest = f"{draw(st.integers(0, 9999999)):07d}"
    a, b, c = rest[:3], rest[3:5], rest[5:]
    return draw(
        st.sampled_from(
            [
                f"+46{mobile}{rest}",
                f"+46 {mobile} {a} {b} {c}",
                f"+46 (0){mobile}-{a} {b} {c}",
                f"+46-{mobile}-{rest}",
                f"0046 {mobile} {a} {b} {c}",
                f"0{mobile}-{a} {b} {c}",
                f"0{mobile} {a} {b} {c}",
                f"0{mobile}{rest}",
                f"0{mobile}-{rest}",
                f"08-{a} {b[0]}{c[:2]} {c[1:]}"[:14],
                f"031-{a[:2]} {b} {c}",
            ]
        )
    )


@st.composite
def street_address(draw: st.DrawFn) -> tuple[str, str]:
    """(the whole address, the part that identifies: street and number)."""
    street = draw(st.sampled_from(STREETS))
    number = f"{draw(st.integers(1, 199))}{draw(st.sampled_from(['', '', 'A', 'B', ' C']))}"
    town, areas = draw(st.sampled_from(TOWNS))
    postcode = f"{draw(st.sampled_from(areas))} {draw(st.integers(10, 99))}"
    flat = draw(st.sampled_from(["", " lgh 1102", ", lgh 1201"]))
    line = f"{street} {number}{flat}"
    return f"{line}, {postcode} {town}", f"{street.split()[-1]} {number}".strip()


@st.composite
def personal_value(draw: st.DrawFn) -> tuple[str, list[str]]:
    """(text to log, the fragments that must not survive)."""
    kind = draw(st.sampled_from(["pnr", "org", "email", "phone", "address"]))
    if kind == "pnr":
        value = draw(personnummer())
        return value, [value, value.replace("-", "").replace("+", "").replace(" ", "")]
    if kind == "org":
        value = draw(organisation_number())
        return value, [value]
    if kind == "email":
        value = draw(email())
        return value, [value, value.split("@")[0] + "@"]
    if kind == "phone":
        value = draw(phone())
        return value, [value]
    whole, identifying = draw(street_address())
    return whole, [identifying]


_CONTEXTS = [
    "{v}",
    "failed for {v}",
    "lookup({v}) returned 2 rows",
    "subject {v}, retrying",
    "kunden {v} hittades inte",
    "<{v}>",
    "value={v}",
    "'{v}'",
    '{{"q": "{v}"}}',
    "GET /api/subscribers?query={v}&page=1",
]


def _survivors(rendered: str, fragments: list[str]) -> list[str]:
    return [f for f in fragments if f and f in rendered]


@FUZZ
@given(
    values=st.lists(personal_value(), min_size=1, max_size=4),
    context=st.sampled_from(_CONTEXTS),
)
def test_free_text_never_keeps_personal_data(
    values: list[tuple[str, list[str]]], context: str
) -> None:
    text = " | ".join(context.format(v=v) for v, _ in values)
    cleaned = scrub(text)
    for _, fragments in values:
        assert not _survivors(cleaned, fragments), (text, cleaned)


@FUZZ
@given(name=full_name(), address=street_address(), mail=email(), pnr=personnummer())
def test_labelled_values_in_reprs_json_and_pydantic_errors(
    name: str, address: tuple[str, str], mail: str, pnr: str
) -> None:
    texts = [
        f"Subject(name='{name}', email='{mail}')",
        json.dumps({"name": name, "address": address[0], "personnummer": pnr}),
        f"name={name}, street={address[0]}",
        f"  Value error [type=value_error, input_value='{pnr}', input_type=str]",
        f"input_value='{name}'",
        f"first_name={name.split()[0]} last_name={name.split()[1]}",
    ]
    for text in texts:
        cleaned = scrub(text)
        for fragment in (name, address[1], mail, pnr, *name.split()):
            assert fragment not in cleaned, (text, cleaned)


@FUZZ
@given(name=full_name(), value=personal_value(), nested=st.booleans())
def test_personal_fields_are_dropped_at_any_depth(
    name: str, value: tuple[str, list[str]], nested: bool
) -> None:
    fields: dict[str, Any] = {
        "name": name,
        "contact_email": value[0],
        "note": f"ring {value[0]}",
        "subject": {"name": name},
        "items": [{"full_name": name, "other": value[0]}],
        "pnr_as_number": 198112189876,
    }
    event: dict[str, Any] = {"event": "lookup", **({"ctx": fields} if nested else fields)}
    rendered = json.dumps(redact_personal_data(None, "info", event), default=str)
    assert name not in rendered and name.split()[1] not in rendered
    assert not _survivors(rendered, value[1])
    assert "198112189876" not in rendered


@settings(max_examples=3, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    drawn=st.lists(
        st.tuples(full_name(), personal_value(), street_address()), min_size=60, max_size=60
    )
)
def test_everything_the_processes_log_passes_one_pipeline(
    capsys: pytest.CaptureFixture[str],
    drawn: list[tuple[str, tuple[str, list[str]], tuple[str, str]]],
) -> None:
    """structlog lines, stdlib library lines (%-args) and tracebacks, rendered as JSON."""
    configure_logging("INFO", "json")
    capsys.readouterr()
    samples: list[tuple[str, list[str]]] = []
    for name, value, address in drawn:
        samples.append((name, [name, *value[1], address[1]]))
        structlog.get_logger("orchestrator.test").info(
            f"handled {value[0]}", name=name, address=address[0], detail=f"at {address[0]}"
        )
        logging.getLogger("aiokafka.consumer").warning(
            "commit failed for %s (%s)", value[0], f"name='{name}'"
        )
        try:
            raise ValueError(f"bad row: {value[0]} at {address[0]}")
        except ValueError:
            logging.getLogger("sqlalchemy.engine").exception("query failed")
    err = capsys.readouterr().err
    assert err.count("\n") >= 180
    for line in err.splitlines():
        json.loads(line)  # still valid JSON after redaction
    for _, fragments in samples:
        assert not _survivors(err, fragments)


@pytest.mark.parametrize(
    "harmless",
    [
        "2026-12-01T16:39:03.135270Z",
        "workflow dsr-req-2026-000123 run 01a23279-5b78-7cc9-b747-fcd32994425a",
        "connected to 127.0.0.1:7233 in 0.05 s",
        "partition 3 offset 17 lag 0",
        "request req-2026-00012345 and it-01234567 started",
        "trace b8cb591c4ee4440e08208b11e7119ae1",
    ],
)
def test_operational_text_stays_readable(harmless: str) -> None:
    assert scrub(harmless) == harmless
