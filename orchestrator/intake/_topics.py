"""The requests topic exists before the intake's consumer first joins its group.

Why: a consumer group assigns only the partitions of topics that exist when it (re)balances.
Started before its topic existed (a fresh deployment or local stack where the first producer
auto-creates the topic), the intake was assigned nothing and consumed nothing until a metadata
refresh made it rejoin — up to the consumer's metadata max age (the fault suite's broker
restart found the intake idle that way for the test's whole five minutes). So the intake
creates the topic up front, with the configured partitions, where the cluster lets it (an
existing topic is left as it is), and refreshes metadata often enough to notice a topic or
partitions added later (`METADATA_MAX_AGE_MS`, used by `create_app`).
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from orchestrator.kafka_config import aiokafka_options
from orchestrator.logging import get_logger
from orchestrator.settings import Settings

__all__ = ["METADATA_MAX_AGE_MS", "declare_requests_topic"]

log = get_logger(__name__)

# How stale the consumer's view of the cluster may get: a topic or partition added after the
# intake joined is assigned within this (Kafka's default is five minutes). One metadata request
# per interval is negligible.
METADATA_MAX_AGE_MS = 10_000


async def declare_requests_topic(settings: Settings) -> None:
    """Create `settings.requests_topic` with `settings.requests_partitions` if it is missing."""
    admin = AIOKafkaAdminClient(**aiokafka_options(settings))
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(settings.requests_topic, settings.requests_partitions, 1)]
        )
        errors = [error for _, error, *_ in getattr(response, "topic_errors", ())]
        if any(errors) and TopicAlreadyExistsError.errno not in errors:
            log.warning("could not create the requests topic", error_codes=errors)
    except TopicAlreadyExistsError:
        pass
    finally:
        await admin.close()
