"""The intake's Kafka transport: faust's aiokafka transport with the fetch wait as a setting,
reading committed records only (`orchestrator.kafka_config.REQUESTS_ISOLATION_LEVEL`), and
tolerating header names that are not UTF-8 (`_header_names`).

Why the fetch wait: faust hard-codes `fetch_max_wait_ms=1500` for its worker consumer. A broker
may hold a fetch for that whole wait even when a record has arrived (tansu, the local stack's
broker, does: produce-to-consume p50 482 ms at 1500 ms against 24 ms at 100 ms), which puts up to
1.5 s of idle waiting in front of every request's legal clock. `DSR_KAFKA_FETCH_MAX_WAIT` bounds
it; Kafka itself answers a fetch as soon as data is there, so a short wait costs only more empty
polls on an idle topic.

Why the header names: one record whose header name is not UTF-8 crashed faust's fetcher at
every fetch of its partition ("Fetcher Crashed", the intake restart-looping); faust's consumer
is started under `lenient_header_names()`, so that record reaches the handler and is
dead-lettered (see `_header_names`).

faust (0.15.3) and aiokafka (0.14.0) are pinned exactly in pyproject.toml: this reaches into
aiokafka's consumer before it starts (`_fetch_max_wait_ms`, read by its fetcher at start), and
`tests/intake/test_transport.py` fails if either stops honouring it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import aiokafka
import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from orchestrator.intake._header_names import LenientHeaderConsumer, lenient_header_names
from orchestrator.kafka_config import REQUESTS_ISOLATION_LEVEL

__all__ = ["IntakeApp", "LenientHeaderConsumer", "lenient_header_names"]


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    fetch_max_wait_ms: ClassVar[int] = 1500

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        consumer._isolation_level = REQUESTS_ISOLATION_LEVEL  # read by its fetcher at start
        wait_ms = getattr(self.app, "fetch_max_wait_ms", None)
        if wait_ms is not None:
            consumer._fetch_max_wait_ms = wait_ms
        return consumer

    async def on_start(self) -> None:
        """faust creates and starts its aiokafka consumer here (on the consumer's thread)."""
        with lenient_header_names():
            await super().on_start()


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class IntakeApp(faust.App):
    """A faust app whose consumer waits at most `fetch_max_wait_ms` for a fetch."""

    def __init__(self, *args: Any, fetch_max_wait_ms: int | None = None, **kwargs: Any) -> None:
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self._closers: list[Callable[[], Awaitable[None]]] = []
        super().__init__(*args, **kwargs)

    def close_at_shutdown(self, close: Callable[[], Awaitable[None]]) -> None:
        """Run `close` once the app has stopped its agents. faust stops an agent by cancelling
        its task, again while it unwinds, so a close awaited in the agent's own `finally` was
        cancelled half-way (SQLAlchemy logged "Exception closing connection … CancelledError"
        at every clean stop of the intake)."""
        self._closers.append(close)

    async def on_shutdown(self) -> None:
        """mode's last step of `stop`: after the children (agents) and their futures."""
        await super().on_shutdown()
        closers, self._closers = self._closers, []
        for close in closers:
            await close()

    def _new_transport(self) -> _Transport:
        return _Transport(self.conf.broker_consumer, self)
