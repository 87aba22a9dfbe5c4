"""With OTEL_EXPORTER_OTLP_ENDPOINT set, a service process exports its spans over OTLP/HTTP —
sanitised: the bytes on the wire carry the request id and not the subject's e-mail."""

from __future__ import annotations

import asyncio
import gzip
import os
import sys

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

EMAIL = "anna.lindqvist@example.se"

# A service process in miniature: the production set-up, one span, then shut down (flushing).
PROCESS = f"""
from opentelemetry import trace
from orchestrator.telemetry import install_tracing
from orchestrator.telemetry._tracing import tracer

install_tracing("dsr-otlp-test")
with tracer().start_as_current_span("intake dsr.requests.v1") as span:
    span.set_attribute("dsr.request_id", "req-2026-000123")
    span.set_attribute("url.full", "http://127.0.0.1:8302/api/subscribers?query={EMAIL}")
trace.get_tracer_provider().shutdown()
"""


async def test_spans_leave_by_otlp_http_sanitised() -> None:
    received: list[bytes] = []

    async def collect(request: web.Request) -> web.Response:
        body = await request.read()
        received.append(gzip.decompress(body) if request.headers.get("Content-Encoding") else body)
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", collect)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            PROCESS,
            env={**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}"},
        )
        async with asyncio.timeout(60):
            assert await process.wait() == 0
    finally:
        await runner.cleanup()

    assert received, "nothing reached the collector"
    assert not any(EMAIL.encode() in body for body in received)
    spans = [
        span
        for body in received
        for resource in ExportTraceServiceRequest.FromString(body).resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    (span,) = spans
    attributes = {a.key: a.value.string_value for a in span.attributes}
    assert span.name == "intake dsr.requests.v1"
    assert attributes == {
        "dsr.request_id": "req-2026-000123",
        "url.full": "http://127.0.0.1:8302/api/subscribers",
    }
