"""Structured JSON logs that never carry personal data.

Every log line (ours, and the stdlib logs of faust, aiokafka and temporalio, routed through the
same processors) passes `redact_personal_data`: known personal fields are replaced, and
e-mail addresses, personnummer/organisationsnummer, phone numbers, street addresses, postcodes
and personal names in any text are masked (`orchestrator.redaction`). Fields that carry a
validated id (`request_id`, `workflow_id`, `run_id`, ...) keep its digits readable.
Request ids are bound with `structlog.contextvars` so each line says which request it is about.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import stamina.instrumentation
import structlog
from opentelemetry import trace

from orchestrator.redaction import PERSONAL_FIELDS, REDACTED, id_kind, scrub, scrub_id

__all__ = [
    "PERSONAL_FIELDS",
    "add_trace_context",
    "configure_logging",
    "get_logger",
    "redact_personal_data",
    "scrub",
]

# Keys that end like this are personal too (`contact_email`, `billing_address`, ...).
_PERSONAL_SUFFIXES = ("_email", "_phone", "_address", "_pnr")
_REDACTED = REDACTED


# structlog's own bookkeeping of stdlib records: objects it still needs, never rendered.
_STRUCTLOG_META = frozenset({"_record", "_from_structlog"})


def _personal_key(key: object) -> bool:
    name = str(key).lower()
    return name in PERSONAL_FIELDS or name.endswith(_PERSONAL_SUFFIXES)


def _redact_field(key: object, value: Any) -> Any:
    if _personal_key(key):
        return _REDACTED
    kind = id_kind(str(key).lower())
    if kind is not None and isinstance(value, str):
        return scrub_id(kind, value)
    return _redact(value)


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {k: _redact_field(k, v) for k, v in value.items()}
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
        if key not in _STRUCTLOG_META:
            event_dict[key] = _redact_field(key, event_dict[key])
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
    # One way out for every record: a logger that a library configured earlier with a handler
    # of its own (uvicorn's default log config puts one on `uvicorn.error`, propagate off) would
    # write around the redaction. Its handlers go and it propagates to the root's.
    for existing in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(existing, logging.Logger):
            existing.handlers[:] = []
            existing.propagate = True
    # Chatty libraries stay at WARNING. aiosqlite's DEBUG lines quote statement parameters
    # (personal data): never below INFO, whatever the level asked for.
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, root.level))
    for noisy in ("aiokafka", "kafka", "faust", "mode", "temporalio.activity", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # stamina's default hooks log `caused_by=repr(error)` and the retried call's arguments
    # (a connector's subject lookups among them): its retries are logged by type only.
    stamina.instrumentation.set_on_retry_hooks(
        [stamina.instrumentation.PrometheusOnRetryHook, log_retry]
    )


def log_retry(details: stamina.instrumentation.RetryDetails) -> None:
    """stamina's on-retry hook: which call, which attempt, how long it waits, the error's type.

    Never the error's text nor the call's arguments: both can name the subject.
    """
    structlog.get_logger("stamina").warning(
        "retry_scheduled",
        callable=details.name,
        retry_num=details.retry_num,
        wait_for=round(details.wait_for, 3),
        waited_so_far=round(details.waited_so_far, 3),
        error_type=type(details.caused_by).__name__,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
