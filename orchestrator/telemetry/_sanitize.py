"""The last gate before a span leaves the process: nothing personal, whatever instrumented it.

Instrumentation libraries record what they see: httpx the full URL (our connectors search by
e-mail in query strings), SQLAlchemy the statement (parameterised, but a literal could slip in)
and the error text of a failed statement (PostgreSQL quotes the offending value), Temporal's
interceptor the exception message. So every span passes `sanitize_span` on its way to the
exporter:

- attributes are kept only under known keys (`_ALLOWED_PREFIXES`); anything else is dropped,
- URLs lose their query string, fragment and user-info,
- SQL text keeps its shape with every literal replaced by `?`,
- exception messages and stack traces are dropped (the exception type stays), and a span's
  status description is cut to the exception type it starts with,
- every remaining string is scrubbed of e-mail addresses, identity numbers and phone numbers.

Request ids and system names pass: they are what the spans are for.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, Status
from opentelemetry.util.types import Attributes, AttributeValue

from orchestrator.logging import scrub

__all__ = ["SanitizingSpanExporter", "sanitize_span", "sanitize_sql", "sanitize_url"]

# Attribute keys we keep: Temporal's ids, HTTP/URL/server semantics, database system and
# statement shape, messaging coordinates, exception type, and our own `dsr.*` attributes.
_ALLOWED_PREFIXES = (
    "temporal",
    "http.",
    "url.",
    "server.",
    "network.",
    "net.",
    "db.",
    "messaging.",
    "error.type",
    "exception.type",
    "dsr.",
    "user_agent.original",
)
_DROPPED = frozenset(
    {
        "url.query",
        "url.fragment",
        "exception.message",
        "exception.stacktrace",
        "db.user",  # a service account, but nothing a trace needs
        "http.request.body",
        "http.response.body",
    }
)
_URL_KEYS = frozenset({"url.full", "http.url", "url.original"})
_TARGET_KEYS = frozenset({"http.target", "url.path"})
_SQL_KEYS = frozenset({"db.statement", "db.query.text"})

_SQL_LITERALS = re.compile(
    r"""
      '(?:[^']|'')*'            # 'string' (with '' escapes)
    | \bX'[0-9A-Fa-f]*'         # X'hex'
    | (?<![\w$:.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b   # numbers not part of a name
    """,
    re.VERBOSE,
)
_EXCEPTION_TYPE = re.compile(r"^\s*([A-Za-z_][\w.]*)(?=:|\s*$)")


def sanitize_url(url: str) -> str:
    """scheme://host:port/path — no user-info, query string or fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "[url]"
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return scrub(urlunsplit((parts.scheme, netloc, parts.path, "", "")))


def sanitize_sql(statement: str) -> str:
    """The statement's shape with every literal value replaced by `?`."""
    return scrub(_SQL_LITERALS.sub("?", statement))


def _clean_value(key: str, value: AttributeValue) -> AttributeValue:
    if isinstance(value, str):
        if key in _URL_KEYS:
            return sanitize_url(value)
        if key in _TARGET_KEYS:
            return scrub(value.split("?", 1)[0].split("#", 1)[0])
        if key in _SQL_KEYS:
            return sanitize_sql(value)
        return scrub(value)
    if isinstance(value, Sequence) and not isinstance(value, bytes | str):
        return tuple(scrub(v) if isinstance(v, str) else v for v in value)
    return value


def clean_attributes(attributes: Attributes) -> dict[str, AttributeValue]:
    if not attributes:
        return {}
    return {
        key: _clean_value(key, value)
        for key, value in attributes.items()
        if key not in _DROPPED and key.startswith(_ALLOWED_PREFIXES)
    }


def _clean_status(status: Status) -> Status:
    if not status.description:
        return status
    match = _EXCEPTION_TYPE.match(status.description)
    return Status(status.status_code, match.group(1) if match else None)


def sanitize_span(span: ReadableSpan) -> ReadableSpan:
    """A copy of `span` that carries nothing personal (see the module docstring)."""
    return ReadableSpan(
        name=scrub(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=clean_attributes(span.attributes),
        events=[
            Event(event.name, clean_attributes(event.attributes), event.timestamp)
            for event in span.events
        ],
        links=[Link(link.context, clean_attributes(link.attributes)) for link in span.links],
        kind=span.kind,
        status=_clean_status(span.status),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class SanitizingSpanExporter(SpanExporter):
    """Wraps the real exporter (OTLP, or in-memory in tests): every span is sanitised first."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([sanitize_span(span) for span in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)
