"""The intake's consumer waits at most DSR_KAFKA_FETCH_MAX_WAIT for a fetch (faust alone would
hard-code 1.5 s): checked on the aiokafka consumer faust really builds, so an upgrade of faust
or aiokafka that stops honouring it fails here."""

from __future__ import annotations

import pytest

from orchestrator.intake.app import create_app
from orchestrator.settings import Settings


@pytest.mark.parametrize(("seconds", "expected_ms"), [(0.1, 100), (0.025, 25), (2.0, 2000)])
async def test_the_worker_consumer_waits_as_long_as_the_setting_says(
    seconds: float, expected_ms: int, tmp_path: object
) -> None:
    settings = Settings(
        kafka_bootstrap_servers="127.0.0.1:1",
        kafka_fetch_max_wait=seconds,
        intake_datadir=tmp_path,  # type: ignore[arg-type]  # a Path from pytest's tmp_path
    )
    app = create_app(settings)
    consumer_thread = app.consumer._thread  # built lazily, as faust does at start
    aiokafka_consumer = consumer_thread._create_worker_consumer(app.transport)
    try:
        assert aiokafka_consumer._fetch_max_wait_ms == expected_ms
    finally:
        await aiokafka_consumer.stop()


async def test_the_requests_topic_is_read_committed_by_the_intake_and_the_reconciler(
    tmp_path: object,
) -> None:
    """A transactional portal's aborted event is no request: neither the intake (faust reads
    uncommitted records unless it runs exactly-once, which tansu cannot) nor the reconciler
    (which would re-drive it) may see it. Checked on the consumers really built, so an upgrade
    of faust or aiokafka that stops honouring it fails here."""
    from orchestrator.reconcile import requests_reader

    settings = Settings(
        kafka_bootstrap_servers="127.0.0.1:1",
        intake_datadir=tmp_path,  # type: ignore[arg-type]  # a Path from pytest's tmp_path
    )
    app = create_app(settings)
    intake_consumer = app.consumer._thread._create_worker_consumer(app.transport)
    reconciler_consumer = requests_reader(settings)
    try:
        for consumer in (intake_consumer, reconciler_consumer):
            assert consumer._isolation_level == "read_committed"
    finally:
        await intake_consumer.stop()
        await reconciler_consumer.stop()
