"""Observability of the orchestrator's own processes: Prometheus metrics, health probes and
OpenTelemetry traces — none of which ever carries a request's personal data.

- Metrics (`_metrics` lists them all) and probes on one endpoint per process,
  `DSR_METRICS_BIND=host:port` (empty: off): `/metrics` (ours + the Temporal SDK's runtime
  metrics, merged), `/healthz` (liveness), `/readyz` (Temporal; the intake also Kafka).
- Traces: intake record → StartWorkflow → workflow → activities → connector HTTP and SQL calls,
  exported by OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; every span is sanitised
  before export (`_sanitize`). Log lines carry `trace_id`/`span_id` (orchestrator.logging).
- Labels: kind, status, system, operation, error type, dead-letter reason. Never request ids
  (cardinality) or anything about the subject; spans carry request ids and system names only.

A service wires it up with `ProcessTelemetry` (the worker) or `IntakeTelemetry` (the intake).
"""

from __future__ import annotations

from orchestrator.telemetry._activities import ConnectorMetricsInterceptor
from orchestrator.telemetry._intake import IntakeLag, count_dead_letter, traced_handle
from orchestrator.telemetry._process import IntakeTelemetry, ProcessTelemetry, TemporalUnavailable
from orchestrator.telemetry._requests import MeteredStatusPublisher, OpenRequestsGauge
from orchestrator.telemetry._sanitize import SanitizingSpanExporter, sanitize_span
from orchestrator.telemetry._server import TelemetryServer
from orchestrator.telemetry._tracing import add_span_exporter, install_tracing, instrument_client

__all__ = [
    "ConnectorMetricsInterceptor",
    "IntakeLag",
    "IntakeTelemetry",
    "MeteredStatusPublisher",
    "OpenRequestsGauge",
    "ProcessTelemetry",
    "SanitizingSpanExporter",
    "TelemetryServer",
    "TemporalUnavailable",
    "add_span_exporter",
    "count_dead_letter",
    "install_tracing",
    "instrument_client",
    "sanitize_span",
    "traced_handle",
]
