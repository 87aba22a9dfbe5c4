"""Structured JSON logs that never carry personal data.

Every log line (ours, and the stdlib logs of faust, aiokafka and temporalio, routed through the
same processors) passes `redact_personal_data`: known personal fields are replaced, and
e-mail addresses, personnummer/organisationsnummer and phone numbers in any text are masked.
Request ids are bound with `structlog.contextvars` so each line says which request it is about.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog
from opentelemetry import trace

__all__ = [
    "PERSONAL_FIELDS",
    "add_trace_context",
    "configure_logging",
    "get_logger",
    "redact_personal_data",
    "scrub",
]

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
# Keys that end like this are personal too (`contact_email`, `billing_address`, ...).
_PERSONAL_SUFFIXES = ("_email", "_phone", "_address", "_pnr")
_REDACTED = "[redacted]"

_EMAIL = r"[\w.%+\-']+(?:@|%40|\(at\))[\w\-]+(?:\.[\w\-]+)*\.[^\W\d_]{2,}"
# Personnummer / samordningsnummer / organisationsnummer: YYYYMMDD-NNNN, YYMMDD-NNNN, with
# `-`, `+` (100 years or older), a space or no separator at all; "16" prefixes an org number.
_ID_NUMBER = r"(?<![\w+])(?:1[6-9]|20)?\d{6}[-+ ]?\d{4}(?![\w])"
# International (+46 / 0046 ...) and national (07x, 08, 031 ...) phone numbers, with the usual
# separators: "+46 (0)70-123 45 67", "070-123 45 67", "08-123 456 78". Checked by digit count;
# not after a hyphen, so ids and dates ("req-2026-00012345", "2026-01-31") stay readable.
_PHONE_INTERNATIONAL = (
    r"(?<![\w+\-])(?:\+|00)\d{1,3}[\s.\-]?(?:\(0\)[\s.\-]?)?"
    r"\d{1,4}(?:[\s.\-/]?\d{1,4}){1,5}(?![\w])"
)
_PHONE_NATIONAL = r"(?<![\w+.\-])0\d{1,3}[\s\-/]?\d{2,4}(?:[\s\-]?\d{2,4}){0,3}(?![\w])"
# Swedish street addresses ("Storgatan 12B", "Sankt Eriksgatan 5 lgh 1102") and postcodes with
# their town ("111 22 Stockholm", "SE-411 05").
_STREET_WORDS = (
    "gatan|gata|vägen|väg|gränd|torget|torg|stigen|stig|backen|allén|allé|plan|leden|"
    "kajen|esplanaden|promenaden|slingan|hagen|liden|gården|parken|bron|strand|stråket|vägen"
)
_STREET = (
    rf"(?<![\w])(?:[A-ZÅÄÖÉ][\wåäöéü\-]*(?:{_STREET_WORDS})|{_STREET_WORDS.title()})\s+\d{{1,4}}"
    r"(?:\s?[A-Za-z](?![\w]))?(?:\s*,?\s*(?:lgh|lägenhet)\.?\s*\d{1,5})?"
)
_POSTCODE = (
    r"(?<![\w\-])(?:SE-?\s?)?\d{3}\s?\d{2}(?:\s+[A-ZÅÄÖ][\wåäö]+)(?![\w])|SE-?\s?\d{3}\s?\d{2}"
)
# `name='Anna Lindqvist'`, `"email": "..."`, `name=Anna Lindqvist,` — a personal field's value
# written into text (reprs, JSON, pydantic's `input_value=...`, query strings).
_LABELS = "|".join(sorted(PERSONAL_FIELDS - {"value", "changes", "subject"}, key=len, reverse=True))
_LABELLED = (
    rf"(?i)(?<![\w])((?:{_LABELS})[\"']?\s*[=:]\s*)"
    r"('[^'\n]*'|\"[^\"\n]*\"|[^,;&)}\]\n]*?(?=\s+\w+=|[,;&)}\]\n]|$))"
)


def _phone(match: re.Match[str]) -> str:
    digits = sum(c.isdigit() for c in match.group(0))
    return "[phone]" if 7 <= digits <= 15 else match.group(0)


def _national_phone(match: re.Match[str]) -> str:
    digits = sum(c.isdigit() for c in match.group(0))
    return "[phone]" if 8 <= digits <= 11 else match.group(0)


_PATTERNS: tuple[tuple[re.Pattern[str], Any], ...] = (
    (re.compile(_LABELLED), lambda m: m.group(1) + _REDACTED),
    (re.compile(_EMAIL), "[email]"),
    (re.compile(_STREET), "[address]"),
    (re.compile(_POSTCODE), "[postcode]"),
    (re.compile(_ID_NUMBER), "[id-number]"),
    (re.compile(_PHONE_INTERNATIONAL), _phone),
    (re.compile(_PHONE_NATIONAL), _national_phone),
)


def scrub(text: str) -> str:
    """Mask e-mail addresses, Swedish identity numbers, phone numbers, street addresses and
    labelled personal values (`name='...'`) in free text."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


# structlog's own bookkeeping of stdlib records: objects it still needs, never rendered.
_STRUCTLOG_META = frozenset({"_record", "_from_structlog"})


def _personal_key(key: object) -> bool:
    name = str(key).lower()
    return name in PERSONAL_FIELDS or name.endswith(_PERSONAL_SUFFIXES)


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {k: (_REDACTED if _personal_key(k) else _redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return scrub(bytes(value).decode("utf-8", "replace"))
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        # A personnummer or phone number passed as a number: masked like its text would be.
        return value if abs(value) < 10**7 or scrub(str(value)) == str(value) else _REDACTED
    # Anything else (an exception, a model, a path) is rendered by the JSON renderer via its
    # str(): scrub that text now, while we still can.
    return scrub(str(value))


def redact_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the last line of defence before a log line leaves the process."""
    for key in list(event_dict):
        if key in _STRUCTLOG_META:
            continue
        if _personal_key(key):
            event_dict[key] = _REDACTED
        else:
            event_dict[key] = _redact(event_dict[key])
    return event_dict


def add_trace_context(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the current span's trace and span ids (W3C hex), when there is one,
    so a request's log lines and its trace find each other. Runs as the line is written, in
    the caller's context (the handler formats synchronously)."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Route structlog and stdlib logging through one redacting pipeline to stderr."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_personal_data,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            *shared[:-2],
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.processors.format_exc_info,
                redact_personal_data,
                # After redaction: the ids are random hex that the number masks could mangle.
                add_trace_context,
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Chatty libraries stay at WARNING. aiosqlite's DEBUG lines quote statement parameters
    # (personal data): never below INFO, whatever the level asked for.
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, root.level))
    for noisy in ("aiokafka", "kafka", "faust", "mode", "temporalio.activity", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
