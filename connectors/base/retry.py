"""One retry vocabulary for every connector: short retries inside a call with `stamina`, long
waits left to Temporal.

Why stamina inside the call, and not only Temporal's activity retry policy: one activity (an
export of a million log lines, an erasure over a hundred pages) makes many calls, and a single
503 or 429 on page 87 would otherwise throw away the 86 pages before it and start the whole
activity again (a new export file, every lookup repeated), which under a rate limit makes it
*more* likely to be limited again. A short in-call retry (a few attempts, sub-second to a few
seconds of exponential backoff with jitter) rides out a blip where it happened. What is not a
blip goes to Temporal at once, as a typed retryable error: retries running out, a total retry
time over `timeout`, or a Retry-After longer than `retry_after_cap` (the activity layer turns
its `retry_after` into the ApplicationError's `next_retry_delay`, so Temporal waits exactly as
long as the system asked, durably, without a worker sleeping on it). So there is one loop per
layer, both library-made: stamina (tenacity underneath) for seconds, Temporal for minutes and
hours. No connector writes a retry loop of its own.

Why not stamina for database connectors (billing, hosting): a failure there is inside a
transaction that must be redone whole, which is exactly what an activity retry does; they
raise `SystemUnavailable` and leave it to Temporal.

The settings are the same for every HTTP connector, named after stamina's parameters, under
the connector's prefix (`DSR_<NAME>_RETRY_ATTEMPTS`, `_RETRY_TIMEOUT`, `_RETRY_WAIT_INITIAL`,
`_RETRY_WAIT_MAX`, `_RETRY_WAIT_JITTER`, `_RETRY_AFTER_CAP`): `RetrySettings`, which
`connectors.base.http.HttpSettings` extends with the timeouts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import stamina
from pydantic import Field
from pydantic_settings import BaseSettings

from connectors.base._errors import ConfigurationError, ConnectorError

__all__ = ["RetryPolicy", "RetrySettings", "retrying"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How patient one call is, in stamina's terms, before its error goes to Temporal.

    `attempts` counts the first one (1: no in-call retry). `timeout` bounds the whole retrying
    of one call (seconds). Backoff is exponential from `wait_initial`, at most `wait_max`, plus
    up to `wait_jitter` at random so workers retrying after one outage do not hit the system
    together. A Retry-After (`RetryableError.retry_after`) is waited out instead, unless it is
    longer than `retry_after_cap`: then the error goes up at once.
    """

    attempts: int = 4
    timeout: float = 30.0
    wait_initial: float = 0.2
    wait_max: float = 5.0
    wait_jitter: float = 0.5
    retry_after_cap: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigurationError("retry attempts must be at least 1")

    def backoff(self, error: Exception) -> bool | float:
        """stamina's backoff hook: False to give up now, True for the exponential backoff, or
        the seconds a Retry-After asked for."""
        if not isinstance(error, ConnectorError) or not error.retryable:
            return False
        retry_after = getattr(error, "retry_after", None)
        if retry_after is None:
            return True
        return float(retry_after) if retry_after <= self.retry_after_cap else False


class RetrySettings(BaseSettings):
    """The retry settings every HTTP connector's settings class inherits (see the module doc);
    defaults suit production, tests pass shorter ones."""

    # Attempts per call for retryable failures (outage, 5xx, 429), the first one included.
    retry_attempts: int = Field(default=4, ge=1, le=20)
    # Seconds all attempts of one call may take together, waits included.
    retry_timeout: float = Field(default=30.0, gt=0, le=600)
    # Exponential backoff: the first wait, the longest, and the random jitter added (seconds).
    retry_wait_initial: float = Field(default=0.2, ge=0, le=60)
    retry_wait_max: float = Field(default=5.0, ge=0, le=300)
    retry_wait_jitter: float = Field(default=0.5, ge=0, le=60)
    # A Retry-After longer than this is not waited out in the call: Temporal retries later.
    retry_after_cap: float = Field(default=30.0, ge=0, le=3600)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=self.retry_attempts,
            timeout=self.retry_timeout,
            wait_initial=self.retry_wait_initial,
            wait_max=self.retry_wait_max,
            wait_jitter=self.retry_wait_jitter,
            retry_after_cap=self.retry_after_cap,
        )


async def retrying(
    policy: RetryPolicy,
    call: Callable[[], Awaitable[T]],
    *,
    where: str,
    log: logging.Logger,
) -> T:
    """`call()`, retried by stamina as `policy` says; the last typed error goes up unchanged.

    The first attempt is a plain call: nearly every call succeeds at once, and entering
    stamina's loop costs tenacity's per-attempt bookkeeping (it inspects its callbacks with
    `inspect.iscoroutinefunction` on every iteration: 5.5 % of the worker's CPU in the e2e
    profile, for calls that never retried). Only a failure enters the loop, which replays it as
    its first attempt, so stamina still decides everything after it exactly as it would have —
    the backoff or Retry-After before attempt 2, the attempts left, and the time left of
    `policy.timeout`.

    Each failed attempt is logged with the typed error's message (which names the system, the
    operation and the HTTP status or exception class, never a URL or personal data)."""
    started = time.monotonic()
    try:
        return await call()
    except ConnectorError as failure:
        _log_failure(log, where, failure, 1, policy.attempts)
        first = failure
    if policy.attempts == 1 or policy.backoff(first) is False:
        raise first
    remaining = policy.timeout - (time.monotonic() - started)
    if remaining <= 0:
        raise first
    async for attempt in stamina.retry_context(
        on=policy.backoff,
        attempts=policy.attempts,
        timeout=remaining,
        wait_initial=policy.wait_initial,
        wait_max=policy.wait_max,
        wait_jitter=policy.wait_jitter,
    ):
        with attempt:
            if attempt.num == 1:
                raise first  # the failed plain call above, replayed so stamina backs off from it
            try:
                return await call()
            except ConnectorError as failure:
                _log_failure(log, where, failure, attempt.num, policy.attempts)
                raise
    raise AssertionError("unreachable: stamina re-raises the last error")  # pragma: no cover


def _log_failure(
    log: logging.Logger, where: str, failure: ConnectorError, num: int, attempts: int
) -> None:
    log.warning(
        "%s: %s (%s), attempt %d of %d", where, failure, type(failure).__name__, num, attempts
    )
