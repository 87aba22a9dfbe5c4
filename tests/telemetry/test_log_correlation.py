"""Log lines carry the trace and span ids of the span they were written in, untouched by the
redaction that runs before them, and none outside a span."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from orchestrator.logging import configure_logging, get_logger
from orchestrator.telemetry import install_tracing
from orchestrator.telemetry._tracing import tracer


@pytest.fixture
def log_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The production logging pipeline, writing into a buffer; logging restored after."""
    root = logging.getLogger()
    handlers, level, config = list(root.handlers), root.level, structlog.get_config()
    buffer = io.StringIO()
    monkeypatch.setattr("sys.stderr", buffer)
    configure_logging("INFO", "json")
    try:
        yield buffer
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**config)


def test_lines_inside_a_span_carry_its_ids_and_others_none(log_lines: io.StringIO) -> None:
    install_tracing("dsr-test")
    log = get_logger("tests.telemetry")
    stdlib = logging.getLogger("tests.telemetry.stdlib")
    with tracer().start_as_current_span("work") as span:
        log.info("inside", request_id="req-2026-000123")
        stdlib.warning("a library speaking")
        context = span.get_span_context()
    log.info("outside")

    inside, library, outside = (json.loads(line) for line in log_lines.getvalue().splitlines())
    trace_id, span_id = format(context.trace_id, "032x"), format(context.span_id, "016x")
    assert (inside["trace_id"], inside["span_id"]) == (trace_id, span_id)
    assert (library["trace_id"], library["span_id"]) == (trace_id, span_id)
    assert inside["request_id"] == "req-2026-000123"
    assert "trace_id" not in outside and "span_id" not in outside
