"""CPU cost of the telemetry a request carries: spans (made, sanitised, exported), metric
observations, and one scrape.

    .venv/bin/python bench/telemetry_overhead.py [--spans 250]

A five-system erasure makes about 250 spans (measured through a real OTLP collector on the local
stack: one trace, ~80 HTTP and ~115 SQL spans, the rest Temporal's) and a few dozen metric
observations. This times the per-item costs on this machine with the production pipeline —
batch processor, `SanitizingSpanExporter` — in front of an exporter that drops everything, so
the figure is ours and not the network's. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from prometheus_client import REGISTRY, generate_latest

from orchestrator.telemetry import SanitizingSpanExporter
from orchestrator.telemetry._metrics import CONNECTOR_LATENCY, STATUS_TRANSITIONS
from orchestrator.telemetry._tracing import _RecordWhenExported


class _Drop(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _cpu(work: object, rounds: int) -> float:
    start = time.process_time()
    for _ in range(rounds):
        work()  # type: ignore[operator]
    return (time.process_time() - start) / rounds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=250, help="spans per request")
    args = parser.parse_args()

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(SanitizingSpanExporter(_Drop())))
    tracer = provider.get_tracer("bench")

    def one_span() -> None:
        with tracer.start_as_current_span("GET") as span:
            span.set_attributes(
                {
                    "http.method": "GET",
                    "http.url": "http://127.0.0.1:8302/api/subscribers?query=x@example.se",
                    "http.status_code": 200,
                    "temporalWorkflowID": "dsr-req-2026-000123",
                }
            )

    rounds = 2_000  # below the batch queue's 2048: no span is dropped unmeasured
    # process_time counts every thread: the batch exporter's sanitising is in the figure.
    start = time.process_time()
    for _ in range(rounds):
        one_span()
    provider.force_flush()
    per_span = (time.process_time() - start) / rounds
    provider.shutdown()

    # Without an exporter (no OTEL_EXPORTER_OTLP_ENDPOINT) spans are made non-recording.
    idle = TracerProvider(sampler=_RecordWhenExported()).get_tracer("bench")

    def idle_span() -> None:
        with idle.start_as_current_span("GET") as span:
            span.set_attributes({"http.method": "GET", "http.status_code": 200})

    per_idle_span = _cpu(idle_span, rounds)

    per_observation = _cpu(
        lambda: (
            CONNECTOR_LATENCY.labels("billing", "locate").observe(0.05),
            STATUS_TRANSITIONS.labels("access", "completed").inc(),
        ),
        rounds,
    )
    scrape = _cpu(lambda: generate_latest(REGISTRY), 200)

    print(f"span (made, sanitised, exported)  {per_span * 1e6:8.1f} µs CPU")
    print(f"per request ({args.spans} spans)         {per_span * args.spans * 1e3:8.2f} ms CPU")
    print(f"span without an exporter           {per_idle_span * 1e6:8.1f} µs CPU")
    print(f"per request without an exporter    {per_idle_span * args.spans * 1e3:8.2f} ms CPU")
    print(f"metric observation (two)           {per_observation * 1e6:8.1f} µs CPU")
    print(f"scrape of this process's registry  {scrape * 1e3:8.2f} ms CPU")


if __name__ == "__main__":
    main()
