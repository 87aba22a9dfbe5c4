"""Spans carry nothing personal: the sanitiser on synthetic worst cases, and SQLAlchemy's
instrumentation on a real database, where statements must be recorded with placeholders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode
from sqlalchemy.ext.asyncio import create_async_engine

from orchestrator.telemetry import SanitizingSpanExporter, add_span_exporter, install_tracing
from orchestrator.telemetry._sanitize import sanitize_sql, sanitize_url

EMAIL = "anna.lindqvist@example.se"
PNR = "198112189876"
PHONE = "+46701234567"


@pytest.fixture
def sanitised() -> tuple[TracerProvider, InMemorySpanExporter]:
    """A private provider whose spans pass the production sanitiser into memory."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(SanitizingSpanExporter(memory)))
    return provider, memory


def test_urls_lose_query_strings_user_info_and_fragments() -> None:
    url = f"https://svc:secret@news.example:8302/api/subscribers?query=email%3D'{EMAIL}'#x"
    assert sanitize_url(url) == "https://news.example:8302/api/subscribers"


def test_sql_keeps_its_shape_and_loses_every_literal() -> None:
    # A string to sanitise, never executed.
    statement = (
        f"SELECT id FROM customers WHERE email = '{EMAIL}' AND pnr = {PNR} "  # noqa: S608
        "AND phone = 'it''s' AND t2.x = ? AND y = $1 AND z = %(email_1)s "
        f'AND "people"."name" = "{EMAIL}" OR w = {EMAIL} LIMIT 10'
    )
    assert sanitize_sql(statement) == (
        "SELECT id FROM customers WHERE email = ? AND pnr = ? "
        "AND phone = ? AND t2.x = ? AND y = $1 AND z = %(email_1)s "
        'AND "people"."name" = "?" OR w = ? LIMIT ?'
    )


def test_a_span_keeps_ids_and_systems_and_drops_everything_personal(
    sanitised: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, memory = sanitised
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span(f"lookup {EMAIL}") as span:
        span.set_attributes(
            {
                "temporalWorkflowID": "dsr-req-2026-000123",
                "dsr.system": "newsletter",
                "url.full": f"http://127.0.0.1:8302/api/subscribers?query={EMAIL}",
                "http.target": f"/api/subscribers?phone={PHONE}",
                "db.statement": f"UPDATE t SET phone = '{PHONE}' WHERE pnr = '{PNR}'",  # noqa: S608
                "subject.email": EMAIL,  # an attribute nobody allowed
                "http.request.header.authorization": ("Bearer secret",),
                "dsr.note": f"for {EMAIL}",  # an allowed key with a personal value
            }
        )
        span.record_exception(ValueError(f"no customer with e-mail {EMAIL}"))
        span.set_status(Status(StatusCode.ERROR, f"ValueError: no customer {EMAIL}"))

    (exported,) = memory.get_finished_spans()
    everything = repr(
        (exported.name, exported.attributes, [e.attributes for e in exported.events])
    ) + str(exported.status.description)
    for value in (EMAIL, PNR, PHONE, PHONE.lstrip("+")):
        assert value not in everything
    attributes = dict(exported.attributes or {})
    assert attributes["temporalWorkflowID"] == "dsr-req-2026-000123"
    assert attributes["dsr.system"] == "newsletter"
    assert attributes["url.full"] == "http://127.0.0.1:8302/api/subscribers"
    assert attributes["http.target"] == "/api/subscribers"
    assert attributes["db.statement"] == "UPDATE t SET phone = ? WHERE pnr = ?"
    assert "subject.email" not in attributes
    assert "http.request.header.authorization" not in attributes
    assert exported.status.description == "ValueError"
    (event,) = exported.events
    assert dict(event.attributes or {}) == {"exception.type": "ValueError"}


@pytest.fixture
def raw_process_spans() -> Iterator[InMemorySpanExporter]:
    """The process's own tracing, with an unsanitised exporter: what instrumentation records."""
    assert install_tracing("dsr-test") is not None
    raw = InMemorySpanExporter()
    add_span_exporter(raw, sanitised=False)
    yield raw
    raw.shutdown()


async def test_sql_statements_are_recorded_with_placeholders_never_values(
    raw_process_spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    """Engines are traced however they were created (here: the already-imported
    create_async_engine), and a bound e-mail never reaches a span, not even unsanitised."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'people.db'}")
    table = sa.Table("people", sa.MetaData(), sa.Column("email", sa.Text))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.create_all)
            await conn.execute(table.insert().values(email=EMAIL))
            await conn.execute(sa.select(table).where(table.c.email == EMAIL))
    finally:
        await engine.dispose()

    statements = [
        str((s.attributes or {}).get("db.statement", ""))
        for s in raw_process_spans.get_finished_spans()
        if (s.attributes or {}).get("db.system") == "sqlite"
    ]
    assert any(s.startswith("INSERT INTO people") for s in statements), statements
    assert any(s.startswith("SELECT people.email") and "?" in s for s in statements), statements
    assert not any(EMAIL in s for s in statements)
