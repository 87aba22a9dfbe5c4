"""Zendesk-style rate limiting: a token bucket in front of the API, 429 with `Retry-After`.

Zendesk answers a client over its request budget with 429 Too Many Requests and a `Retry-After`
header in whole seconds; a well-behaved client waits that long. The sandbox does the same so the
connector's backoff is exercised against a real server, not a mock. `/health` is exempt: it is
how the process supervisor sees that the server is up.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["RateLimitMiddleware", "TokenBucket"]


class TokenBucket:
    """`rate` tokens per second, at most `capacity` saved up; one request takes one token."""

    def __init__(
        self, rate: float, capacity: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("a token bucket needs a positive rate and a capacity of at least 1")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = float(capacity)
        self._at = clock()

    def take(self) -> float | None:
        """Take a token: None when granted, else the seconds until one is available."""
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return None
        return (1 - self._tokens) / self.rate

    @property
    def remaining(self) -> int:
        return int(self._tokens)


class RateLimitMiddleware:
    """ASGI middleware: requests beyond the bucket get 429 and `Retry-After: <seconds>`."""

    def __init__(self, app: ASGIApp, bucket: TokenBucket, exempt: frozenset[str]) -> None:
        self.app = app
        self.bucket = bucket
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        wait = self.bucket.take()
        if wait is None:
            await self.app(scope, receive, send)
            return
        retry_after = max(1, math.ceil(wait))  # HTTP delay-seconds are whole seconds
        body = json.dumps(
            {
                "error": "TooManyRequests",
                "description": f"Rate limit exceeded. Retry after {retry_after} seconds.",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(retry_after).encode()),
                    (b"x-rate-limit", str(math.ceil(self.bucket.rate * 60)).encode()),
                    (b"x-rate-limit-remaining", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
