"""The faust-streaming intake agent: thin — records in, `IntakeHandler` decides, offsets follow.

Run with `dsr intake`. Faust acknowledges a record once the agent asks for the next one, and
commits only acknowledged offsets; since `handle` returns only after Temporal or the DLQ has
acknowledged, a crash at any point re-delivers the record, and the workflow id makes the
re-delivery a no-op.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, cast

import faust
from mode.utils.futures import maybe_cancel
from temporalio.client import Client

from orchestrator.dlq import OutgoingDeadLetter, declare_dlq_topic
from orchestrator.intake._handler import IncomingRecord, IntakeHandler
from orchestrator.intake._topics import METADATA_MAX_AGE_MS, declare_requests_topic
from orchestrator.intake._transport import IntakeApp
from orchestrator.kafka_config import faust_credentials
from orchestrator.logging import get_logger
from orchestrator.settings import Settings
from orchestrator.shutdown import exit_after
from orchestrator.telemetry import IntakeTelemetry
from orchestrator.temporal_client import connect_temporal_retrying, temporal_connection_options

__all__ = ["AgentCrashes", "IntakeFailed", "create_app", "run_intake"]

log = get_logger(__name__)


def _header_list(headers: Any) -> list[tuple[str, bytes]]:
    if not headers:
        return []
    items = headers.items() if isinstance(headers, dict) else headers
    return [(str(k), v if isinstance(v, bytes) else str(v or "").encode()) for k, v in items]


def _arrival(timestamp: float | None) -> datetime | None:
    """The record's Kafka timestamp (seconds) as an aware time, if the broker gave one."""
    return datetime.fromtimestamp(timestamp, UTC) if timestamp and timestamp > 0 else None


class IntakeFailed(Exception):
    """The intake cannot consume (its agent crashes again and again): the process stops, drained,
    and exits non-zero with this one line — it used to stay up consuming nothing."""


class AgentCrashes:
    """The agent's crashes over the last `window` seconds. faust restarts a crashed agent at
    once, so a crash that is not transient (a Temporal target the SDK refuses, a handler that
    cannot be built) became a restart loop in a process that looked alive. The `limit`-th crash
    within the window calls `on_recurring`, which stops the worker with a failure. A Temporal
    outage is no crash: the agent waits it out (`connect_temporal_retrying`), the record in hand
    un-acked."""

    def __init__(self, limit: int = 2, window: float = 300.0) -> None:
        self.limit = limit
        self.window = window
        self.on_recurring: Callable[[str], None] | None = None
        self._times: deque[float] = deque()

    def crashed(self, error: BaseException, now: float | None = None) -> bool:
        """Count a crash; True (and `on_recurring` called) when it is the limit-th in the
        window."""
        now = time.monotonic() if now is None else now
        self._times.append(now)
        while self._times and self._times[0] < now - self.window:
            self._times.popleft()
        log.error("intake agent crashed", error_type=type(error).__name__)
        if len(self._times) < self.limit:
            return False
        message = (
            f"the intake agent crashed {len(self._times)} times within {self.window:.0f}s "
            f"(last: {type(error).__name__}); stopping"
        )
        if self.on_recurring is not None:
            self.on_recurring(message)
        return True


def create_app(settings: Settings, crashes: AgentCrashes | None = None) -> faust.App:
    app = IntakeApp(
        settings.intake_group,
        fetch_max_wait_ms=round(settings.kafka_fetch_max_wait * 1000),
        broker=[f"kafka://{server}" for server in settings.kafka_bootstrap_servers.split(",")],
        autodiscover=False,
        web_enabled=False,
        datadir=str(settings.intake_datadir),
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        topic_partitions=settings.requests_partitions,
        broker_session_timeout=settings.kafka_session_timeout,
        broker_heartbeat_interval=settings.kafka_heartbeat_interval,
        broker_rebalance_timeout=settings.kafka_rebalance_timeout,
        broker_commit_interval=1.0,
        # Notice a requests topic (or partitions) created after the first join (_topics.py).
        consumer_metadata_max_age_ms=METADATA_MAX_AGE_MS,
        broker_credentials=faust_credentials(settings),  # TLS/SASL from DSR_KAFKA_* settings
    )
    # Tracing, the metrics endpoint and probes, DLQ counts and lag; started and stopped with app.
    telemetry = IntakeTelemetry(settings)
    app.service(telemetry.as_service())
    requests = app.topic(settings.requests_topic, value_serializer="raw", key_serializer="raw")
    # Dead letters expire: the topic is created with the policy's retention (see orchestrator.dlq).
    dead_letters = app.topic(
        settings.dlq_topic,
        value_serializer="raw",
        key_serializer="raw",
        retention=timedelta(days=settings.dlq_retention_days),
    )

    async def send_dead_letter(letter: OutgoingDeadLetter) -> None:
        # faust wraps aiokafka's errors in ProducerSendError: the handler classifies a failed
        # send by its cause (`_handler._send_failure`), for this producer and the reconciler's.
        pending = await dead_letters.send(
            key=letter.key, value=letter.value, headers=letter.headers
        )
        await pending  # wait for the broker's acknowledgement before the record is acked
        telemetry.dead_lettered(letter.headers)

    @app.agent(requests, name="dsr-intake")
    async def intake(stream: faust.StreamT[bytes]) -> None:
        try:
            await consume(stream)
        except Exception as error:  # faust restarts the agent; a recurring crash stops us
            if crashes is not None:
                crashes.crashed(error)
            raise

    async def consume(stream: faust.StreamT[bytes]) -> None:
        # Temporal not up yet (`dsr up` starts it alongside): wait with backoff, not crash-loop.
        # The intake starts requests: it makes each one's data key (their input is sealed).
        client = telemetry.instrument_client(
            await connect_temporal_retrying(settings, creates_keys=True)
        )
        handler = IntakeHandler(settings, client, send_dead_letter)
        try:
            async for event in stream.events():
                message = event.message
                await telemetry.handle(  # handler.handle, inside the record's span
                    handler,
                    IncomingRecord(
                        topic=message.topic,
                        partition=message.partition,
                        offset=message.offset,
                        key=message.key,
                        value=message.value,
                        headers=_header_list(message.headers),
                        timestamp=_arrival(message.timestamp),
                    ),
                )
        finally:  # not awaited here: faust cancels this task while it unwinds
            app.close_at_shutdown(handler.aclose)

    # Create the DLQ topic up front so operators can subscribe before the first bad event.
    @app.task  # type: ignore[untyped-decorator]  # faust ships no type hints for decorators
    async def declare_topics() -> None:
        await dead_letters.maybe_declare()

    return app


class _BoundedWorker(faust.Worker):
    """faust's worker drains on SIGTERM/SIGINT itself (stops the agent after the record in hand,
    commits acknowledged offsets, leaves the group); this bounds that drain in time, because a
    vanished broker can make faust's shutdown wait forever. Records not yet acknowledged are
    re-delivered to the next consumer, so a forced exit loses nothing."""

    shutdown_timeout: float = 20.0
    failure: str | None = None

    def _schedule_shutdown(self, sig: signal.Signals) -> None:
        exit_after(self.shutdown_timeout)
        super()._schedule_shutdown(sig)

    def fail(self, message: str) -> None:
        """Stop as a stop signal would (drained, bounded), then exit non-zero with `message`."""
        if self.failure is not None or self._signal_stop_time:
            return  # already stopping
        self.failure = message
        exit_after(self.shutdown_timeout, status=1)
        self._signal_stop_time = self.loop.time()
        self._signal_stop_future = asyncio.ensure_future(self._stop_failed(), loop=self.loop)

    async def _stop_failed(self) -> None:
        await self.stop()
        maybe_cancel(self._starting_fut)

    def execute_from_commandline(self) -> NoReturn:
        try:
            super().execute_from_commandline()
        except SystemExit:
            if self.failure is not None:
                raise IntakeFailed(self.failure) from None
            raise


async def _build_handler_once(settings: Settings) -> None:
    """Build (and close) the handler as the agent will, before faust runs: what it derives from
    the settings fails here, in one line, not in an agent faust restarts again and again. It
    opens nothing (its store is opened at first use) and never calls the client."""

    async def no_dead_letters(_letter: OutgoingDeadLetter) -> None:  # pragma: no cover
        raise AssertionError("the handler built at start sends nothing")

    handler = IntakeHandler(settings, cast(Client, None), no_dead_letters)
    await handler.aclose()


def run_intake(settings: Settings) -> None:
    """Run the agent in the foreground until SIGINT/SIGTERM (drained, bounded in time)."""
    crashes = AgentCrashes()
    app = create_app(settings, crashes)  # refuses bad settings first, before any connection
    temporal_connection_options(settings)  # TLS/API-key settings that cannot work, by name
    asyncio.run(_build_handler_once(settings))
    try:  # before faust runs: its metadata requests could auto-create it without retention
        asyncio.run(declare_dlq_topic(settings))
    except Exception as error:  # broker not up yet: faust declares it when it connects
        log.warning("DLQ topic not declared up front", error_type=type(error).__name__)
    try:  # before the first group join, which assigns only topics that exist (_topics.py)
        asyncio.run(declare_requests_topic(settings))
    except Exception as error:  # broker not up yet: the metadata refresh catches up later
        log.warning("requests topic not declared up front", error_type=type(error).__name__)
    worker = _BoundedWorker(app, loglevel=settings.log_level, override_logging=False, quiet=True)
    worker.shutdown_timeout = settings.shutdown_timeout
    crashes.on_recurring = worker.fail
    log.info("intake starting", topic=settings.requests_topic)
    worker.execute_from_commandline()
