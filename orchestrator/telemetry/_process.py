"""What one service process wires up, in one object: tracing, the Temporal runtime's metrics,
the telemetry endpoint with its readiness checks, and the interceptors on its Temporal client.

    telemetry = ProcessTelemetry("dsr-worker", settings)      # before connecting to Temporal
    client = telemetry.instrument_client(await connect_temporal(settings), connectors=True)
    async with telemetry:                                     # endpoint up … and down
        ...

Without `DSR_METRICS_BIND` there is no endpoint (and no SDK metrics); tracing is independent
of it (see `_tracing`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from types import TracebackType
from typing import Any

from temporalio.client import Client
from temporalio.client import Interceptor as ClientInterceptor

from orchestrator.intake._handler import IncomingRecord, IntakeHandler, IntakeOutcome
from orchestrator.kafka_config import aiokafka_options
from orchestrator.settings import Settings
from orchestrator.telemetry._activities import ConnectorMetricsInterceptor
from orchestrator.telemetry._intake import IntakeLag, count_dead_letter, traced_handle
from orchestrator.telemetry._requests import OpenRequestsGauge
from orchestrator.telemetry._runtime import install_temporal_runtime
from orchestrator.telemetry._server import CHECK_TIMEOUT, Check, TelemetryServer
from orchestrator.telemetry._tracing import install_tracing, instrument_client
from orchestrator.temporal_client import connect_temporal

__all__ = ["IntakeTelemetry", "ProcessTelemetry", "TemporalUnavailable"]


class TemporalUnavailable(Exception):
    """Temporal's frontend answered the health check with 'not serving'."""


class ProcessTelemetry:
    def __init__(self, service: str, settings: Settings) -> None:
        self._settings = settings
        install_tracing(service)
        self.server: TelemetryServer | None = None
        if settings.metrics_bind:
            self.server = TelemetryServer(
                settings.metrics_bind, temporal_metrics_url=install_temporal_runtime()
            )
            self.server.add_check("temporal", self._check_temporal)
        self._client: Client | None = None
        self._own_client: Client | None = None

    def instrument_client(self, client: Client, *, connectors: bool = False) -> Client:
        """The client with tracing (and, for connector workers, operation metrics) added; it
        also serves the Temporal readiness check."""
        extra: Sequence[ClientInterceptor] = (
            [ConnectorMetricsInterceptor(self._settings.connector_task_queue_prefix)]
            if connectors
            else []
        )
        self._client = instrument_client(client, extra)
        return self._client

    def add_check(self, name: str, check: Check) -> None:
        if self.server is not None:
            self.server.add_check(name, check)

    def add_refresher(self, refresh: Callable[[], Awaitable[None]]) -> None:
        if self.server is not None:
            self.server.add_refresher(refresh)

    def watch_store(self, store: Any) -> None:
        """Open and overdue requests come from this store (orchestrator workers only)."""
        self.add_refresher(OpenRequestsGauge(store.engine).refresh)

    async def _check_temporal(self) -> None:
        client = self._client or self._own_client
        if client is None:
            client = self._own_client = await connect_temporal(self._settings)
        if not await client.service_client.check_health(timeout=timedelta(seconds=CHECK_TIMEOUT)):
            raise TemporalUnavailable

    async def start(self) -> None:
        if self.server is not None:
            await self.server.start()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()

    async def __aenter__(self) -> ProcessTelemetry:
        await self.start()
        return self

    async def __aexit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        await self.stop()


class IntakeTelemetry(ProcessTelemetry):
    """The intake's: plus a span per record, the dead-letter counter, the group's lag and a
    Kafka readiness check. `as_service()` runs the endpoint inside the faust app."""

    def __init__(self, settings: Settings) -> None:
        super().__init__("dsr-intake", settings)
        self.lag: IntakeLag | None = None
        if self.server is not None:
            self.lag = IntakeLag(
                aiokafka_options(settings), settings.requests_topic, settings.intake_group
            )
            self.add_check("kafka", self.lag.check)
            self.add_refresher(self.lag.refresh)

    async def handle(self, handler: IntakeHandler, record: IncomingRecord) -> IntakeOutcome:
        return await traced_handle(handler, record, self.lag)

    @staticmethod
    def dead_lettered(headers: Sequence[tuple[str, bytes]]) -> None:
        count_dead_letter(headers)

    async def stop(self) -> None:
        await super().stop()
        if self.lag is not None:
            await self.lag.close()

    def as_service(self) -> Any:
        """A mode.Service (faust's lifecycle) that starts and stops this with the app."""
        import mode  # faust's service framework: only the intake needs it

        telemetry = self

        class TelemetryService(mode.Service):
            async def on_start(self) -> None:
                await telemetry.start()

            async def on_stop(self) -> None:
                await telemetry.stop()

        return TelemetryService()
