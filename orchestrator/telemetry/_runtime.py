"""The Temporal SDK's own metrics (task latencies, pollers, slots, RPCs, sticky cache, …).

The SDK's core exports them through its own Prometheus endpoint, which needs a port of its
own. We bind it to a free port on loopback only, and our endpoint appends its text to every
scrape (see `_server`): a pod exposes one metrics port, and nothing else can reach the SDK's.
The metric names are the SDK's defaults (`temporal_…`, durations in milliseconds) so that
Temporal's published dashboards work unchanged.
"""

from __future__ import annotations

import socket
import threading

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

__all__ = ["install_temporal_runtime"]

_lock = threading.Lock()
_metrics_url: str | None = None


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def install_temporal_runtime() -> str:
    """Make the default Runtime export metrics on loopback; returns their URL. Call before
    the first Temporal client of the process connects (clients keep the runtime they had)."""
    global _metrics_url
    with _lock:
        if _metrics_url is None:
            bind = f"127.0.0.1:{_free_loopback_port()}"
            runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind)))
            Runtime.set_default(runtime, error_if_already_set=False)
            _metrics_url = f"http://{bind}/metrics"
        return _metrics_url
