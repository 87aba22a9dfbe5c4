"""Retry an operation on retryable errors, with capped exponential backoff.

Why in the connector as well as in Temporal: a deadlock, a lock-wait timeout or a dropped pooled
connection usually clears in well under a second, and retrying here costs far less than failing
the activity. When the attempts are used up the last typed error (SystemUnavailable or
RateLimited) is raised, so Temporal retries the activity later with its own, longer backoff.
Permanent errors are never retried. A `RateLimited.retry_after` is honoured, within the cap.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from connectors.base import RateLimited, RetryableError

__all__ = ["RetryPolicy", "with_retries"]

log = logging.getLogger("connectors.hosting")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 10.0

    def delay(self, attempt: int, error: RetryableError) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        delay = self.base_delay * float(2 ** (attempt - 1))
        if isinstance(error, RateLimited) and error.retry_after is not None:
            delay = max(delay, error.retry_after)
        return max(0.0, min(delay, self.max_delay))


async def with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    operation: str,
    *,
    may_retry: Callable[[], bool] = lambda: True,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """`await call()`, again after a backoff while it raises a RetryableError and `may_retry()`
    (an export that has already written records must not write them twice). `sleep` waits out
    the backoff (tests pass one that records the delays instead)."""
    attempt = 1
    while True:
        try:
            return await call()
        except RetryableError as error:
            if attempt >= policy.attempts or not may_retry():
                raise
            delay = policy.delay(attempt, error)
            log.warning(
                "hosting %s: %s, attempt %d of %d, retrying in %.2f s",
                operation,
                type(error).__name__,
                attempt,
                policy.attempts,
                delay,
            )
            await sleep(delay)
            attempt += 1
