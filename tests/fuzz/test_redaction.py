"""The redaction processor against generated Swedish personal data in every common format.

Personnummer (YYYYMMDD-NNNN, YYMMDD-NNNN, `+` for the over-100s, with a dash, a space or no
separator, samordningsnummer), organisationsnummer, e-mails (Swedish letters, tags, sub-domains,
URL-encoded), +46 / 0046 / 07x / landline numbers with the usual separators, names (double
first names, middle names, surname first, capitals, genitive, surnames the processor's list
does not hold) and street addresses with postcode and town: embedded in generated free text, as
log fields (top-level and nested), in reprs and JSON, in pydantic's error text, in the stdlib
logs of every process's libraries and in exception tracebacks, rendered as JSON and as console
lines. Whatever the context, none of the generated values may survive into the rendered line.

And the other way round: real request ids, the workflow ids built from them and Temporal's run
ids are kept intact in the fields that carry them (a 10-12-digit run inside a validated id is
no personnummer), while a value that is itself personnummer-shaped is still masked there.

The names come from the sandbox's generator lists (sandbox/_swedish.py) and from surnames
composed here, never from the processor's own list, so the test measures whether the rule
generalises. `make test` runs a slice of ~1,300 examples; `make fuzz` (marker `fuzz`) runs
ten times that and prints examples per second.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from orchestrator.logging import configure_logging, redact_personal_data, scrub
from sandbox._swedish import (
    EMAIL_PROVIDERS,
    FEMALE_FIRST_NAMES,
    LAST_NAMES,
    MALE_FIRST_NAMES,
    STREETS,
    TOWNS,
)
from schemas.events import RequestId, is_valid_request_id


def _fuzz(examples: int) -> Callable[[Any], Any]:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


FUZZ = _fuzz(250)


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
    form = draw(
        st.sampled_from(["long-dash", "long", "long-space", "short-dash", "short", "short-space"])
    )
    return {
        "long-dash": f"{century}{number[:6]}-{number[6:]}",
        "long": f"{century}{number}",
        "long-space": f"{century}{number[:6]} {number[6:]}",
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
_FIRST = FEMALE_FIRST_NAMES + MALE_FIRST_NAMES
# Surnames the processor has never seen: Swedish nature-word stems with the usual endings, and
# stems with the endings of surnames from Finland, the Balkans, Poland, Iran and Turkey.
_STEMS = [
    "Lind",
    "Berg",
    "Sjö",
    "Ek",
    "Ås",
    "Hag",
    "Björk",
    "Lönn",
    "Fors",
    "Strand",
    "Dal",
    "Alm",
    "Gran",
    "Holm",
    "Sund",
    "Nord",
    "Väst",
    "Öst",
    "Söder",
    "Norr",
    "Ljung",
    "Ström",
    "Sten",
    "Malm",
    "Åker",
    "Äng",
    "Hed",
    "Rosen",
    "Lilje",
    "Falk",
    "Örn",
    "Kron",
    "Skog",
    "Bäck",
    "Kvarn",
    "Tall",
    "Rönn",
    "Hassel",
    "Tjäder",
    "Ugg",
    "Vass",
    "Myr",
    "Grön",
    "Blå",
    "Hjort",
    "Lo",
    "Svan",
    "Kärr",
    "Mal",
    "Torv",
]
_SWEDISH_ENDINGS = [
    "berg",
    "ström",
    "qvist",
    "kvist",
    "gren",
    "lund",
    "holm",
    "dahl",
    "blad",
    "stedt",
    "sjö",
    "bäck",
]
_SYLLABLE = st.from_regex(r"[BDGHKLMNPRSTVZ][aeiou][bdgklmnprstvz][aeiou]", fullmatch=True)
_FOREIGN_ENDINGS = [
    "ović",
    "ević",
    "ić",
    "inen",
    "anen",
    "ski",
    "wicz",
    "zadeh",
    "pour",
    "oğlu",
    "enko",
    "escu",
]


@st.composite
def surname(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["list", "list", "swedish", "foreign"]))
    if kind == "list":
        return draw(st.sampled_from(LAST_NAMES))
    if kind == "swedish":
        return draw(st.sampled_from(_STEMS)) + draw(st.sampled_from(_SWEDISH_ENDINGS))
    return draw(_SYLLABLE) + draw(st.sampled_from(_FOREIGN_ENDINGS))


@st.composite
def person(draw: st.DrawFn) -> tuple[str, list[str]]:
    """(the name as written, its parts: none may survive)."""
    first = draw(st.sampled_from(_FIRST))
    if draw(st.integers(0, 5)) == 0:  # Anna-Karin, Per-Olof
        first = f"{first}-{draw(st.sampled_from(_FIRST))}"
    middle = draw(st.sampled_from(_FIRST)) if draw(st.integers(0, 5)) == 0 else None
    last = draw(surname())
    parts = [first, *([middle] if middle else []), last]
    form = draw(st.sampled_from(["plain", "plain", "plain", "surname-first", "capitals", "gen"]))
    if form == "surname-first":
        return f"{last}, {' '.join(parts[:-1])}", parts
    if form == "capitals":
        return " ".join(parts).upper(), [p.upper() for p in parts]
    if form == "gen":
        return " ".join(parts) + "s", parts
    return " ".join(parts), parts


@st.composite
def full_name(draw: st.DrawFn) -> str:
    first = draw(st.sampled_from(_FIRST))
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
    if draw(st.integers(0, 9)) == 0:
        address = address.replace("@", "%40")
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
                f"0{mobile}/{a} {b} {c}",
                f"(0{mobile}) {a} {b} {c}",
                f"08-{a} {b[0]}{c[:2]} {c[1:]}"[:14],
                f"031-{a[:2]} {b} {c}",
            ]
        )
    )


@st.composite
def street_address(draw: st.DrawFn) -> tuple[str, list[str]]:
    """(the address as written, the parts that identify: street and number, postcode+town)."""
    street = draw(st.sampled_from(STREETS))
    letter = draw(st.sampled_from(["", "", "A", "B", " C"]))
    number = f"{draw(st.integers(1, 199))}{letter}"
    town, areas = draw(st.sampled_from(TOWNS))
    postcode = f"{draw(st.sampled_from(areas))} {draw(st.integers(10, 99))}"
    postcode = draw(st.sampled_from([postcode, postcode.replace(" ", ""), f"SE-{postcode}"]))
    flat = draw(st.sampled_from(["", " lgh 1102", ", lgh 1201"]))
    form = draw(st.sampled_from(["full", "full", "street", "bare"]))
    if form == "bare":  # "bor på Storgatan": no number
        return street, [street]
    identifying = [f"{street.split()[-1]} {number}".strip()]
    if form == "street":
        return f"{street} {number}{flat}", identifying
    return f"{street} {number}{flat}, {postcode} {town}", [*identifying, f"{postcode} {town}"]


@st.composite
def personal_value(draw: st.DrawFn) -> tuple[str, list[str]]:
    """(text to log, the fragments that must not survive)."""
    kind = draw(st.sampled_from(["pnr", "org", "email", "phone", "address", "name", "name"]))
    if kind == "pnr":
        value = draw(personnummer())
        return value, [value, value.replace("-", "").replace("+", "").replace(" ", "")]
    if kind == "org":
        value = draw(organisation_number())
        return value, [value]
    if kind == "email":
        value = draw(email())
        return value, [value, re.split("@|%40", value)[0] + "@"]
    if kind == "phone":
        value = draw(phone())
        return value, [value]
    if kind == "name":
        return draw(person())
    return draw(street_address())


# Filler around the values: our log vocabulary and library words (lower case, as log text is).
_FILLER_WORDS = [
    "event",
    "accepted",
    "dead-lettered",
    "workers",
    "started",
    "billing",
    "registrar",
    "hosting",
    "newsletter",
    "support",
    "locate",
    "export",
    "erase",
    "rectify",
    "plan",
    "retained",
    "attempt",
    "of",
    "retrying",
    "in",
    "s",
    "partition",
    "offset",
    "lag",
    "lookup",
    "failed",
    "for",
    "row",
    "rows",
    "customer",
    "kunden",
    "hittades",
    "inte",
    "fel",
    "vid",
    "sökning",
    "på",
    "ring",
    "till",
    "HTTP",
    "503",
    "GET",
    "POST",
    "/api/subscribers?query=",
    "timeout",
    "connection",
    "refused",
    "error_type",
    "KeyError",
    "ValueError:",
    "bad",
    "input",
    "at",
    "from",
    "with",
    "subject",
    "id",
    "req-2026-000123",
    "ambiguous=False",
    "3",
    "records",
]
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
    "ValueError: no row matches {v}",
    "{v}: not found",
]


@st.composite
def free_text(draw: st.DrawFn) -> tuple[str, list[list[str]]]:
    """Generated log text with personal values embedded: (text, fragments per value)."""
    values = draw(st.lists(personal_value(), min_size=1, max_size=4))
    pieces: list[str] = []
    for value, _ in values:
        pieces.append(" ".join(draw(st.lists(st.sampled_from(_FILLER_WORDS), max_size=6))))
        pieces.append(draw(st.sampled_from(_CONTEXTS)).format(v=value))
    pieces.append(" ".join(draw(st.lists(st.sampled_from(_FILLER_WORDS), max_size=6))))
    separator = draw(st.sampled_from([" ", " | ", "; ", "\n", ", "]))
    return separator.join(p for p in pieces if p), [fragments for _, fragments in values]


def _survivors(rendered: str, fragments: list[str]) -> list[str]:
    """Fragments still in the text (a name part as a word: "Ek" may be inside "Ekonomi")."""
    return [
        f
        for f in fragments
        if f
        and (re.search(rf"(?<!\w){re.escape(f)}(?!\w)", rendered) if f.isalpha() else f in rendered)
    ]


_GLUED = [
    "export_{v}.json",
    "user{v}",
    "pnr_{v}_old",
    "portal_{v}",
    "kund{v}: not found",
    "cache key subject:{v}x",
]


@FUZZ
@given(pnr=personnummer(), context=st.sampled_from(_GLUED))
def test_a_personnummer_glued_to_a_word_is_masked(pnr: str, context: str) -> None:
    """Written into a file name, a key or an id, not only between spaces."""
    text = context.format(v=pnr)
    cleaned = scrub(text)
    # The contexts hold no digits of their own: none may be left.
    assert "[id-number]" in cleaned and not re.search(r"\d", cleaned), (text, cleaned)


@FUZZ
@given(drawn=free_text())
def test_free_text_never_keeps_personal_data(drawn: tuple[str, list[list[str]]]) -> None:
    text, fragments = drawn
    cleaned = scrub(text)
    for each in fragments:
        assert not _survivors(cleaned, each), (text, cleaned)


@FUZZ
@given(name=person(), address=street_address(), mail=email(), pnr=personnummer())
def test_labelled_values_in_reprs_json_and_pydantic_errors(
    name: tuple[str, list[str]], address: tuple[str, list[str]], mail: str, pnr: str
) -> None:
    written, parts = name
    texts = [
        f"Subject(name='{written}', email='{mail}')",
        json.dumps({"name": written, "address": address[0], "personnummer": pnr}),
        f"name={written}, street={address[0]}",
        f"  Value error [type=value_error, input_value='{pnr}', input_type=str]",
        f"input_value='{written}'",
        f"first_name={parts[0]} last_name={parts[-1]}",
    ]
    for text in texts:
        cleaned = scrub(text)
        assert not _survivors(cleaned, [*parts, *address[1], mail, pnr]), (text, cleaned)


@FUZZ
@given(name=person(), value=personal_value(), address=street_address(), nested=st.booleans())
def test_personal_fields_are_dropped_at_any_depth(
    name: tuple[str, list[str]],
    value: tuple[str, list[str]],
    address: tuple[str, list[str]],
    nested: bool,
) -> None:
    written, parts = name
    fields: dict[str, Any] = {
        "name": written,
        "contact_email": value[0],
        "note": f"ring {value[0]}",
        "who": written,  # not a personal field name: masked by what it holds
        "error": LookupError(f"no customer {written} at {address[0]}"),
        "subject": {"name": written},
        "items": [{"full_name": written, "other": value[0], "where": address[0]}],
        "pnr_as_number": 198112189876,
    }
    event: dict[str, Any] = {"event": "lookup", **({"ctx": fields} if nested else fields)}
    rendered = json.dumps(redact_personal_data(None, "info", event), default=str)
    assert not _survivors(rendered, [*parts, *value[1], *address[1]]), rendered
    assert "198112189876" not in rendered


# ── ids: kept when validated, masked when personnummer-shaped ──────────────────────────────

_HEX = st.binary(min_size=8, max_size=8).map(bytes.hex)
request_ids = st.one_of(
    _HEX.map(lambda h: f"req-{h}"),  # what `dsr submit` generates
    st.integers(0, 10**10 - 1).map(lambda n: f"req-2026-{n:010d}"),
    # a 10-12-digit run after "req-", and a tail beginning 07: kept unless it is a personnummer
    # (YYMMDDNNNC) or a mobile number (07[02369]…, refused by the intake and masked)
    st.integers(10**9, 10**12 - 1).map(lambda n: f"req-{n}").filter(is_valid_request_id),
    st.integers(0, 10**8 - 1).map(lambda n: f"req-07{n:08d}").filter(is_valid_request_id),
    # NNNNNN-NNNN after a prefix: kept unless it is a personnummer (a valid date and check
    # digit: "portal_270704-2707" is refused by the intake and masked, tested below).
    st.builds(lambda p: f"portal_{p}", st.from_regex(r"[0-9]{6}-?[0-9]{4}", fullmatch=True)).filter(
        is_valid_request_id
    ),
    st.from_regex(r"[A-Za-z0-9_-]{8,64}", fullmatch=True).filter(
        lambda v: is_valid_request_id(v) and any(c.isdigit() for c in v)
    ),
)


@FUZZ
@given(request_id=request_ids, run_id=st.uuids(), pnr=personnummer())
def test_validated_ids_are_kept_intact_and_personal_ones_masked(
    request_id: str, run_id: uuid.UUID, pnr: str
) -> None:
    assert is_valid_request_id(request_id)
    ids = {
        "request_id": request_id,
        "key": request_id,
        "workflow_id": f"dsr-{request_id}",
        "parent_workflow_id": f"dsr-{request_id}-deferred-erasure",
        "expiry_workflow_id": f"package-expiry-{request_id}",
        "run_id": str(run_id),
    }
    event = {"event": "event accepted", **ids, "temporal_workflow": dict(ids)}
    rendered = json.dumps(redact_personal_data(None, "info", event))
    line = json.loads(rendered)
    assert {k: line[k] for k in ids} == ids
    assert line["temporal_workflow"] == ids
    text = f"request_id={request_id} ({{'workflow_id': 'dsr-{request_id}', 'run_id': '{run_id}'}})"
    assert scrub(text) == text
    # A value that is itself a personnummer is masked, whichever id field carries it.
    digits = pnr.replace("-", "").replace("+", "").replace(" ", "")
    for shaped in {pnr, digits} - {p for p in (pnr, digits) if " " in p or "+" in p}:
        bad = {"request_id": shaped, "key": shaped, "workflow_id": f"dsr-{shaped}"}
        out = json.dumps(redact_personal_data(None, "info", dict(bad)))
        assert shaped not in out and digits not in out, out


@_fuzz(100)
@given(value=st.from_regex(r"[A-Za-z0-9_\-+ ]{0,70}", fullmatch=True))
def test_the_kept_ids_are_exactly_what_the_intake_accepts(value: str) -> None:
    """One rule: the redaction's `is_valid_request_id` is the `RequestId` the intake enforces."""
    try:
        TypeAdapter(RequestId).validate_python(value)
        accepted = True
    except ValidationError:
        accepted = False
    assert is_valid_request_id(value) is accepted


# ── the whole pipeline, as every process configures it ─────────────────────────────────────

# The loggers our processes and their libraries write to (worker, intake, API, CLI, sandboxes).
_PROCESS_LOGGERS = (
    "orchestrator.worker",
    "orchestrator.intake",
    "orchestrator.api",
    "connectors.billing",
    "temporalio.worker._activity",
    "temporalio.workflow",
    "aiokafka.consumer.group_coordinator",
    "faust.transport",
    "uvicorn.error",
    "httpx",
    "sqlalchemy.engine",
    "alembic.runtime.migration",
)


@pytest.mark.parametrize("fmt", ["json", "console"])
@settings(max_examples=3, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    drawn=st.lists(
        st.tuples(person(), personal_value(), street_address(), request_ids),
        min_size=40,
        max_size=40,
    )
)
def test_everything_the_processes_log_passes_one_pipeline(
    capsys: pytest.CaptureFixture[str],
    fmt: str,
    drawn: list[tuple[tuple[str, list[str]], tuple[str, list[str]], tuple[str, list[str]], str]],
) -> None:
    """structlog lines, stdlib library lines (%-args) and tracebacks, rendered as the process
    renders them; request ids survive in their fields."""
    configure_logging("INFO", fmt)
    capsys.readouterr()
    samples: list[list[str]] = []
    for index, ((written, parts), value, address, request_id) in enumerate(drawn):
        samples.append([*parts, *value[1], *address[1]])
        structlog.get_logger("orchestrator.test").info(
            f"handled {value[0]}",
            name=written,
            address=address[0],
            detail=f"at {address[0]} for {written}",
            request_id=request_id,
        )
        logger = logging.getLogger(_PROCESS_LOGGERS[index % len(_PROCESS_LOGGERS)])
        logger.warning("commit failed for %s (%s) near %s", value[0], written, address[0])
        try:
            raise ValueError(f"bad row: {value[0]} for {written} at {address[0]}")
        except ValueError:
            logger.exception("query failed")
    err = capsys.readouterr().err
    if fmt == "json":
        lines = [json.loads(line) for line in err.splitlines()]  # still valid JSON
        kept = [line["request_id"] for line in lines if "request_id" in line]
        assert kept == [request_id for *_, request_id in drawn]
    assert err.count("handled") == len(drawn) and err.count("commit failed") == len(drawn)
    for fragments in samples:
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
        "Temporal Server unreachable; Kafka Broker ok; Billing Sandbox 503",
        "Max retries exceeded; Will retry; Per request; Jan 5; May 2026",
        "Processen Adressen Versionen Domänen Licensen Stiftelsen Behov",
    ],
)
def test_operational_text_stays_readable(harmless: str) -> None:
    assert scrub(harmless) == harmless


@pytest.mark.fuzz
def test_long_run_prints_examples_per_second() -> None:
    """`make fuzz`: ten times the slice's free-text and field examples, with a rate."""
    counted = {"n": 0}

    @_fuzz(2500)
    @given(drawn=free_text())
    def free(drawn: tuple[str, list[list[str]]]) -> None:
        counted["n"] += 1
        cleaned = scrub(drawn[0])
        for each in drawn[1]:
            assert not _survivors(cleaned, each), (drawn[0], cleaned)

    @_fuzz(2500)
    @given(request_id=request_ids, run_id=st.uuids())
    def ids(request_id: str, run_id: uuid.UUID) -> None:
        counted["n"] += 1
        event = {
            "request_id": request_id,
            "workflow_id": f"dsr-{request_id}",
            "run_id": str(run_id),
        }
        assert redact_personal_data(None, "info", dict(event)) == event

    for part in (free, ids):
        counted["n"] = 0
        started = time.perf_counter()
        part()
        elapsed = time.perf_counter() - started
        print(
            f"\nredaction fuzz ({part.__name__}): {counted['n']} examples in {elapsed:.1f} s, "
            f"{counted['n'] / elapsed:.0f} examples/s"
        )
