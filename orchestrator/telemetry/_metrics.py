"""Every Prometheus metric this service exports, declared once.

Label values are closed vocabularies only: request kind, status, system (connector name),
operation, error type and dead-letter reason. Never a request id (one series per request would
grow without bound) and never anything from the subject. `label()` enforces the shape of the
free-ish ones (error types) so an odd exception class cannot smuggle text into a label.
"""

from __future__ import annotations

import contextlib
import re

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.registry import Collector

__all__ = [
    "COMPLETION_SECONDS",
    "CONNECTOR_ERRORS",
    "CONNECTOR_LATENCY",
    "CONNECTOR_RETRIES",
    "DEADLINE_SLACK_DAYS",
    "DEAD_LETTERS",
    "INTAKE_LAG",
    "OPEN_REQUESTS",
    "OVERDUE_REQUESTS",
    "STATUS_TRANSITIONS",
    "TEMPORAL_RUNTIME_UP",
    "expose",
    "label",
]

_DAY = 86_400.0
_LABEL_SHAPE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")


def expose(metric: Collector) -> None:
    """Register a metric that only some processes have (idempotent)."""
    with contextlib.suppress(ValueError):  # already registered
        REGISTRY.register(metric)


def label(value: str, fallback: str = "other") -> str:
    """A label value as given if it looks like an identifier of code, else `fallback`."""
    return value if _LABEL_SHAPE.match(value) else fallback


STATUS_TRANSITIONS = Counter(
    "dsr_request_status_transitions",
    "Status changes of requests, by kind and the status entered.",
    ["kind", "status"],
)
OPEN_REQUESTS = Gauge(
    "dsr_requests_open",
    "Requests not yet completed, denied or cancelled, by kind and status (from the store; "
    "every worker reports the same global figure: aggregate with max, not sum).",
    ["kind", "status"],
)
OVERDUE_REQUESTS = Gauge(
    "dsr_requests_overdue",
    "Open requests past their legal due date, by kind (from the store; aggregate with max).",
    ["kind"],
)
COMPLETION_SECONDS = Histogram(
    "dsr_request_completion_seconds",
    "Time from received_at to the final status (completed, denied, cancelled).",
    ["kind", "status"],
    buckets=(
        1,
        5,
        30,
        60,
        300,
        1800,
        3600,
        6 * 3600,
        _DAY,
        3 * _DAY,
        7 * _DAY,
        14 * _DAY,
        21 * _DAY,
        30 * _DAY,
        60 * _DAY,
        90 * _DAY,
    ),
)
DEADLINE_SLACK_DAYS = Histogram(
    "dsr_request_deadline_slack_days",
    "Days left until the due date when a request reached its final status (negative: late). "
    "No _sum: observations may be negative; read it by its buckets.",
    ["kind", "status"],
    # The legal month is 28 to 35 days (rolled over weekends and holidays); extended: ~3 months.
    buckets=(-30, -7, -1, 0, 1, 3, 7, 14, 21, 28, 31, 35, 62, 92),
)
CONNECTOR_LATENCY = Histogram(
    "dsr_connector_operation_seconds",
    "Duration of one connector operation attempt (one activity execution, failed or not), "
    "by system and operation.",
    ["system", "operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
CONNECTOR_ERRORS = Counter(
    "dsr_connector_operation_errors",
    "Failed connector operation attempts, by system, operation and error type.",
    ["system", "operation", "error_type"],
)
CONNECTOR_RETRIES = Counter(
    "dsr_connector_operation_retries",
    "Connector operation attempts after the first (Temporal retries), by system and operation.",
    ["system", "operation"],
)
DEAD_LETTERS = Counter(
    "dsr_dead_letters",
    "Records sent to the dead-letter topic, by reason.",
    ["reason"],
)
# Only the intake has a lag: registered there (`expose`), so no worker reports a 0 it never had.
INTAKE_LAG = Gauge(
    "dsr_intake_lag_records",
    "Records on the requests topic not yet committed by the intake group (all partitions). "
    "End offsets come from ListOffsets(latest), corrected upwards by offsets this process has "
    "seen; a broker that understates end offsets (the local tansu with batching producers) "
    "makes this a lower bound.",
    registry=None,
)
TEMPORAL_RUNTIME_UP = Gauge(
    "dsr_temporal_runtime_metrics_up",
    "1 if the Temporal SDK's own metrics could be read for this scrape, else 0.",
)
