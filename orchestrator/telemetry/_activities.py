"""Per-connector operation metrics, measured where every connector call passes: the Temporal
activity boundary. No connector needs to know it is measured.

A connector activity is named `connector.<operation>` and runs on the task queue
`<prefix><system>`; both labels come from there. One observation per attempt: its duration,
its error type if it failed (the `ApplicationError.type` the activity layer sets from the typed
connector error, else the exception's class), and a retry count for every attempt after the
first.
"""

from __future__ import annotations

import time
from typing import Any

from temporalio import activity
from temporalio.client import Interceptor as ClientInterceptor
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
)
from temporalio.worker import (
    Interceptor as WorkerInterceptor,
)

from orchestrator.telemetry._metrics import (
    CONNECTOR_ERRORS,
    CONNECTOR_LATENCY,
    CONNECTOR_RETRIES,
    label,
)

__all__ = ["ConnectorMetricsInterceptor", "error_type"]

_ACTIVITY_PREFIX = "connector."


def error_type(error: BaseException) -> str:
    """The error's type as a label: the typed connector error's name where there is one."""
    if isinstance(error, ApplicationError) and error.type:
        return label(error.type)
    return label(type(error).__name__)


class _Inbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, task_queue_prefix: str) -> None:
        super().__init__(next)
        self._prefix = task_queue_prefix

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        if not info.activity_type.startswith(_ACTIVITY_PREFIX):
            return await self.next.execute_activity(input)
        system = label(info.task_queue.removeprefix(self._prefix))
        operation = label(info.activity_type.removeprefix(_ACTIVITY_PREFIX))
        if info.attempt > 1:
            CONNECTOR_RETRIES.labels(system, operation).inc()
        started = time.perf_counter()
        try:
            return await self.next.execute_activity(input)
        except BaseException as error:
            CONNECTOR_ERRORS.labels(system, operation, error_type(error)).inc()
            raise
        finally:
            CONNECTOR_LATENCY.labels(system, operation).observe(time.perf_counter() - started)


class ConnectorMetricsInterceptor(ClientInterceptor, WorkerInterceptor):
    """Add to the client's interceptors: every worker built from it measures connector calls.

    (A client interceptor too only so that it rides on the client like the tracing one; it
    changes nothing about client calls.)"""

    def __init__(self, task_queue_prefix: str) -> None:
        self._prefix = task_queue_prefix

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next, self._prefix)
