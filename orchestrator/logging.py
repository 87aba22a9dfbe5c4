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
        "phone",
        "personal_identity_number",
        "organisation_number",
        "subject",
        "address",
        "street",
        "ip_address",
        "value",  # identifier values and field changes
        "changes",
    }
)
_REDACTED = "[redacted]"
_PATTERNS = (
    (re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"), "[email]"),
    (re.compile(r"(?<!\d)(?:19|20)?\d{6}[-+]?\d{4}(?!\d)"), "[id-number]"),
    (re.compile(r"\+\d{7,15}(?!\d)"), "[phone]"),
)


def scrub(text: str) -> str:
    """Mask e-mail addresses, Swedish identity numbers and phone numbers in free text."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {
            k: (_REDACTED if str(k) in PERSONAL_FIELDS else _redact(v)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value


def redact_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the last line of defence before a log line leaves the process."""
    for key in list(event_dict):
        if key in PERSONAL_FIELDS:
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
