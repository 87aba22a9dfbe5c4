"""OpenTelemetry tracing: one trace per request, from the intake record to every SQL statement
and HTTP call a connector makes.

- Temporal: `TracingInterceptor` on the client (and so on every worker built from it) carries
  the trace context through workflow and activity headers: intake record → StartWorkflow →
  RunWorkflow → StartActivity → RunActivity. Workflow spans are only made under a client span,
  so a request started without one (a replayed history, a CLI start) adds no orphans.
- httpx: the transport classes are instrumented, so every connector's client is traced.
- SQLAlchemy: every engine of the process is traced on its first connection, whenever and
  however it was created (connectors bind `create_async_engine` at import time, before any
  instrumentor could wrap it), using the instrumentation's own `EngineTracer`.
- Export: OTLP over HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set,
  configured by the standard OTEL_* variables; always through `SanitizingSpanExporter`.
  Without an endpoint spans are still made, non-recording (cheap), so their ids are logged and
  the log lines of one request correlate across processes. `OTEL_SDK_DISABLED=true` turns
  tracing off altogether.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.metrics import get_meter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    Sampler,
    SamplingResult,
)
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from temporalio.client import Client
from temporalio.client import Interceptor as ClientInterceptor
from temporalio.contrib.opentelemetry import TracingInterceptor

from orchestrator.telemetry._sanitize import SanitizingSpanExporter

__all__ = ["add_span_exporter", "install_tracing", "instrument_client", "tracer"]

_TRACER_NAME = "dsr-orchestrator"
_lock = threading.Lock()
_provider: TracerProvider | None = None
_traced_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def _otlp_configured() -> bool:
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def _disabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


class _RecordWhenExported(Sampler):
    """Record spans only while something exports them. Otherwise every span is still made,
    with real ids (log lines correlate, trace context still crosses into Temporal), but as a
    cheap non-recording span: no attributes kept, nothing sanitised, nothing queued."""

    def __init__(self) -> None:
        self.exporting = False
        # All or nothing, whatever the caller's flag said: tail-sample in the collector.
        self._delegate = ALWAYS_ON

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        if not self.exporting:
            return SamplingResult(Decision.DROP)
        return self._delegate.should_sample(*args, **kwargs)

    def get_description(self) -> str:
        return "RecordWhenExported"


_sampler = _RecordWhenExported()


def install_tracing(service_name: str) -> TracerProvider | None:
    """Set up tracing for this process once (later calls return the same provider)."""
    global _provider
    with _lock:
        if _provider is not None or _disabled():
            return _provider
        provider = TracerProvider(
            resource=Resource.create({"service.name": service_name}), sampler=_sampler
        )
        if _otlp_configured():
            # Imported here: the exporter pulls in protobuf and requests, needed only when used.
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(
                BatchSpanProcessor(SanitizingSpanExporter(OTLPSpanExporter()))
            )
            _sampler.exporting = True
        trace.set_tracer_provider(provider)
        _provider = provider
        HTTPXClientInstrumentor().instrument(tracer_provider=provider)
        _trace_every_engine(provider)
        return provider


def add_span_exporter(exporter: SpanExporter, *, sanitised: bool = True) -> None:
    """Send spans to one more exporter, synchronously (tests: in-memory). `sanitised=False`
    only to inspect what instrumentation recorded before the sanitiser."""
    if _provider is None:
        raise RuntimeError("install_tracing() first")
    target = SanitizingSpanExporter(exporter) if sanitised else exporter
    _provider.add_span_processor(SimpleSpanProcessor(target))
    _sampler.exporting = True


def _trace_every_engine(provider: TracerProvider) -> None:
    sql_tracer = provider.get_tracer("opentelemetry.instrumentation.sqlalchemy")
    usage = get_meter("opentelemetry.instrumentation.sqlalchemy").create_up_down_counter(
        "db.client.connections.usage", unit="connections"
    )

    def on_connect(connection: Connection) -> None:
        engine = connection.engine
        with _lock:
            if engine in _traced_engines:
                return
            _traced_engines.add(engine)
        # Statements are recorded as SQLAlchemy sends them: with placeholders, never the bound
        # values; no sqlcommenter (it would write trace context into the SQL itself).
        EngineTracer(sql_tracer, engine, usage, enable_commenter=False)  # type: ignore[no-untyped-call]  # the instrumentation ships no annotations

    event.listen(Engine, "engine_connect", on_connect)


def instrument_client(client: Client, extra: Sequence[ClientInterceptor] = ()) -> Client:
    """The same connection with the tracing interceptor (when tracing is on) and `extra` added.

    A client is what workers are built from, so this also traces workflows and activities."""
    config: Any = client.config()
    interceptors = list(config["interceptors"])
    if _provider is not None and not any(isinstance(i, TracingInterceptor) for i in interceptors):
        interceptors.append(TracingInterceptor(tracer()))
    interceptors.extend(extra)
    if len(interceptors) == len(config["interceptors"]):
        return client
    config["interceptors"] = interceptors
    return Client(**config)


def tracer() -> trace.Tracer:
    return trace.get_tracer(_TRACER_NAME)
